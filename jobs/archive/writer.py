"""The archive writer: batches of events and incidents into ClickHouse, at least once, never twice.

* Idempotent: every table has a replacing key (event id, incident id + version, link, reference key), and
  each batch is inserted with a deduplication token derived from its contents, so a batch retried after a
  timeout whose first attempt did land is dropped by ClickHouse itself (materialized views included).
* ClickHouse down: a failed flush keeps the batch; `flush(wait=True)` retries with exponential backoff
  until it lands or the deadline passes. The buffer is bounded (`max_buffered`): `full` tells a consumer
  to stop reading, so memory stays bounded and nothing is dropped.
* The caller learns what is durable from `flush()` returning True, and only then commits its input
  positions (Kafka offsets): see jobs.archive.consumer.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clickhouse_connect.driver.client import Client

from jobs.archive.errors import ArchiveError, ArchiveUnavailable
from jobs.archive.rows import (
    EVENT_COLUMNS,
    INCIDENT_COLUMNS,
    LINK_COLUMNS,
    REF_TABLES,
    REF_TRAILER,
    Pseudonymiser,
    event_columns_grouped,
    group_records,
    incident_row,
    link_rows,
    ref_row,
)
from rules.privacy import PrivacySettings
from schemas import Incident

if TYPE_CHECKING:  # prometheus_client comes with the kafka extra, which the archiver service has
    from jobs.archive.metrics import ArchiveMetrics

INSERT_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1, "async_insert": 0}


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 0.2
    max_s: float = 10.0
    factor: float = 2.0

    def delays(self) -> Iterable[float]:
        d = self.initial_s
        while True:
            yield d
            d = min(self.max_s, d * self.factor)


@dataclass
class WriterStats:
    events: int = 0
    incidents: int = 0
    links: int = 0
    reference: int = 0
    batches: int = 0
    failures: int = 0
    last_error: str = ""
    insert_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Batch:
    events: list[Any] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.events) + len(self.incidents)

    def token(self) -> str:
        """Same contents, same token: a retried batch is recognised by ClickHouse's insert deduplication."""
        h = hashlib.blake2b(digest_size=16)
        h.update("\0".join([rec.id for rec in self.events]).encode())
        h.update(b"\1")
        h.update("\0".join([f"{inc.id}@{inc.version}" for inc in self.incidents]).encode())
        return h.hexdigest()


