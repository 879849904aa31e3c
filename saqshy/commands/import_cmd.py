from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from streams.importers import ImportResult


def _importer(name: str) -> Callable[[Path], ImportResult]:
    # Imported on use, so one importer's module never loads for another.
    if name == "sf-fire":
        from streams.importers.sf_fire import import_sf_fire

        return import_sf_fire
    if name == "nyc-collisions":
        from streams.importers.nyc_collisions import import_nyc_collisions

        return import_nyc_collisions
    from streams.importers.sf_police import import_sf_police

    return import_sf_police


@click.command("import")
@click.argument("kind", type=click.Choice(["sf-fire", "nyc-collisions", "sf-police"]))
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="The public data file (CSV) of KIND.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Events file (.jsonl or .jsonl.gz), sorted by event time.",
)
def import_(kind: str, input_path: Path, out: Path) -> None:
    """Turn a real public data file (KIND: sf-fire, nyc-collisions, sf-police) into contract events."""
    from streams.importers import ImportFormatError

    try:
        res = _importer(kind)(input_path)
    except ImportFormatError as exc:
        raise click.ClickException(str(exc)) from None
    n = res.write(out)
    table = Table(title=f"{kind}: {res.rows:,} rows -> {n:,} events")
    table.add_column("")
    table.add_column("count", justify="right")
    for etype, c in sorted(res.counts.items()):
        table.add_row(etype, f"{c:,}")
    for reason, c in sorted(res.skipped.items()):
        table.add_row(f"[yellow]skipped: {reason}", f"{c:,}")
    Console(stderr=True).print(table)
    click.echo(str(out))
