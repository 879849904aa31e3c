"""Shared steps of the Kafka tests: isolated topics per test (a unique prefix), produce, run, read back."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from rules.loader import load_rules
from schemas import DeadLetter, Incident, fold_latest
from schemas.topics import DEAD_LETTERS, INCIDENTS
from streams.dlq import MemoryDeadLetters
from streams.embedded import EmbeddedRunner
from streams.kafka.faust_worker import FaustWorker
from streams.kafka.produce import EventProducer
from streams.kafka.settings import KafkaSettings
from streams.kafka.topics import apply, keep_history, load_spec
from streams.kafka.worker import Worker, WorkerConfig
from streams.live import Output
from streams.partitioning import Mode, plan_for
from tests.kafka_broker import unique

ROOT = Path(__file__).resolve().parents[2]


def simulated(tmp: Path, hours: int, seed: int) -> list[bytes]:
    """The event lines of `hours` of the Alatau simulator (written under tmp)."""
    out = tmp / "events.jsonl"
    subprocess.run(
        [sys.executable, "-m", "saqshy", "simulate", "--city", str(ROOT / "streams/sim/cities/alatau"),
         "--hours", str(hours), "--seed", str(seed), "--out", str(out), "--truth", str(tmp / "truth.jsonl")],
        check=True, capture_output=True,
    )  # fmt: skip
    return [line for line in out.read_bytes().splitlines() if line.strip()]


def isolated(bootstrap: str, partitions: int = 3) -> KafkaSettings:
    """Topics of their own, kept forever: records carry their event time, and the test scenarios' times lie
    further back than the spec's 7-day retention, which the broker would apply to them within seconds."""
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=unique("t") + ".")
    apply(settings, keep_history(load_spec(partitions=partitions)))
    return settings


def produce(settings: KafkaSettings, rules: Iterable[Path], lines: Iterable[bytes], mode: Mode = "single") -> None:
    producer = EventProducer(settings, plan_for(load_rules(list(rules)), mode))
    producer.run(lines)


def run_bounded(
    settings: KafkaSettings, rules: Iterable[Path], mode: Mode = "single", engine: str = "confluent", **kw: object
) -> list[Output]:
    """Run a worker (`engine`: confluent or faust) until it has processed what the topics hold now; WorkerError
    when it cannot (stalled, input deleted before it was read, not done in 120 s)."""
    outputs: list[Output] = []
    config = WorkerConfig(rules=tuple(rules), group=unique("g"), partitioning=mode, bounded=True, **kw)  # type: ignore[arg-type]
    if engine == "faust":
        FaustWorker(config, settings, outputs.append).run(stop_after=120)
    else:
        Worker(config, settings, outputs.append).run(stop_after=120)
    return outputs


def read_topic(settings: KafkaSettings, topic: str, idle: float = 3.0, timeout: float = 60.0) -> list[bytes]:
    """Every committed record of the topic, read to its end offsets (no group join to wait for: a loaded machine
    made a subscription's assignment outlast the idle time, and the read came back empty). Tombstones (records
    without a value) are left out; `read_keyed` has them."""
    return [value for _, value in read_keyed(settings, topic, idle, timeout) if value is not None]


def read_keyed(
    settings: KafkaSettings, topic: str, idle: float = 3.0, timeout: float = 60.0
) -> list[tuple[bytes | None, bytes | None]]:
    """Every committed record of the topic as (key, value), tombstones (value None) included, partition by
    partition in offset order."""
    consumer = Consumer(settings.consumer_config(unique("reader"), **{"isolation.level": "read_committed"}))
    name = settings.topic(topic)
    out: list[tuple[bytes | None, bytes | None]] = []
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        tps = [TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, 10)[1] for tp in tps}
        consumer.assign(tps)
        start = last = time.monotonic()
        while time.monotonic() - start < timeout:
            for msg in consumer.consume(1000, 0.2):
                if msg.error() is None:
                    out.append((msg.key(), msg.value()))  # type: ignore[arg-type]
                    last = time.monotonic()
            positions = consumer.position([TopicPartition(name, p) for p in partitions if ends[p] > 0])
            if all(tp.offset >= ends[tp.partition] for tp in positions):
                break  # the end (transaction markers take offsets too, so positions, not the last offset read)
            if time.monotonic() - last >= idle * 5:
                break  # an open transaction that will not commit
    finally:
        consumer.close()
    return out


