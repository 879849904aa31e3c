"""The operator console's audit log in ClickHouse (table `audit`, infra/clickhouse/006_audit.sql): the sink the
console writes through and the query `saqshy audit` reads with. Rows are only ever inserted."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from jobs.archive.dsn import connect, parse_dsn
from jobs.archive.migrate import migrate
from streams.console.audit import COLUMNS, AuditRow, Sink


def clickhouse_sink(dsn: str, database: str) -> Sink:
    """Migrates the archive (adds the audit table) and returns a sink that inserts into it."""
    client = connect(dsn)
    migrate(client, database, server=parse_dsn(dsn).is_server)
    lock = threading.Lock()

    def sink(batch: list[AuditRow]) -> None:
        with lock:
            client.insert(f"{database}.audit", [[getattr(r, c) for c in COLUMNS] for r in batch], COLUMNS)

    return sink


def query_clickhouse(client: Any, database: str, user: str | None = None, incident: str | None = None,
                     since: datetime | None = None, until: datetime | None = None, limit: int = 1000
                     ) -> list[AuditRow]:  # fmt: skip
    where: list[str] = []
    params: dict[str, Any] = {}
    for col, value, op in (("user", user, "="), ("incident_id", incident, "="), ("time", since, ">="),
                           ("time", until, "<")):  # fmt: skip
        if value is not None:
            name = f"p{len(params)}"
            kind = "DateTime64(3, 'UTC')" if col == "time" else "String"
            where.append(f"{col} {op} {{{name}:{kind}}}")
            params[name] = value
    sql = f"SELECT {', '.join(COLUMNS)} FROM {database}.audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY time, user LIMIT {int(limit)}"
    out = []
    for row in client.query(sql, parameters=params).result_rows:
        doc = dict(zip(COLUMNS, row, strict=True))
        t = doc["time"]
        doc["time"] = t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)
        out.append(AuditRow(**doc))
    return out
