"""A backlog of several topics: the event-time merge must not overflow, whatever order the consumer's fetch
queue delivers the topics in. The consumer's queue is FIFO across partitions and librdkafka prefetches a
partition in megabytes, so without flow control one topic's backlog arrives long before another's first
message, the merge overflows, and the other topic's events come out late (dead letters)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from schemas.topics import DEAD_LETTERS, EVENT_TOPICS
from streams.kafka.worker import STALL_PROBE, Worker, WorkerConfig
from streams.live import Output
from tests.golden.harness import CATALOG, scenarios
from tests.kafka.helpers import (
    dead_letter_stages,
    embedded_versions,
    incident_versions,
    isolated,
    produce,
    run_bounded,
    simulated,
)
from tests.kafka_broker import unique

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


def test_inputs_paused_by_flow_control_are_read_again_after_a_rebalance(kafka_bootstrap: str, tmp_path: Path) -> None:
    """librdkafka keeps a partition paused through its revocation and its next assignment. A worker that lost
    its partitions while flow control held some inputs (a broker restart: the session expires twice in a row)
    got them back paused for good, and its merge waited on them forever (make test's broker-restart chaos run
    found it). Here other members join the group and leave again while the worker works off a backlog through a
    small merge buffer, so rebalances revoke and reassign its partitions while inputs are paused; the run must
    still finish, with exactly the embedded runner's incidents."""
    lines = simulated(tmp_path, hours=2, seed=11)
    settings = isolated(kafka_bootstrap, partitions=1)
    produce(settings, [CATALOG], lines)
    config = WorkerConfig(rules=(CATALOG,), group=unique("g"), bounded=True, merge_buffer=2_000, bounded_stall=30.0)
    outputs: list[Output] = []
    worker = Worker(config, settings, outputs.append)
    paused_at_drop: list[int] = []
    drop = worker._drop

    def counting_drop(tps: list[TopicPartition]) -> None:
        paused_at_drop.append(len(worker.paused))
        drop(tps)

    worker._drop = counting_drop  # type: ignore[method-assign]
    done = threading.Event()

    def joiners() -> None:
        # members of the worker's group that subscribe to another topic: each join and each leave is a rebalance
        # that revokes and reassigns every partition of the worker (eager protocol), which keeps all of them
        other = settings.topic(DEAD_LETTERS)
        while not done.is_set():
            member = Consumer(settings.consumer_config(config.group, **{"partition.assignment.strategy": "range"}))
            member.subscribe([other])
            until = time.monotonic() + 4.0
            while time.monotonic() < until and not done.is_set():
                member.poll(0.2)
            member.close()
            done.wait(1.0)

    thread = threading.Thread(target=joiners, daemon=True)
    thread.start()
    try:
        worker.run(stop_after=240)
    finally:
        done.set()
        thread.join(10)

    assert any(n > 0 for n in paused_at_drop), f"no rebalance found an input paused: {paused_at_drop}"
    assert dead_letter_stages(settings).get("late", 0) == 0
    expected = embedded_versions([CATALOG], lines)
    assert set(incident_versions(settings)) == expected


def test_a_live_worker_whose_input_stays_unread_says_what_it_waits_for(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No stall is silent: an input left paused behind the worker's back (what librdkafka did to a partition
    given back after a loss) gets a warning naming it once nothing was processed for `bounded_stall` seconds,
    and a quiet stream (nothing to read) gets none."""
    settings = isolated(kafka_bootstrap, partitions=1)
    fire = next(s for s in scenarios() if s.name == "fire_camera_and_calls")
    produce(settings, [CATALOG], [line for line in fire.lines if b'"call.112"' not in line])
    config = WorkerConfig(rules=(CATALOG,), group=unique("g"), bounded_stall=3.0)
    worker = Worker(config, settings)
    thread = threading.Thread(target=worker.run, kwargs={"stop_after": 90}, daemon=True)
    caplog.set_level(logging.WARNING, logger="saqshy.worker")
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while worker.processed == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert worker.processed > 0
        time.sleep(3.0 + STALL_PROBE + 2)  # quiet: past the stall time and a probe
        assert not [r for r in caplog.records if "nothing processed" in r.getMessage()]

        calls = settings.topic(EVENT_TOPICS["call.112"])
        worker.consumer.pause([TopicPartition(calls, 0)])
        produce(settings, [CATALOG], [line for line in fire.lines if b'"call.112"' in line])
        deadline = time.monotonic() + 30
        said: list[str] = []
        while not said and time.monotonic() < deadline:
            said = [r.getMessage() for r in caplog.records if "nothing processed" in r.getMessage()]
            time.sleep(0.2)
        assert said, "no warning within 30 s"
        assert f"waiting for {calls}:0 processed to 0 of " in said[0]
        assert " events wait in the event-time merge, 0 inputs paused by flow control)" in said[0]
    finally:
        worker.stop()
        thread.join(30)
