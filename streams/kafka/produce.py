"""Replay event lines (simulator output, imported real data) into the event topics.

Each line goes to the topic of its type, keyed by the partition plan (spatial cell or the single key), with
its event time as the Kafka timestamp; spatial plans also send replicas to the neighbouring cells (header
saqshy-replica: 1), and unit GPS fixes, marked observed (header saqshy-observed: 1), to every partition that
holds neither the fix nor a replica of it (schemas/partitioning.py). Lines whose type cannot be read go to the
unsorted topic, where the worker dead-letters them with the reason: the producer judges nothing, it only routes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from schemas.partitioning import OBSERVED_HEADER, OBSERVED_TYPES, PARTITIONER, REPLICA_HEADER, key_partition
from schemas.topics import EVENT_TOPICS
from streams.kafka.settings import KafkaSettings
from streams.kafka.topics import UNSORTED
from streams.partitioning import PartitionPlan

log = logging.getLogger("saqshy.produce")
DAY_MS = 24 * 3600 * 1000
Headers = list[tuple[str, str | bytes | None]]
REPLICA: Headers = [(REPLICA_HEADER, b"1")]
OBSERVED: Headers = [(OBSERVED_HEADER, b"1")]
__all__ = [
    "OBSERVED", "OBSERVED_HEADER", "REPLICA", "REPLICA_HEADER", "EventProducer", "Routed", "copies", "partition_count",
    "route",
]  # fmt: skip


class ProduceError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Routed:
    topic: str
    key: bytes | None
    timestamp_ms: int | None
    replica_keys: tuple[bytes, ...] = ()
    everywhere: bool = False  # also observed on every other partition (a unit fix under a spatial plan)


Copy = tuple[bytes | None, int | None, Headers | None]  # (key, explicit partition or None, headers)


def partition_count(client: Producer, topic: str) -> int:
    """How many partitions `topic` has (observed copies go to each); ProduceError when it is not there."""
    meta = client.list_topics(topic, timeout=10).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        raise ProduceError(f"topic {topic} is not there to copy unit fixes to (saqshy topics apply)")
    return len(meta.partitions)


def copies(routed: Routed, partitions: int | None = None) -> list[Copy]:
    """The messages of one routed event: the event under its key, a replica under each neighbour's key, and, when
    `everywhere`, an observed copy on each of the topic's `partitions` that has neither."""
    out: list[Copy] = [(routed.key, None, None)]
    out += [(k, None, REPLICA) for k in routed.replica_keys]
    if routed.everywhere and partitions:
        have = {key_partition(k, partitions) for k, _, _ in out if k is not None}
        out += [(routed.key, p, OBSERVED) for p in range(partitions) if p not in have]
    return out


def parse_topic_map(text: str | None) -> dict[str, str]:
    """`type=topic,type=topic` over the defaults of schemas.topics."""
    out = dict(EVENT_TOPICS)
    for part in (text or "").split(","):
        if not part.strip():
            continue
        etype, sep, topic = part.partition("=")
        if not sep or not etype.strip() or not topic.strip():
            raise ProduceError(f"topic map entry {part!r} is not TYPE=TOPIC")
        out[etype.strip()] = topic.strip()
    return out


def route(raw: bytes, plan: PartitionPlan, topics: Mapping[str, str]) -> Routed:
    try:
        doc = orjson.loads(raw)
        etype = doc["type"]
        topic = topics[etype]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return Routed(UNSORTED, None, None)
    ts_ms: int | None = None
    with contextlib.suppress(KeyError, TypeError, ValueError, OverflowError):  # the worker will say what is wrong
        ts_ms = int(datetime.fromisoformat(doc["time"]).timestamp() * 1000)
    loc = doc.get("location")
    lat = lon = None
    if isinstance(loc, dict):
        lat, lon = loc.get("lat"), loc.get("lon")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            lat = lon = None
    eid = doc.get("id")
    key = plan.key(lat, lon, eid if isinstance(eid, str) else raw[:64].decode("utf-8", "replace"))
    everywhere = plan.mode == "spatial" and etype in OBSERVED_TYPES
    return Routed(topic, key, ts_ms, tuple(plan.replica_keys(lat, lon)), everywhere)


@dataclass
class ProduceStats:
    lines: int = 0
    messages: int = 0
    replicas: int = 0
    observed: int = 0  # observed copies of unit fixes (spatial plans)
    unsorted: int = 0
    failed: int = 0
    seconds: float = 0.0
    per_topic: dict[str, int] = field(default_factory=dict)


ORDER_SLICE_S = 30.0  # the rules' default max_out_of_orderness: a backlog's topics never drift further apart


