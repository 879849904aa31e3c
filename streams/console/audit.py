"""The console's audit log: append-only rows of who did what, when, to which incident, with what outcome.

Every row goes to a bounded in-memory tail (what `GET /api/audit` answers) and to the configured sinks: the
ClickHouse `audit` table (infra/clickhouse/006_audit.sql through the archive's migrations, `chdb://PATH` in
the demo: jobs/archive/audit.py) and, when live, the Kafka audit topic. Nothing here updates or deletes a row.
Writes go through a background thread so a slow archive never holds up a request."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

COLUMNS = ("time", "user", "role", "action", "incident_id", "outcome", "detail", "client")
TAIL_KEPT = 10_000


@dataclass(frozen=True)
class AuditRow:
    time: datetime
    user: str
    role: str
    action: str
    incident_id: str = ""
    outcome: str = "ok"
    detail: str = ""
    client: str = ""

    def as_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["time"] = self.time.isoformat().replace("+00:00", "Z")
        return doc


Sink = Callable[[list[AuditRow]], None]


class AuditLog:
    def __init__(self, sinks: list[Sink] | None = None, clock: Callable[[], datetime] | None = None):
        self.tail: deque[AuditRow] = deque(maxlen=TAIL_KEPT)
        self.sinks = sinks or []
        self.clock = clock or (lambda: datetime.now(UTC))
        self.errors = 0
        self._q: queue.Queue[AuditRow | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        if self.sinks:
            self._thread = threading.Thread(target=self._run, name="console-audit", daemon=True)
            self._thread.start()

    def append(self, user: str, role: str, action: str, incident_id: str = "", outcome: str = "ok",
               detail: str = "", client: str = "") -> AuditRow:  # fmt: skip
        row = AuditRow(self.clock(), user, role, action, incident_id, outcome, detail[:500], client)
        self.tail.append(row)
        if self._thread is not None:
            self._q.put(row)
        return row

    def query(self, user: str | None = None, incident: str | None = None, since: datetime | None = None,
              until: datetime | None = None, limit: int = 1000) -> list[AuditRow]:  # fmt: skip
        rows = [r for r in self.tail if matches(r, user, incident, since, until)]
        return rows[-limit:]

    def _run(self) -> None:
        while True:
            row = self._q.get()
            if row is None:
                return
            batch = [row]
            while len(batch) < 1000:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._write(batch)
                    return
                batch.append(nxt)
            self._write(batch)

    def _write(self, batch: list[AuditRow]) -> None:
        for sink in self.sinks:
            try:
                sink(batch)
            except Exception:  # an unreachable store must not stop the console; counted, kept in the tail
                self.errors += 1

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(timeout=30)
            self._thread = None


def matches(r: AuditRow, user: str | None, incident: str | None, since: datetime | None, until: datetime | None
            ) -> bool:  # fmt: skip
    return (
        (user is None or r.user == user)
        and (incident is None or r.incident_id == incident)
        and (since is None or r.time >= since)
        and (until is None or r.time < until)
    )


# --- Kafka ----------------------------------------------------------------------------------------------
def kafka_sink(producer: Any, topic: str) -> Sink:
    def sink(batch: list[AuditRow]) -> None:
        for r in batch:
            producer.produce(topic, key=r.user.encode(), value=orjson.dumps(r.as_json()))
        producer.flush(10)

    return sink
