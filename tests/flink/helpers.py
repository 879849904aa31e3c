"""Shared steps of the Flink tests: run the job on the local mini-cluster over a file or Kafka."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest

from rules.loader import load_rules
from saqshy.commands.kafka_cmd import live_context
from schemas import DeadLetter, Incident
from streams.embedded import ContextOptions, EmbeddedRunner
from streams.kafka.settings import KafkaSettings
from tests.kafka.helpers import isolated
from tests.kafka_broker import unique

pytest.importorskip("pyflink")
from jobs.flink.job import CONNECTOR_LIB, FlinkJobConfig, collect, stop_with_savepoint, submit

__all__ = [
    "CONTEXT",
    "embedded",
    "isolated",
    "needs_connector",
    "run_config",
    "run_file",
    "run_kafka",
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
    """Problems (empty if none): every update of the embedded runner, whole (enrichment included), once."""
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
