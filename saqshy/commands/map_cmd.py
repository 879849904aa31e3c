"""`saqshy map`: the crime map from the archive, as a self-contained HTML page and a PNG."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import click

from saqshy.settings import archive_options, archive_settings


@click.command("map")
@archive_options
@click.option("--from", "from_", type=click.DateTime(["%Y-%m-%d"]), help="First local day [default: archive's first].")
@click.option("--to", "to", type=click.DateTime(["%Y-%m-%d"]), help="Last day, inclusive [default: archive's last].")
@click.option("--category", "categories", multiple=True, help="Only these categories (repeatable).")
@click.option("--region", help="Only this area: a district, city or region name of the admin path.")
@click.option(
    "--layer",
    type=click.Choice(["incident", "call.112", "accident.record", "sos.press"]),
    default="incident",
    show_default=True,
    help="Incidents Saqshy produced, or located calls / accidents / SOS presses as archived.",
)
@click.option(
    "--resolution",
    type=click.Choice(["6", "7", "8", "9"]),
    default="8",
    show_default=True,
    help="H3 resolution of the hexagons (6: ~36 km², 9: ~0.1 km²).",
)
@click.option(
    "--by",
    "by",
    type=click.Choice(["auto", "hour", "day"]),
    default="auto",
    help="Time slider step (auto: hours up to 3 days).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("build/crime-map.html"),
    show_default=True,
    help="The self-contained HTML page.",
)
@click.option(
    "--png", "png", type=click.Path(dir_okay=False, path_type=Path), help="PNG path [default: OUT with .png]."
)
@click.option("--title", default="Saqshy crime map", show_default=True, help="Title of the page and the PNG.")
@click.option(
    "--city",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="City directory (city.yaml, roads.geojson, districts.geojson): base layer and timezone, "
    "e.g. streams/sim/cities/alatau.",
)
@click.option("--timezone", help="IANA timezone of the slider, days and times [default: the city's, else UTC].")
def map_(
    dsn: str | None,
    database: str | None,
    from_: datetime | None,
    to: datetime | None,
    categories: tuple[str, ...],
    region: str | None,
    layer: str,
    resolution: str,
    by: str,
    out: Path,
    png: Path | None,
    title: str,
    city: Path | None,
    timezone: str | None,
) -> None:
    """Hexagon heat map (H3 cells) of incidents or located events over the city's districts and roads: counts on
    a fixed colour scale, a time slider in local time, a category filter, and the incidents of a cell on click."""
    from jobs.archive import ArchiveError
    from jobs.archive.dsn import connect
    from jobs.archive.migrate import require_schema
    from jobs.crimemap.base import CityBase, load_city
    from jobs.crimemap.query import MapQuery, archive_time_range, day_range, fetch
    from jobs.crimemap.render import write_html, write_png

    archive = archive_settings(dsn, database)
    database = archive.database
    try:
        base = load_city(city) if city is not None else CityBase()
        tz = timezone or base.timezone
        client = connect(archive.url)
        require_schema(client, database)
        start_d: date | None = from_.date() if from_ else None
        end_d: date | None = to.date() if to else None
        if start_d is None or end_d is None:
            span = archive_time_range(client, database, layer, tz if _known(tz) else "UTC")
            if span is None:
                raise ArchiveError(f"the archive has no {layer} on the map yet (run `saqshy replay --archive` first)")
            start_d, end_d = start_d or span[0], end_d or span[1]
        start, end = day_range(start_d, end_d, tz) if _known(tz) else day_range(start_d, end_d)
        bucket = by if by != "auto" else ("hour" if (end - start).days <= 3 else "day")
        query = MapQuery(start, end, layer, categories, region, int(resolution), bucket, tz)  # type: ignore[arg-type]
        data = fetch(client, query, database, items=True)
        client.close()
        data.roads = base.roads
        data.areas = data.areas or base.districts
        write_html(data, out, title)
        png_path = png or out.with_suffix(".png")
        write_png(data, png_path, title)
    except ArchiveError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"{data.total:,} {layer} in {len(data.cells):,} cells, {len(data.buckets)} {bucket}(s) ({tz}) "
        f"-> {out}, {png_path}"
    )


def _known(tz: str) -> bool:
    """MapQuery names a bad timezone with the project's words; day_range must not fail before it."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
