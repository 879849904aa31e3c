"""`saqshy archive`: Kafka event and incident topics -> ClickHouse, at least once, with bounded memory.

Offsets are committed only after the rows they cover are durable in ClickHouse (writer.flush() returned
True). When ClickHouse is down the batch stays in memory and is retried with backoff; once the buffer holds
`max_buffered` rows the assigned partitions are paused (the consumer stays in its group) until a flush lands.
A crash at any point replays from the last commit: the replacing keys and insert deduplication tokens make
the second write of a row invisible. Messages that are not valid events or incidents go to the dead-letter
topic with their topic/partition/offset and the reason; they count as handled.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from pydantic import ValidationError

from jobs.archive.metrics import ArchiveMetrics
from jobs.archive.writer import ArchiveWriter
from rules.records import RecordDecodeError, decode_record
from schemas import Incident, RejectStage, SourcePosition
from schemas.topics import DEAD_LETTERS, EVENT_TOPICS, INCIDENTS
from streams.dlq import dead_letter
from streams.kafka.settings import KafkaSettings

DEFAULT_GROUP = "saqshy-archive"


@dataclass
class ArchiverStats:
    messages: int = 0
    events: int = 0
    incidents: int = 0
    dead_letters: int = 0
    commits: int = 0
    paused: int = 0
    max_buffered: int = 0  # the most rows held in memory at once
    lag: dict[str, int] = field(default_factory=dict)  # "topic[partition]" -> messages behind

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "total_lag": self.total_lag}


class KafkaArchiver:
    def __init__(
        self,
        settings: KafkaSettings,
        writer: ArchiveWriter,
        *,
        group_id: str = DEFAULT_GROUP,
        flush_interval_s: float = 2.0,
        poll_batch: int = 5000,
        report: Callable[[ArchiverStats], None] | None = None,
        report_every_s: float = 10.0,
        shutdown_deadline_s: float = 30.0,
        metrics_port: int | None = None,
    ) -> None:
        self.settings = settings
        self.writer = writer
        self.flush_interval_s = flush_interval_s
        self.poll_batch = poll_batch
        self.shutdown_deadline_s = shutdown_deadline_s
        self.stats = ArchiverStats()
        self.metrics = writer.metrics = ArchiveMetrics(metrics_port)  # the writer's inserts count there too
        self._counted_in = (0, 0)  # (events, incidents) already added to rows_in
        self._report = report or (lambda s: print(f"archive: {s.as_dict()}", file=sys.stderr))
        self._report_every = report_every_s
        self.incident_topic = settings.topic(INCIDENTS)
        self.topics = sorted({settings.topic(t) for t in EVENT_TOPICS.values()} | {self.incident_topic})
        self.consumer = Consumer(settings.consumer_config(group_id))
        self.producer = Producer(settings.producer_config())
        self._pending: dict[tuple[str, int], int] = {}  # next offset to commit, per partition, once flushed
        self._paused: list[TopicPartition] = []
        self.running = True

    # --- one message ----------------------------------------------------------------------------------
    def handle(self, msg: Message) -> None:
        raw = msg.value() or b""
        topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        self.stats.messages += 1
        try:
            if topic == self.incident_topic:
                self.writer.add_incident(Incident.model_validate_json(raw))
                self.stats.incidents += 1
            else:
                self.writer.add_event(decode_record(raw))
                self.stats.events += 1
        except RecordDecodeError as exc:
            self._dead(raw, exc.stage, exc.reason, topic, partition, offset)
        except ValidationError as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            self._dead(raw, RejectStage.VALIDATE, f"not an incident: {reason}", topic, partition, offset)
        self._pending[(topic, partition)] = offset + 1

    def _dead(self, raw: bytes, stage: RejectStage, reason: str, topic: str, partition: int, offset: int) -> None:
        pos = SourcePosition(topic=topic, partition=partition, offset=offset)
        letter = dead_letter(raw, stage, f"archiver: {reason}", pos)
        self.producer.produce(self.settings.topic(DEAD_LETTERS), letter.model_dump_json(exclude_none=True).encode())
        self.stats.dead_letters += 1
        self.metrics.dead_letters.labels(stage.value).inc()

    # --- durability -----------------------------------------------------------------------------------
    def flush_and_commit(self, wait: bool = False, deadline_s: float | None = None) -> bool:
        """Insert what is buffered; on success commit exactly the offsets it covers."""
        if self.producer.flush(10) > 0:
            return False  # dead letters not delivered yet: their offsets must not be committed either
        if not self.writer.flush(wait=wait, deadline_s=deadline_s if wait else 0):
            return False
        if self._pending:
            offsets = [TopicPartition(t, p, o) for (t, p), o in sorted(self._pending.items())]
            self.consumer.commit(offsets=offsets, asynchronous=False)
            self.stats.commits += 1
            self.metrics.commits.inc()
            self._pending.clear()
        return True

    def update_lag(self) -> None:
        try:
            for tp in self.consumer.position(self.consumer.assignment()):
                high = self.consumer.get_watermark_offsets(tp, 1.0, cached=False)[1]
                pos = tp.offset if tp.offset >= 0 else 0
                self.stats.lag[f"{tp.topic}[{tp.partition}]"] = max(high - pos, 0)
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(high - pos, 0))
        except KafkaException:
            pass

    # --- the loop -------------------------------------------------------------------------------------
    def run(self, stop_after_s: float | None = None, idle_exit_s: float | None = None) -> ArchiverStats:
        """Consume until stopped (or after `stop_after_s`, or after `idle_exit_s` with no lag)."""
        self.consumer.subscribe(self.topics)
        started = last_flush = last_report = last_data = time.monotonic()
        delays = iter(self.writer.backoff.delays())
        try:
            while self.running:
                now = time.monotonic()
                if stop_after_s is not None and now - started > stop_after_s:
                    break
                room = self.writer.max_buffered - self.writer.buffered
                if room <= 0:
                    self._pause()  # ClickHouse is behind: stop fetching, stay in the group
                msgs = self.consumer.consume(max(1, min(self.poll_batch, room)), 0.5)
                for msg in msgs:
                    if msg.error() is None:
                        self.handle(msg)
                self.stats.max_buffered = max(self.stats.max_buffered, self.writer.buffered)
                self._count_in()
                if msgs:
                    last_data = now
                if self.writer.due or (now - last_flush >= self.flush_interval_s and self.writer.buffered):
                    if self.flush_and_commit():
                        last_flush = now
                        delays = iter(self.writer.backoff.delays())
                        self._resume()
                    else:
                        time.sleep(next(delays))
                elif not self.writer.buffered and self._pending:
                    self.flush_and_commit()  # only dead letters since the last commit
                if now - last_report >= self._report_every:
                    self.update_lag()
                    self._report(self.stats)
                    last_report = now
                if idle_exit_s is not None and not msgs and now - last_data > idle_exit_s and not self.writer.buffered:
                    self.update_lag()
                    if self.stats.total_lag == 0:
                        break
            # On shutdown, try for a while; what does not land is not committed and is read again next start.
            self.flush_and_commit(wait=True, deadline_s=self.shutdown_deadline_s)
        finally:
            self.update_lag()
            self.producer.flush(10)
            self.consumer.close()
        return self.stats

    def _count_in(self) -> None:
        """Rows taken in since the last call, once per poll: a labelled increment per message costs microseconds."""
        events, incidents = self.stats.events, self.stats.incidents
        seen_events, seen_incidents = self._counted_in
        if events > seen_events:
            self.metrics.rows_in.labels("events").inc(events - seen_events)
        if incidents > seen_incidents:
            self.metrics.rows_in.labels("incidents").inc(incidents - seen_incidents)
        self._counted_in = (events, incidents)
        self.metrics.buffered.set(self.writer.buffered)

    def _pause(self) -> None:
        if not self._paused:
            self._paused = list(self.consumer.assignment())
            self.consumer.pause(self._paused)
            self.stats.paused += 1

    def _resume(self) -> None:
        if self._paused:
            self.consumer.resume(self._paused)
            self._paused = []

    def stop(self) -> None:
        self.running = False