class EventProducer:
    """Routes event lines to their topics and keys. Kafka keeps order within a partition only: a backlog produced
    in bulk (or one held back by a slow or cut link) goes out in batches per partition, and a busy topic's batch
    can cover minutes less event time than a quiet topic's, so the logs disagree by more than the rules' allowed
    lateness and a worker's event-time merge rightly drops the stragglers as late. `order_slice` (seconds of event
    time) bounds that: every message of one slice is delivered before the next slice is produced."""

    def __init__(
        self,
        settings: KafkaSettings,
        plan: PartitionPlan,
        topics: Mapping[str, str] | None = None,
        order_slice: float | None = ORDER_SLICE_S,
    ):
        self.settings = settings
        self._slice_ms = None if not order_slice else int(order_slice * 1000)
        self._slice_start: int | None = None
        self.barriers = 0
        self.plan = plan
        self.topics = dict(topics or EVENT_TOPICS)
        self.producer = Producer(settings.producer_config(partitioner=PARTITIONER))
        self._partitions: dict[str, int] = {}  # topic -> partition count, for observed copies
        self.stats = ProduceStats()
        self.errors: list[str] = []
        self._retention: dict[str, int] | None = None  # topic -> retention.ms, asked at the first old record
        self._judged: set[str] = set()  # topics whose old records were compared with their retention
        self._old_before = time.time() * 1000 - DAY_MS  # event times before this are history

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.stats.failed += 1
            if len(self.errors) < 20:
                self.errors.append(f"{msg.topic()}: {err.str()}")

    def _send(
        self, topic: str, raw: bytes, key: bytes | None, ts: int | None, headers: Headers | None, partition: int = -1
    ) -> None:
        while True:
            try:
                self.producer.produce(
                    topic, raw, key, partition, timestamp=ts or 0, headers=headers, on_delivery=self._on_delivery
                )
                return
            except BufferError:  # the local queue is full: let deliveries drain
                self.producer.poll(0.05)

    def _expiring(self, topic: str, ts_ms: int) -> None:
        """Records older than their topic's time retention are deleted at the broker's next retention check (the
        first ~30 s after it starts, then every 5 minutes), read or not; a bounded worker then fails, a live one
        silently skips them (issue 23: the benchmark's backlog went that way). Said once per topic."""
        self._judged.add(topic)
        with contextlib.suppress(Exception):  # a warning only: never in the way of producing
            if self._retention is None:
                admin = AdminClient(self.settings.admin_config())
                names = sorted({self.settings.topic(t) for t in self.topics.values()} | {self.settings.topic(UNSORTED)})
                futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, n) for n in names])
                self._retention = {res.name: int(fut.result(10)["retention.ms"].value) for res, fut in futures.items()}
            retention = self._retention.get(topic, -1)
            if 0 <= retention < time.time() * 1000 - ts_ms:
                log.warning(
                    "records for %s are stamped %s, older than its retention.ms=%d: the broker deletes them within "
                    "minutes, read or not; replay history into topics with retention.ms=-1",
                    topic,
                    datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="seconds"),
                    retention,
                )

    def send(self, raw: bytes) -> Routed:
        raw = raw.rstrip(b"\r\n")
        routed = route(raw, self.plan, self.topics)
        topic = self.settings.topic(routed.topic)
        ts = routed.timestamp_ms
        if ts is not None:
            if ts < self._old_before and topic not in self._judged:
                self._expiring(topic, ts)
            if self._slice_ms is not None:
                self._order(ts)
        sent = copies(routed, self._partition_count(topic) if routed.everywhere else None)
        for key, partition, headers in sent:
            self._send(topic, raw, key, routed.timestamp_ms, headers, -1 if partition is None else partition)
        stats = self.stats
        stats.lines += 1
        stats.messages += len(sent)
        stats.replicas += len(routed.replica_keys)
        stats.observed += len(sent) - 1 - len(routed.replica_keys)
        stats.unsorted += routed.topic == UNSORTED
        stats.per_topic[routed.topic] = stats.per_topic.get(routed.topic, 0) + 1
        return routed

    def _partition_count(self, topic: str) -> int:
        count = self._partitions.get(topic)
        if count is None:
            count = self._partitions[topic] = partition_count(self.producer, topic)
        return count

    def _order(self, ts: int) -> None:
        """A barrier when event time leaves the current slice (earlier times, unsorted input, never open one)."""
        start = self._slice_start
        if start is None:
            self._slice_start = ts
        elif ts - start > self._slice_ms:  # type: ignore[operator]
            self.flush()
            self.barriers += 1
            self._slice_start = ts

    def run(self, lines: Iterable[bytes], rate: float = 0.0) -> ProduceStats:
        """`rate` lines per second (0: as fast as possible)."""
        started = time.perf_counter()
        for i, raw in enumerate(lines):
            if not raw.strip():
                continue
            self.send(raw)
            if rate > 0:
                ahead = started + (i + 1) / rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
            if i % 1000 == 0:
                self.producer.poll(0)
        self.flush()
        self.stats.seconds = time.perf_counter() - started
        return self.stats

    def flush(self, timeout: float = 60.0) -> None:
        left = self.producer.flush(timeout)
        if left:
            raise ProduceError(f"{left} messages not delivered after {timeout:.0f} s")
        if self.stats.failed:
            raise ProduceError(f"{self.stats.failed} messages failed: " + "; ".join(self.errors[:5]))
