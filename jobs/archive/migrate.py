"""`saqshy db migrate`: ordered, idempotent SQL migrations with a migrations table.

Files infra/clickhouse/NNN_name.sql apply everywhere, infra/clickhouse/server/NNN_name.sql only on a server
(roles, grants and row policies: chDB has no users). `${db}` in a file is the database name. Each applied
migration is recorded with a checksum; a changed file that was already applied is an error, not a silent
re-run. Statements are written to be idempotent (IF NOT EXISTS, OR REPLACE), so a run interrupted half way
is simply run again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

from infra import resource
from jobs.archive.access import Scope, access_statements
from jobs.archive.errors import MigrationError

MIGRATIONS_DIR = resource("clickhouse")
TABLE = "schema_migrations"
_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_DB = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
ACCESS_NAME = "server/900_access (generated from scopes)"


@dataclass(frozen=True)
class Migration:
    name: str  # "001_events" or "server/001_..."
    sql: str
    server_only: bool

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self, db: str) -> list[str]:
        return split_statements(self.sql.replace("${db}", db))


@dataclass(frozen=True)
class Applied:
    name: str
    checksum: str
    skipped: bool = False  # already applied


def discover(root: Path = MIGRATIONS_DIR) -> list[Migration]:
    out: list[Migration] = []
    for sub, server in ((root, False), (root / "server", True)):
        if not sub.is_dir():
            continue
        files = sorted(p for p in sub.iterdir() if p.suffix == ".sql")
        for path in files:
            if not _FILE.match(path.name):
                raise MigrationError(f"{path}: migration files are named NNN_lowercase_name.sql")
            name = ("server/" if server else "") + path.stem
            out.append(Migration(name, path.read_text(encoding="utf-8"), server))
    numbers = [m.name for m in out]
    if len(set(numbers)) != len(numbers):
        raise MigrationError("duplicate migration names")
    return out


def split_statements(sql: str) -> list[str]:
    """Split on ';' outside quotes and comments; comment-only chunks are dropped."""
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(sql)
    quote: str | None = None
    while i < n:
        ch = sql[i]
        if quote:
            buf.append(ch)
            if ch == "\\" and i + 1 < n:
                buf.append(sql[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'`\"":
            quote = ch
            buf.append(ch)
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch == ";":
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    out.append("".join(buf))
    return [s.strip() for s in out if s.strip()]


def _ensure_table(client: Client, db: str) -> None:
    client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {db}.{TABLE} (name String, checksum String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY name"
    )


def require_schema(client: Client, db: str) -> None:
    """Jobs that read the archive call this first: a clear message instead of a missing-table error."""
    done = client.query(
        "SELECT count() FROM system.tables WHERE database = {d:String} AND name = {t:String}",
        parameters={"d": db, "t": TABLE},
    ).result_rows[0][0]
    if not done:
        raise MigrationError(f"database {db!r} has no archive schema here: run `saqshy db migrate` (or archive first)")


def applied(client: Client, db: str) -> dict[str, str]:
    _ensure_table(client, db)
    rows = client.query(f"SELECT name, checksum FROM {db}.{TABLE} FINAL").result_rows
    return {str(name): str(checksum) for name, checksum in rows}


def check_h3(client: Client) -> None:
    """The map needs geoToH3(lat, lon, res); servers before 25.x read (lon, lat) and would mirror the map."""
    row = client.query("SELECT h3ToGeo(geoToH3(43.2, 76.9, 7)) AS p").result_rows[0][0]
    lat = row["latitude"] if isinstance(row, dict) else row[0]
    if abs(float(lat) - 43.2) > 0.1:
        raise MigrationError(
            "this ClickHouse reads geoToH3 as (lon, lat): set geotoh3_argument_order = 'lat_lon' or use >= 25.5"
        )


def migrate(
    client: Client,
    db: str,
    *,
    server: bool,
    scopes: list[Scope] | None = None,
    root: Path = MIGRATIONS_DIR,
) -> list[Applied]:
    """Apply what is missing, in order; returns every migration with whether it ran now or before."""
    if not _DB.match(db):
        raise MigrationError(f"database name {db!r} is not a plain identifier")
    check_h3(client)
    done = applied(client, db)
    out: list[Applied] = []
    for mig in pending_plan(root, server):
        out.append(_apply(client, db, mig, done))
    if server:
        cols = [str(r[0]) for r in client.query(f"DESCRIBE TABLE {db}.incidents").result_rows]
        sql = ";\n".join(access_statements(db, scopes or [], cols)) + ";\n"
        out.append(_apply(client, db, Migration(ACCESS_NAME, sql, True), done, replaceable=True))
    return out


def pending_plan(root: Path, server: bool) -> Iterator[Migration]:
    for mig in discover(root):
        if mig.server_only and not server:
            continue
        yield mig


def _apply(client: Client, db: str, mig: Migration, done: dict[str, str], replaceable: bool = False) -> Applied:
    if mig.name in done:
        if done[mig.name] == mig.checksum:
            return Applied(mig.name, mig.checksum, skipped=True)
        if not replaceable:
            raise MigrationError(
                f"migration {mig.name} changed after it was applied (checksum {done[mig.name]} -> "
                f"{mig.checksum}); add a new migration instead of editing an applied one"
            )
    for stmt in mig.statements(db):
        try:
            client.command(stmt)
        except Exception as exc:
            first = stmt.splitlines()[0][:120]
            raise MigrationError(f"migration {mig.name} failed at `{first}`: {str(exc).splitlines()[0][:400]}") from exc
    client.insert(f"{db}.{TABLE}", [[mig.name, mig.checksum]], column_names=["name", "checksum"])
    return Applied(mig.name, mig.checksum)