def end_offsets(settings: KafkaSettings, topic: str) -> int:
    """The sum of the topic's partition end offsets. Records written in transactions leave a commit marker after
    each transaction, which takes an offset no consumer ever reads: more offsets than records means transactions."""
    consumer = Consumer(settings.consumer_config(unique("ends")))
    name = settings.topic(topic)
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(name, p), 10)[1] for p in partitions)
    finally:
        consumer.close()


def dead_letter_stages(settings: KafkaSettings) -> Counter[str]:
    return Counter(DeadLetter.model_validate_json(v).stage.value for v in read_topic(settings, DEAD_LETTERS))


def embedded_versions(rules: Iterable[Path], lines: Iterable[bytes]) -> set[tuple[str, int]]:
    """Every (incident id, version) the embedded runner gives on these lines: what a bounded run must produce."""
    updates: list[Incident] = []
    EmbeddedRunner(load_rules(list(rules)), MemoryDeadLetters()).run(lines, updates.append)
    return {(u.id, u.version) for u in updates}


def incident_versions(settings: KafkaSettings) -> list[tuple[str, int]]:
    """Every (incident id, version) committed to the incidents topic, duplicates kept."""
    return [(u.id, u.version) for u in (Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS))]


# --- arrival order ------------------------------------------------------------------------------------------


def _event_time(doc: dict[str, object]) -> float:
    return datetime.fromisoformat(str(doc["time"]).replace("Z", "+00:00")).timestamp()


def canonical(lines: Iterable[bytes]) -> list[bytes]:
    """Reference records first (in their order: tables, read whole before the events on Kafka), then every event
    once (the first line of each id), in canonical order: event time, then id (docs/semantics.md, section 1)."""
    reference: list[bytes] = []
    events: dict[str, tuple[float, str, bytes]] = {}
    for raw in lines:
        doc = orjson.loads(raw)
        if str(doc["type"]).startswith("ref."):
            reference.append(raw)
        else:
            events.setdefault(doc["id"], (_event_time(doc), doc["id"], raw))
    return reference + [raw for _, _, raw in sorted(events.values(), key=lambda e: (e[0], e[1]))]


def shuffled_within(
    lines: Iterable[bytes], bound: float, seed: int, duplicates: float = 0.01, delays: Mapping[str, float] = {}
) -> list[bytes]:
    """The lines in an arrival order in which no event comes after an event more than `bound` seconds newer than
    it: each event arrives at its time plus a delay in [0, bound], random (so ties and near ties come in any
    order) or the one `delays` gives its id (such an event comes after the random ones arriving at the same
    instant, the more delayed the later); a fraction `duplicates` of the events comes a second time, at another
    random delay. Reference records stay first, in their order."""
    rng = random.Random(seed)
    reference: list[bytes] = []
    arrivals: list[tuple[float, float, bytes]] = []
    for raw in lines:
        doc = orjson.loads(raw)
        if str(doc["type"]).startswith("ref."):
            reference.append(raw)
            continue
        t = _event_time(doc)
        delay = delays.get(str(doc["id"]))
        if delay is not None:
            assert 0.0 <= delay <= bound
            arrivals.append((t + delay, 1.0 + delay / bound, raw))
            continue
        arrivals.append((t + rng.uniform(0.0, bound), rng.random(), raw))
        if rng.random() < duplicates:
            arrivals.append((t + rng.uniform(0.0, bound), rng.random(), raw))
    return reference + [raw for _, _, raw in sorted(arrivals, key=lambda a: (a[0], a[1]))]


def final_incidents(updates: Iterable[Incident]) -> dict[str, Incident]:
    """What a consumer keeps of these updates (schemas.fold_latest), each with version 0: the number of versions
    sent depends on the arrival order (corrections and retractions add some), what they say does not."""
    kept: dict[str, Incident] = {}
    for u in updates:
        fold_latest(kept, u)
    return {k: u.model_copy(update={"version": 0}) for k, u in kept.items()}


def embedded_updates(rules: Iterable[Path], lines: Iterable[bytes]) -> list[Incident]:
    """Every incident update the embedded runner sends on these lines, in order."""
    updates: list[Incident] = []
    EmbeddedRunner(load_rules(list(rules)), MemoryDeadLetters()).run(lines, updates.append)
    return updates


def incident_updates(settings: KafkaSettings) -> list[Incident]:
    """Every incident update committed to the incidents topic."""
    return [Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS)]
