from __future__ import annotations

from pathlib import Path

import click

from schemas.export import export_json_schemas


@click.group("schemas")
def schemas() -> None:
    """The event contract."""


@schemas.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export(directory: Path) -> None:
    """Write one JSON Schema per event type, the incident and the dead letter into DIRECTORY."""
    for path in export_json_schemas(directory):
        click.echo(path)
