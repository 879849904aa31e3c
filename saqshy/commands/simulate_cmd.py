from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from streams.sim.city import CITIES
from streams.sim.generator import SimConfig, default_truth_path
from streams.sim.generator import simulate as run_simulation


def _aware(value: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time, e.g. 2026-11-22T00:00:00+05:00", param_hint="'--start'"
        ) from None
    if dt.tzinfo is None:
        raise click.BadParameter("needs an explicit UTC offset, e.g. 2026-11-22T00:00:00+05:00", param_hint="'--start'")
    return dt


def _city_dir(city: str) -> Path:
    """A directory as given, else a city shipped with the package (streams/sim/cities/NAME)."""
    path = Path(city)
    if path.is_dir():
        return path
    packaged = CITIES / city
    if "/" not in city and packaged.is_dir():
        return packaged
    known = ", ".join(sorted(p.name for p in CITIES.iterdir() if p.is_dir()))
    raise click.BadParameter(f"{city!r} is neither a directory nor a packaged city ({known})", param_hint="--city")


@click.command("simulate")
@click.option(
    "--city",
    "city",
    default="alatau",
    show_default=True,
    help="A packaged city by name, or a city directory (city.yaml, districts.geojson, zones.geojson).",
)
@click.option("--hours", type=click.FloatRange(min=0.01), default=24.0, show_default=True, help="Length of the stream.")
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Random seed: the same seed gives the same stream."
)
@click.option("--start", default="2026-11-22T00:00:00+05:00", show_default=True, help="ISO 8601 with offset.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Events file (.jsonl or .jsonl.gz).",
)
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Ground truth file [default: OUT with suffix .truth.jsonl].",
)
@click.option(
    "--rate-scale",
    type=click.FloatRange(min=0.0),
    default=1.0,
    show_default=True,
    help="Multiply background rates (planted incidents are unchanged).",
)
def simulate(city: str, hours: float, seed: int, start: str, out: Path, truth: Path | None, rate_scale: float) -> None:
    """Generate a simulated city stream with planted incidents and their ground truth."""
    city_dir = _city_dir(city)
    cfg = SimConfig(city_dir=city_dir, hours=hours, seed=seed, start=_aware(start), rate_scale=rate_scale)
    truth_path = truth or default_truth_path(out)
    t0 = time.perf_counter()
    result = run_simulation(cfg, out, truth_path)
    elapsed = time.perf_counter() - t0
    table = Table(title=f"Simulated {hours:g} h of {city_dir.name} (seed {seed})")
    table.add_column("event type")
    table.add_column("events", justify="right")
    table.add_column("per hour", justify="right")
    for kind, n in result.counts.items():
        table.add_row(kind, f"{n:,}", f"{n / hours:,.0f}")
    table.add_row(
        "[bold]all (with reference and duplicates)",
        f"[bold]{result.events:,}",
        f"{result.events / hours:,.0f}",
    )
    console = Console(stderr=True)
    console.print(table)
    by_rule: dict[str, int] = {}
    for item in result.truth:
        by_rule[item.rule_id] = by_rule.get(item.rule_id, 0) + 1
    truth_table = Table(title="Planted incidents")
    truth_table.add_column("rule")
    truth_table.add_column("planted", justify="right")
    for rule, n in sorted(by_rule.items()):
        truth_table.add_row(rule, str(n))
    console.print(truth_table)
    console.print(
        f"{result.late:,} delivered late, {result.duplicates:,} duplicated; "
        f"{elapsed:.1f} s ({result.events / max(elapsed, 1e-9):,.0f} events/s)\n-> {out}\n-> {truth_path}"
    )
