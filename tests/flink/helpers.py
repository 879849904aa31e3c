"""Shared steps of the Flink tests: run the job on the local mini-cluster over a file or Kafka."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from rules.loader import load_rules
from saqshy.commands.kafka_cmd import live_context
from schemas import DeadLetter, Incident, fold_latest
from schemas.topics import INCIDENTS_LATEST
from streams.embedded import ContextOptions, EmbeddedRunner
from streams.kafka.settings import KafkaSettings
from tests.kafka.helpers import isolated
from tests.kafka_broker import unique

pytest.importorskip("pyflink")
from jobs.flink.job import CONNECTOR_LIB, FlinkJobConfig, collect, stop_with_savepoint, submit

__all__ = [
    "CONTEXT",
    "embedded",
    "final",
    "isolated",
    "latest_topic",
    "needs_connector",
    "run_config",
    "run_file",
    "run_kafka",
    "same_final",
    "same_updates",
    "stop_with_savepoint",
    "submit",
]

# `saqshy flink run` enriches by default, as `saqshy worker` does: the tests run with the same context
CONTEXT = live_context(True, None, None, None)

needs_connector = pytest.mark.skipif(
    not any(CONNECTOR_LIB.glob("*.jar")), reason="no Kafka connector jar: run infra/flink/flink.sh fetch"
)


def run_file(rules: Iterable[Path], path: Path, **kw: object) -> tuple[list[Incident], Counter[str]]:
    """The job over a file, outputs collected: incident updates and dead letters by stage."""
    kw.setdefault("context", CONTEXT)
    config = FlinkJobConfig(rules=tuple(rules), input=path, **kw)  # type: ignore[arg-type]
    updates: list[Incident] = []
    stages: Counter[str] = Counter()
    for kind, _, value in collect(config):
        if kind == "incident":
            updates.append(Incident.model_validate_json(value))
        elif kind == "dlq":
            stages[DeadLetter.model_validate_json(value).stage.value] += 1
    return updates, stages


def run_config(rules: Iterable[Path], **kw: object) -> FlinkJobConfig:
    """A bounded job with a group (and transactional ids) of its own."""
    kw.setdefault("context", CONTEXT)
    return FlinkJobConfig(rules=tuple(rules), bounded=True, group=unique("flink"), **kw)  # type: ignore[arg-type]


def run_kafka(settings: KafkaSettings, rules: Iterable[Path], **kw: object) -> None:
    """The job over the event topics up to their current end, outputs to Kafka (exactly-once)."""
    submit(run_config(rules, **kw), settings).get_job_execution_result().result()


def embedded(rules: Iterable[Path], lines: list[bytes], context: ContextOptions | None = CONTEXT) -> list[Incident]:
    """The embedded runner's incident updates with the same context as the job."""
    out: list[Incident] = []
    EmbeddedRunner(load_rules(list(rules)), context=context).run(lines, out.append)
    return out


def same_updates(got: Iterable[Incident], expected: Iterable[Incident]) -> list[str]:
    """Problems (empty if none): every update of the embedded runner, whole (enrichment included), once. For
    runs that see the events in the embedded runner's order: the same versions, corrections included."""
    want = {(u.id, u.version): u.model_dump(mode="json") for u in expected}
    have: dict[tuple[str, int], object] = {}
    problems = []
    for u in got:
        if (u.id, u.version) in have:
            problems.append(f"{u.id} v{u.version} twice")
        have[(u.id, u.version)] = u.model_dump(mode="json")
    for k in sorted(want.keys() | have.keys()):
        if want.get(k) != have.get(k):
            problems.append(f"{k[0]} v{k[1]}: {have.get(k)} != the embedded runner's {want.get(k)}")
    return problems


def final(updates: Iterable[Incident], context: bool = True) -> dict[str, dict[str, object]]:
    """What a consumer keeps (schemas.fold_latest: the highest version per id, retracted ids dropped), whole but
    for the version number (a correction takes the next free number, so it counts the versions sent before,
    which depend on the arrival order: docs/semantics.md, 7) and, unless `context`, the enrichment (rules.context
    enriches each version as it is sent, with the history seen so far: it follows the arrival order)."""
    latest: dict[str, Incident] = {}
    for u in updates:
        fold_latest(latest, u)
    drop = {"version"} if context else {"version", "context"}
    return {i: u.model_dump(mode="json", exclude=drop) for i, u in latest.items()}


def same_final(got: Iterable[Incident], expected: Iterable[Incident], context: bool = False) -> list[str]:
    """Problems (empty if none): the incidents a consumer keeps of `got` are those it keeps of `expected`
    (enrichment compared only with `context`: for runs that see the events in the same order)."""
    have, want = final(got, context), final(expected, context)
    problems = []
    for i in sorted(want.keys() | have.keys()):
        if i not in have:
            problems.append(f"{i} missing: the embedded runner's {want[i]}")
        elif i not in want:
            problems.append(f"{i} ({have[i]['rule_id']}) the embedded runner does not keep: {have[i]}")
        elif have[i] != want[i]:
            diff = {k: (have[i].get(k), want[i].get(k)) for k in have[i].keys() | want[i].keys()}
            shown = {k: v for k, v in diff.items() if v[0] != v[1]}
            problems.append(f"{i} (got, embedded): {shown}")
    return problems


def latest_topic(settings: KafkaSettings, timeout: float = 60.0) -> dict[str, bytes]:
    """What compaction leaves of saqshy.incidents.latest: the last record of each key, keys whose last record is
    a tombstone (a retracted incident) dropped. Read to the end offsets, committed records only."""
    consumer = Consumer(settings.consumer_config(unique("latest"), **{"isolation.level": "read_committed"}))
    name = settings.topic(INCIDENTS_LATEST)
    kept: dict[str, bytes | None] = {}
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        tps = [TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, 10)[1] for tp in tps}
        consumer.assign(tps)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.2):
                key = msg.key()
                if msg.error() is None and key is not None:
                    kept[key.decode()] = msg.value()  # a key is in one partition: offset order is its order
            positions = consumer.position([TopicPartition(name, p) for p in partitions if ends[p] > 0])
            if all(tp.offset >= ends[tp.partition] for tp in positions):
                break  # the end (transaction markers take offsets too: positions, not the last offset read)
    finally:
        consumer.close()
    return {k: v for k, v in kept.items() if v is not None}
