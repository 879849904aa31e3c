"""The output side of `saqshy rules backtest` (kept here so rules_cmd.py only registers the command)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.table import Table

from jobs.archive.errors import ArchiveError
from jobs.backtest.backtest import backtest, candidate_ids, candidate_ruleset
from jobs.crimemap.query import day_range
from rules.errors import RuleSetError


def run_backtest(
    paths: Sequence[Path], start: date, end: date, dsn: str, database: str, base: Path, as_json: bool
) -> None:
    from jobs.archive.dsn import connect
    from jobs.archive.migrate import require_schema

    try:
        ruleset = candidate_ruleset(paths, base)
    except RuleSetError as exc:
        for err in exc.errors:
            click.echo(str(err), err=True)
        sys.exit(1)
    ids = candidate_ids(paths)
    s, e = day_range(start, end)
    try:
        client = connect(dsn)
        require_schema(client, database)
        report = backtest(client, ruleset, ids, s, e, database)
        client.close()
    except ArchiveError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(orjson.dumps(report.as_dict()).decode())
        return
    console = Console(highlight=False)
    console.print(f"{report.events:,} archived events replayed in {report.seconds:.1f} s ({', '.join(ids)})")
    if report.rejected:
        console.print(f"[yellow]{report.rejected:,} archived events were not valid events and were skipped[/yellow]")
    t = Table("rule", "day", "backtest", "deployed", "diff", "same ids", title="incidents per rule and day")
    for r in report.rows:
        t.add_row(r.rule_id, r.day, str(r.backtest), str(r.archived), f"{r.diff:+d}", str(r.same_ids))
    for rule, (b, a) in sorted(report.totals().items()):
        t.add_row(f"[bold]{rule}[/bold]", "total", str(b), str(a), f"{b - a:+d}", "")
    console.print(t if report.rows else "no incidents from these rules, and none deployed, in the range")
