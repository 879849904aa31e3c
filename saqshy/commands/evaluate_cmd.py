from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from streams.evaluate import RuleScore, p95, read_incidents
from streams.evaluate import evaluate as score
from streams.sim.truth import read_truth


def _fmt(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:.0%}" if pct else f"{x:.0f}"


def _row(table: Table, r: RuleScore, bold: bool = False) -> None:
    cells = [
        r.rule_id,
        str(r.tp),
        str(r.fp),
        str(r.fn),
        _fmt(r.precision, True),
        _fmt(r.recall, True),
        _fmt(r.ttd_mean),
        _fmt(p95(r.ttd)),
    ]
    table.add_row(*(f"[bold]{c}" if bold else c for c in cells))


@click.command("evaluate")
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    multiple=True,
    help="Ground truth of the simulation (`saqshy simulate` writes OUT.truth.jsonl); repeat to add more "
    "(`saqshy replay --dispatch-truth`).",
)
@click.option(
    "--incidents",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="Incident updates as JSON lines (`saqshy replay --out`).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def evaluate(truth: tuple[Path, ...], incidents: Path, as_json: bool) -> None:
    """Score incidents against a simulation's ground truth: TP/FP/FN, precision, recall, time to detect."""
    result = score([t for path in truth for t in read_truth(path)], read_incidents(incidents))
    if as_json:
        click.echo(json.dumps(result.as_dict(), sort_keys=True))
        return
    table = Table(title="Incidents vs ground truth")
    for col in ("rule", "TP", "FP", "FN", "precision", "recall", "TTD mean s", "TTD p95 s"):
        table.add_column(col, justify="left" if col == "rule" else "right", no_wrap=True)
    for r in result.rules:
        _row(table, r)
    _row(table, result.totals, bold=True)
    Console(width=max(100, Console().width)).print(table)
    if result.unplanted:
        click.echo(
            "not planted by the simulator (no ground truth): "
            + ", ".join(f"{r} {n}" for r, n in result.unplanted.items())
        )
