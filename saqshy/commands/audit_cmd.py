"""`saqshy audit`: read the operator console's audit log from the archive (ClickHouse table `audit`)."""

from __future__ import annotations

from datetime import datetime

import click
import orjson

from saqshy.commands.options import aware_time
from saqshy.settings import archive_options, archive_settings


def _time(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    return None if value is None else aware_time(value)


@click.command("audit")
@archive_options
@click.option("--user", default=None, help="Only this user's rows.")
@click.option("--incident", default=None, help="Only rows about this incident id.")
@click.option("--since", default=None, callback=_time, help="From this time (ISO 8601 with an offset), inclusive.")
@click.option("--until", default=None, callback=_time, help="Up to this time, exclusive.")
@click.option(
    "--limit", type=click.IntRange(1, 1_000_000), default=1000, show_default=True, help="At most this many rows."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
def audit(
    dsn: str | None,
    database: str | None,
    user: str | None,
    incident: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """Print the console's audit rows (logins, actions, views of clear phones), oldest first."""
    from jobs.archive import ArchiveError
    from jobs.archive.audit import query_clickhouse
    from jobs.archive.dsn import connect
    from jobs.archive.migrate import require_schema

    archive = archive_settings(dsn, database)
    try:
        client = connect(archive.url)
        require_schema(client, archive.database)
        has = client.query(
            "SELECT count() FROM system.tables WHERE database = {d:String} AND name = 'audit'",
            parameters={"d": archive.database},
        ).result_rows[0][0]
        if not has:
            raise click.ClickException(f"no audit table in {archive.database!r}: run `saqshy db migrate`")
        rows = query_clickhouse(client, archive.database, user, incident, since, until, limit)
    except ArchiveError as exc:
        raise click.ClickException(str(exc)) from None
    for r in rows:
        if as_json:
            click.echo(orjson.dumps(r.as_json()).decode())
        else:
            t = r.time.strftime("%Y-%m-%d %H:%M:%S")
            inc = f" {r.incident_id}" if r.incident_id else ""
            detail = f"  {r.detail}" if r.detail else ""
            click.echo(f"{t}  {r.user} ({r.role or '-'})  {r.action}{inc}  {r.outcome}{detail}")
    if not as_json:
        click.echo(f"{len(rows)} rows", err=True)
