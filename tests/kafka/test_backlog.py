"""A backlog of several topics: the event-time merge must not overflow, whatever order the consumer's fetch
queue delivers the topics in. The consumer's queue is FIFO across partitions and librdkafka prefetches a
partition in megabytes, so without flow control one topic's backlog arrives long before another's first
message, the merge overflows, and the other topic's events come out late (dead letters)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden.harness import CATALOG
from tests.kafka.helpers import (
    dead_letter_stages,
    embedded_versions,
    incident_versions,
    isolated,
    produce,
    run_bounded,
    simulated,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_a_backlog_through_a_small_merge_buffer_loses_no_event_to_lateness(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    lines = simulated(tmp_path, hours=1, seed=5)
    assert len(lines) > 20_000  # several fetches of every topic: far more than the merge may hold
    settings = isolated(kafka_bootstrap, partitions=1)
    produce(settings, [CATALOG], lines)

    run_bounded(settings, [CATALOG], merge_buffer=2_000)  # pauses an input at 100 waiting messages

    stages = dead_letter_stages(settings)
    assert stages.get("late", 0) == 0, stages
    expected = embedded_versions([CATALOG], lines)
    assert len(expected) > 10
    assert set(incident_versions(settings)) == expected
