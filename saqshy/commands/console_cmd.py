"""`saqshy console`: the operator console (streams/console, docs/console.md) on a replayed file or live on
Kafka; `saqshy console hash-password` and `saqshy console user add` write the users file."""

from __future__ import annotations

from pathlib import Path

import click

from rules.units import parse_duration
from saqshy.commands.options import rules_option
from saqshy.settings import DSN


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group("console", invoke_without_command=True)
@rules_option
@click.option(
    "--replay",
    "replay_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run the embedded runner in-process over this events file (.jsonl or .jsonl.gz).",
)
@click.option(
    "--speed", type=float, default=60.0, show_default=True, help="Replay at this many times event time (0: at once)."
)
@click.option("--bootstrap", help="Run live on Kafka: bootstrap.servers, HOST:PORT[,HOST:PORT...].")
@click.option(
    "--users",
    "users_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Users file (YAML: name, role, scopes, password_hash).",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (keep it local behind a proxy)."
)
@click.option("--port", type=int, default=8765, show_default=True, help="TCP port to listen on.")
@click.option("--session-ttl", default="8h", show_default=True, callback=_duration, help="Sessions expire after this.")
@click.option(
    "--roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Units roster (.csv/.yaml) for the replay's unit recommendations.",
)
@click.option(
    "--warning-devices",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="GeoJSON of information boards and loudspeakers (alert channels, and the map's devices layer).",
)
@click.option(
    "--roads",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="GeoJSON of the city's roads (LineStrings) drawn under the incidents (the simulated city has roads.geojson).",
)
@click.option(
    "--audit",
    "audit_dsn",
    type=DSN,
    default=None,
    help="Also write the audit log to ClickHouse: chdb://PATH or http(s)://host:8123 (table `audit`).",
)
@click.option("--audit-database", default="saqshy", show_default=True, help="ClickHouse database of the audit table.")
@click.option("--tile-url", default=None, help="An optional raster tile URL template for the map's background.")
@click.option("--partitioning", type=click.Choice(["spatial", "single"]), default="single", show_default=True,
              help="Live: the workers' partition plan, to key the actions like `saqshy produce` does.")  # fmt: skip
@click.pass_context
def console(
    ctx: click.Context,
    rule_paths: tuple[Path, ...],
    replay_path: Path | None,
    speed: float,
    bootstrap: str | None,
    users_path: Path | None,
    host: str,
    port: int,
    session_ttl: float,
    roster: Path | None,
    warning_devices: Path | None,
    roads: Path | None,
    audit_dsn: str | None,
    audit_database: str,
    tile_url: str | None,
    partitioning: str,
) -> None:
    """Serve the operator console: a live map and incident desk whose actions go back into the engine."""
    if ctx.invoked_subcommand is not None:
        return
    if (replay_path is None) == (bootstrap is None):
        raise click.UsageError("give exactly one of --replay FILE or --bootstrap HOST:PORT")
    if users_path is None:
        raise click.UsageError("--users FILE is required (see `saqshy console user add`)")
    if speed < 0:
        raise click.BadParameter("must be >= 0", param_hint="--speed")
    import uvicorn

    from rules.alerts import AlertError
    from rules.context import ContextError
    from saqshy.commands.replay_cmd import build_context
    from streams.console.app import create_app
    from streams.console.users import UsersError, load_users

    try:
        users = load_users(users_path)
    except UsersError as exc:
        raise click.ClickException(str(exc)) from None
    sinks = []
    if audit_dsn:
        from jobs.archive import ArchiveError
        from jobs.archive.audit import clickhouse_sink

        try:
            sinks.append(clickhouse_sink(audit_dsn, audit_database))
        except ArchiveError as exc:
            raise click.ClickException(f"audit: {exc}") from None
    if replay_path is not None:
        from streams.console.wiring import file_lines, replay_console

        try:
            context = build_context(True, (), "1970-01-01T00:00:00Z", None, warning_devices, roster)
        except (ContextError, AlertError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        app_console = replay_console(
            users,
            file_lines(replay_path),
            rule_paths=rule_paths,
            context=context,
            devices=warning_devices,
            speed=speed,
            session_ttl_s=session_ttl,
            audit_sinks=sinks,
            source_name=str(replay_path),
        )
    else:
        from saqshy.kafka_access import KafkaAccessError, check_access
        from streams.console.wiring import live_console
        from streams.kafka.settings import KafkaSettings

        try:
            check_access(KafkaSettings.from_env(bootstrap_servers=bootstrap))
        except KafkaAccessError as exc:
            raise click.ClickException(str(exc)) from None
        app_console = live_console(
            users,
            bootstrap or "",
            rule_paths=rule_paths,
            partitioning=partitioning,
            devices=warning_devices,
            session_ttl_s=session_ttl,
            audit_sinks=sinks,
        )
    app_console.tile_url = tile_url
    if roads is not None:
        from streams.console.layers import load_devices

        app_console.board.roads = load_devices(roads)
    click.echo(f"console on http://{host}:{port}/ ({len(users)} users)", err=True)
    uvicorn.run(create_app(app_console), host=host, port=port, log_level="warning")


@console.command("hash-password")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Prompted when not given.")
def hash_password_cmd(password: str) -> None:
    """Print the argon2 hash of a password (for the users file's password_hash)."""
    from streams.console.users import hash_password

    click.echo(hash_password(password))


@console.group("user")
def user() -> None:
    """Manage the users file."""


@user.command("add")
@click.option(
    "--users",
    "users_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The users file (created when missing).",
)
@click.option("--name", required=True, help="Login name (letters, digits, _ . @ -).")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["operator", "supervisor", "analyst", "admin"]),
    help="What the user may do (docs/console.md).",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="An admin-path prefix, levels joined by '/': 'Kazakhstan' or 'Kazakhstan/Alatau/Alatau/Medeu district'.",
)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Prompted when not given.")
def user_add(users_path: Path, name: str, role: str, scopes: tuple[str, ...], password: str) -> None:
    """Add a user to the file (or replace the one of that name)."""
    from pydantic import ValidationError

    from streams.console.users import User, UsersError, add_user, hash_password

    try:
        u = User(name=name, role=role, scopes=[s.split("/") for s in scopes], password_hash=hash_password(password))  # type: ignore[arg-type]
        add_user(users_path, u)
    except (UsersError, ValidationError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None
    click.echo(f"{name} ({role}) written to {users_path}", err=True)