class ArchiveWriter:
    def __init__(
        self,
        connect: Callable[[], Client],
        database: str = "saqshy",
        *,
        privacy: PrivacySettings | None = None,
        batch_size: int = 50_000,
        max_buffered: int = 500_000,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] | None = None,
        metrics: ArchiveMetrics | None = None,
    ) -> None:
        if batch_size < 1 or max_buffered < batch_size:
            raise ArchiveError("need 1 <= batch_size <= max_buffered")
        self._connect = connect
        self.db = database
        self.pseudo = Pseudonymiser(privacy or PrivacySettings.from_env())
        self.batch_size = batch_size
        self.max_buffered = max_buffered
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        self._log = log or (lambda msg: print(msg, file=sys.stderr))
        self._client: Client | None = None
        self._pending = _Batch()
        self.stats = WriterStats()
        self.metrics = metrics
        self._rows: dict[str, int] = {}  # rows per table of the batch being inserted, counted once it lands

    # --- input ----------------------------------------------------------------------------------------
    def add_event(self, rec: Any) -> None:
        self._pending.events.append(rec)

    def add_events(self, recs: Iterable[Any]) -> None:
        self._pending.events.extend(recs)

    def add_incident(self, inc: Incident) -> None:
        self._pending.incidents.append(inc)

    @property
    def buffered(self) -> int:
        return len(self._pending)

    @property
    def full(self) -> bool:
        """True when the caller must stop reading until a flush succeeds (bounded memory, no loss)."""
        return len(self._pending) >= self.max_buffered

    @property
    def due(self) -> bool:
        return len(self._pending) >= self.batch_size

    # --- output ---------------------------------------------------------------------------------------
    def client(self) -> Client:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def flush(self, wait: bool = False, deadline_s: float | None = None) -> bool:
        """Insert everything buffered. True when it is durable; False (batch kept) when ClickHouse failed
        and `wait` is off or the deadline passed."""
        if not self._pending:
            return True
        started = time.monotonic()
        delays = iter(self.backoff.delays())
        while True:
            try:
                self._insert(self._pending)
            except ArchiveUnavailable as exc:
                self.stats.failures += 1
                if self.metrics is not None:
                    self.metrics.insert_failures.inc()
                self.stats.last_error = str(exc)
                self._client = None  # reconnect next time: the old client may be broken
                if not wait:
                    return False
                delay = next(delays)
                if deadline_s is not None and time.monotonic() - started + delay > deadline_s:
                    return False
                self._log(f"archive: {exc}; retrying in {delay:.1f}s ({self.buffered} rows kept)")
                if self.metrics is not None:
                    self.metrics.insert_retries.inc()
                self._sleep(delay)
                continue
            self._pending = _Batch()
            return True

    def close(self, deadline_s: float | None = 60.0) -> None:
        ok = self.flush(wait=True, deadline_s=deadline_s)
        client, self._client = self._client, None
        if client is not None:
            client.close()
        if not ok:
            raise ArchiveUnavailable(f"{self.buffered} rows could not be archived: {self.stats.last_error}")

    def _insert(self, batch: _Batch) -> None:
        token = batch.token()
        t0 = time.perf_counter()
        self._rows = {}
        try:
            client = self.client()
            if batch.events:
                self._insert_events(client, batch.events, token)
            if batch.incidents:
                rows = [incident_row(inc, self.pseudo) for inc in batch.incidents]
                self._put(client, "incidents", rows, INCIDENT_COLUMNS, token)
                links = [row for inc in batch.incidents for row in link_rows(inc)]
                self._put(client, "incident_events", links, LINK_COLUMNS, token)
        except ArchiveError:
            raise
        except Exception as exc:  # network, server, chDB engine errors: all mean "not archived now"
            raise ArchiveUnavailable(f"insert into {self.db} failed: {_first_line(exc)}") from exc
        seconds = time.perf_counter() - t0
        self.stats.insert_seconds += seconds
        if self.metrics is not None:
            self.metrics.insert_seconds.observe(seconds)
            for table, n in self._rows.items():
                self.metrics.rows_out.labels(table).inc(n)
        self.stats.batches += 1
        self.stats.events += len(batch.events)
        self.stats.incidents += len(batch.incidents)
        self.stats.links += sum(len(inc.event_ids) for inc in batch.incidents)

    def _insert_events(self, client: Client, events: list[Any], token: str) -> None:
        groups = group_records(events)
        columns = event_columns_grouped(groups, self.pseudo)
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": f"{token}:events"}
        client.insert(
            f"{self.db}.events", columns, column_names=list(EVENT_COLUMNS), column_oriented=True, settings=settings
        )
        self._rows["events"] = len(events)
        refs: dict[str, list[list[Any]]] = {}
        for (_, etype), recs in groups.items():
            if etype in REF_TABLES:
                for rec in recs:
                    table, row = ref_row(rec)
                    refs.setdefault(table, []).append(row)
        for table, cols in REF_TABLES.values():
            if table in refs:
                self._put(client, table, refs[table], (*cols, *REF_TRAILER), token)
                self.stats.reference += len(refs[table])

    def _put(self, client: Client, table: str, rows: list[list[Any]], cols: tuple[str, ...], token: str) -> None:
        if not rows:
            return
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": f"{token}:{table}"}
        client.insert(f"{self.db}.{table}", rows, column_names=list(cols), settings=settings)
        self._rows[table] = self._rows.get(table, 0) + len(rows)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
