"""Shared steps of the Flink tests: run the job on the local mini-cluster over a file or Kafka."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest

from schemas import DeadLetter, Incident
from streams.kafka.settings import KafkaSettings
from tests.kafka.helpers import isolated
from tests.kafka_broker import unique

pytest.importorskip("pyflink")
from jobs.flink.job import CONNECTOR_LIB, FlinkJobConfig, collect, stop_with_savepoint, submit

__all__ = ["isolated", "needs_connector", "run_config", "run_file", "run_kafka", "stop_with_savepoint", "submit"]

needs_connector = pytest.mark.skipif(
    not any(CONNECTOR_LIB.glob("*.jar")), reason="no Kafka connector jar: run infra/flink/flink.sh fetch"
)


def run_file(rules: Iterable[Path], path: Path, **kw: object) -> tuple[list[Incident], Counter[str]]:
    """The job over a file, outputs collected: incident updates and dead letters by stage."""
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
    return FlinkJobConfig(rules=tuple(rules), bounded=True, group=unique("flink"), **kw)  # type: ignore[arg-type]


def run_kafka(settings: KafkaSettings, rules: Iterable[Path], **kw: object) -> None:
    """The job over the event topics up to their current end, outputs to Kafka (exactly-once)."""
    submit(run_config(rules, **kw), settings).get_job_execution_result().result()
