"""`saqshy db migrate|status|access-sql`: the archive's schema."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from infra import resource
from saqshy.settings import archive_options, archive_settings

DEFAULT_SCOPES = resource("clickhouse", "scopes.yaml")


@click.group("db")
def db() -> None:
    """The ClickHouse archive: apply migrations, show what is applied, print the access SQL."""


def _dsn_option(f: click.decorators.FC) -> click.decorators.FC:
    return archive_options(f)


@db.command("migrate")
@_dsn_option
@click.option(
    "--scopes",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Access scopes (row policies) for a server [default: the packaged infra/clickhouse/scopes.yaml].",
)
def migrate_cmd(dsn: str | None, database: str | None, scopes: Path | None) -> None:
    """Apply the migrations in infra/clickhouse that are not applied yet (idempotent)."""
    archive = archive_settings(dsn, database)
    dsn, database = archive.url, archive.database
    from jobs.archive import ArchiveError
    from jobs.archive.access import load_scopes
    from jobs.archive.dsn import connect, parse_dsn
    from jobs.archive.migrate import migrate

    try:
        server = parse_dsn(dsn).is_server
        path = scopes or (DEFAULT_SCOPES if DEFAULT_SCOPES.exists() else None)
        scope_list = load_scopes(path) if (server and path) else []
        client = connect(dsn)
        try:
            done = migrate(client, database, server=server, scopes=scope_list)
        finally:
            client.close()
    except ArchiveError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for m in done:
        click.echo(f"{'applied ' if not m.skipped else 'ok      '} {m.name}  {m.checksum}")
    if not server:
        click.echo("embedded chDB: roles and row policies are server-only and were not applied")


@db.command("status")
@_dsn_option
def status_cmd(dsn: str | None, database: str | None) -> None:
    """Applied migrations and row counts of the archive tables."""
    archive = archive_settings(dsn, database)
    dsn, database = archive.url, archive.database
    from jobs.archive import ArchiveError
    from jobs.archive.dsn import connect
    from jobs.archive.migrate import applied

    try:
        client = connect(dsn)
        done = applied(client, database)
        rows = client.query(
            "SELECT name, total_rows FROM system.tables WHERE database = {db:String} AND total_rows IS NOT NULL "
            "ORDER BY name",
            parameters={"db": database},
        ).result_rows
        client.close()
    except ArchiveError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for name, checksum in sorted(done.items()):
        click.echo(f"migration {name}  {checksum}")
    for name, n in rows:
        click.echo(f"table {name}: {n:,} rows")


@db.command("access-sql")
@click.option("--database", default="saqshy", show_default=True, help="ClickHouse database the SQL is for.")
@click.option(
    "--scopes",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_SCOPES,
    show_default="the packaged infra/clickhouse/scopes.yaml",
    help="Access scopes YAML: roles and the row policies of each.",
)
def access_sql(database: str, scopes: Path) -> None:
    """Print the roles, grants and row policies a server gets (for review; `migrate` applies them)."""
    from jobs.archive.access import access_statements, load_scopes
    from jobs.archive.rows import INCIDENT_COLUMNS

    for stmt in access_statements(database, load_scopes(scopes), INCIDENT_COLUMNS):
        click.echo(stmt + ";")
