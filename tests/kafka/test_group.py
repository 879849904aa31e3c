"""Two workers of one group share the partitions of a spatially partitioned city and together emit exactly
the embedded runner's incidents: every incident once, merges across cell borders (and workers) included.

The events are produced while the workers run, so they use one topic (112 calls): across topics, live
arrival order is the network's, and only a bounded replay is guaranteed the embedded runner's order.

The later tests rebalance the group while events flow (a worker joins, then the first one leaves; each
rebalance revokes partitions that hold processed but uncommitted work), the last one with a commit on revocation
that fails."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from faust.exceptions import ConsumerNotStarted

from rules.loader import load_rules
from schemas import Incident
from schemas.topics import EVENT_TOPICS, INCIDENTS
from streams.embedded import EmbeddedRunner
from streams.kafka.faust_worker import FaustWorker
from streams.kafka.produce import EventProducer
from streams.kafka.worker import INPUT_TOPICS, Worker, WorkerConfig
from streams.partitioning import plan_for
from tests.kafka.helpers import isolated, read_topic
from tests.kafka_broker import unique
from tests.support import catalog_subset
from tests.unit.test_spatial_exact import T0, _iso, _stream

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
PARTITIONS = 4


def _assigned(worker: Any) -> set[int]:
    if isinstance(worker, Worker):
        return set(worker.parts)
    consumer = worker.app._consumer  # None until the Faust app has started
    if consumer is None:
        return set()
    try:
        assignment = consumer.assignment()
    except ConsumerNotStarted:  # created, its thread not running yet
        return set()
    return {tp.partition for tp in assignment if tp.topic in worker.inputs}


def _flush(partition: int) -> bytes:
    """An information call a day later: it matches no rule here but moves its partition's event time past
    every window and timer, as the end of a bounded run would."""
    body = {
        "id": f"flush-{partition}",
        "type": "call.112",
        "source": "test",
        "time": _iso(T0 + 86_400),
        "data": {"call_id": f"flush-{partition}", "category": "info"},
        "location": {"lat": 10.0, "lon": 10.0},
    }
    return orjson.dumps(body)


def _city(tmp_path: Path, bootstrap: str) -> tuple[Path, Any, list[bytes], Any]:
    """The rule, its spatial plan, the 112 calls of three clusters, and topics of their own."""
    root = catalog_subset(tmp_path, ["calls/mass_incident.yaml"])
    plan = plan_for(load_rules([root]), "spatial")
    lines = [line for line in _stream(3, plan.cell_m, 500) if b'"call.112"' in line]
    return root, plan, lines, isolated(bootstrap, partitions=PARTITIONS)


def _config(root: Path, group: str, i: int) -> WorkerConfig:
    # No idle advance: it is driven by the wall clock (a partition with nothing to read for 5 s takes the
    # others' newest event time), so a producer stalled that long on a loaded machine could make a
    # partition's later calls late. These tests are about sharing partitions; the flush calls move every
    # partition's event time instead, and tests/kafka/test_idle.py covers the idle advance.
    return WorkerConfig(
        rules=(root,), group=group, instance_id=f"w{i}", partitioning="spatial", snapshot_interval=1.0,
        idle_after=None,
    )  # fmt: skip


def _send_flushes(settings: Any) -> list[bytes]:
    flushes = [_flush(p) for p in range(PARTITIONS)]
    producer = Producer(settings.producer_config())
    for p, raw in enumerate(flushes):
        producer.produce(settings.topic(EVENT_TOPICS["call.112"]), raw, partition=p)
    assert producer.flush(30) == 0
    return flushes


def _wait_assigned(worker: Any, partitions: set[int], deadline: float) -> None:
    while _assigned(worker) != partitions:
        assert time.monotonic() < deadline, f"{partitions} never assigned"
        time.sleep(0.2)


def _assert_as_embedded(root: Path, lines: list[bytes], got: list[Incident]) -> set[tuple[str, int, tuple[str, ...]]]:
    """Every incident version of the embedded runner on the same lines once, none other; returns them."""
    expected: list[Incident] = []
    EmbeddedRunner(load_rules([root])).run(lines, expected.append)
    want = {(u.id, u.version, tuple(u.event_ids)) for u in expected}
    have = [(u.id, u.version, tuple(u.event_ids)) for u in got]
    assert len(have) == len(set(have)), "an incident version was emitted twice"
    assert set(have) == want
    return want


@pytest.mark.parametrize("engine", ["confluent", "faust"])
def test_two_workers_share_a_spatial_city_and_find_every_incident_once(
    kafka_bootstrap: str, tmp_path: Path, engine: str
) -> None:
    root, plan, lines, settings = _city(tmp_path, kafka_bootstrap)
    group = unique("group")
    workers: list[Any] = []
    threads = []
    for i in range(2):
        config = _config(root, group, i)
        w = FaustWorker(config, settings) if engine == "faust" else Worker(config, settings)
        workers.append(w)
        threads.append(threading.Thread(target=w.run, kwargs={"stop_after": 120.0}, daemon=True))
        threads[-1].start()
    try:
        deadline = time.monotonic() + 60
        while not all(_assigned(w) for w in workers) or set().union(*map(_assigned, workers)) != set(range(PARTITIONS)):
            assert time.monotonic() < deadline, "the two workers never shared the partitions"
            time.sleep(0.2)
        shares = [_assigned(w) for w in workers]
        assert not shares[0] & shares[1]

        EventProducer(settings, plan).run(lines)
        flushes = _send_flushes(settings)
        got = _settle(settings, group, deadline + 60)
        assert all(w.processed > 0 for w in workers), "both workers must have done part of the work"
    finally:
        for w in workers:
            w.stop()
        for t in threads:
            t.join(30)

    want = _assert_as_embedded(root, [*lines, *flushes], got)
    assert any(v > 1 for _, v, _ in want)


def _settle(settings: Any, group: str, deadline: float) -> list[Incident]:
    """The committed incident versions, once the group has committed every input partition to its end: outputs
    are committed with the offsets that produced them, so nothing more can come. (A quiet spell is no sign: a
    worker that restores four partitions on a loaded machine pauses for seconds, and a 5 s wait for new versions
    read the topic while the new owner had processed a fifth of the input.)"""
    tps = [TopicPartition(settings.topic(t), p) for t in INPUT_TOPICS for p in range(PARTITIONS)]
    consumer = Consumer(settings.consumer_config(group))
    try:
        ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
        while True:
            with contextlib.suppress(KafkaException):  # the group's offsets are briefly held mid-rebalance
                committed = [max(tp.offset, 0) for tp in consumer.committed(tps, timeout=10)]
                if all(c >= e for c, e in zip(committed, ends, strict=True)):
                    break
            assert time.monotonic() < deadline, "the workers did not process every input to its end"
            time.sleep(0.5)
    finally:
        consumer.close()
    return [Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS, idle=1.0)]


@pytest.mark.parametrize("engine", ["confluent", "faust"])
def test_a_worker_joining_and_one_leaving_mid_stream_lose_and_repeat_nothing(
    kafka_bootstrap: str, tmp_path: Path, engine: str
) -> None:
    """w0 runs alone; w1 joins after a third of the calls, w0 stops (as on SIGTERM) after two thirds, and w1
    finishes: every incident version of the embedded runner once, none other."""
    root, plan, lines, settings = _city(tmp_path, kafka_bootstrap)
    group = unique("group")
    workers: list[Any] = []
    threads: list[threading.Thread] = []

    def start(i: int) -> None:
        config = _config(root, group, i)
        w = FaustWorker(config, settings) if engine == "faust" else Worker(config, settings)
        workers.append(w)
        threads.append(threading.Thread(target=w.run, kwargs={"stop_after": 150.0}, daemon=True))
        threads[-1].start()

    start(0)
    try:
        _wait_assigned(workers[0], set(range(PARTITIONS)), time.monotonic() + 60)
        producer = EventProducer(settings, plan)
        third = len(lines) // 3
        for k, chunk in enumerate([lines[:third], lines[third : 2 * third], lines[2 * third :]]):
            producer.run(chunk[: len(chunk) // 2])
            time.sleep(0.5)  # the workers process and hold uncommitted work when the group rebalances
            if k == 0:
                start(1)
            elif k == 1:
                workers[0].stop()
            producer.run(chunk[len(chunk) // 2 :])
        threads[0].join(60)
        assert not threads[0].is_alive(), "w0 did not stop"
        _wait_assigned(workers[1], set(range(PARTITIONS)), time.monotonic() + 60)
        flushes = _send_flushes(settings)
        got = _settle(settings, group, time.monotonic() + 120)
        assert all(w.processed > 0 for w in workers), "both workers must have done part of the work"
    finally:
        for w in workers:
            w.stop()
        for t in threads:
            t.join(30)

    want = _assert_as_embedded(root, [*lines, *flushes], got)
    assert any(v > 1 for _, v, _ in want)


class _CommitFailsOnRevocation(FaustWorker):
    """A Faust worker whose first commit on a revocation fails (as when the broker goes away mid-rebalance)."""

    revoking = False
    failed = 0

    async def _on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        self.revoking = True
        try:
            await super()._on_revoked(sender, *args, signal=signal, **kwargs)
        finally:
            self.revoking = False

    async def _commit_partition(self, p: int) -> None:
        if self.revoking and not self.failed:
            self.failed += 1
            raise RuntimeError("injected: the commit on revocation failed")
        await super()._commit_partition(p)


def test_a_faust_commit_that_fails_on_revocation_is_aborted_and_redone_by_the_next_owner(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    root, plan, lines, settings = _city(tmp_path, kafka_bootstrap)
    group = unique("group")
    workers: list[Any] = [_CommitFailsOnRevocation(_config(root, group, 0), settings)]
    workers.append(FaustWorker(_config(root, group, 1), settings))
    threads = [threading.Thread(target=w.run, kwargs={"stop_after": 150.0}, daemon=True) for w in workers]
    threads[0].start()
    try:
        _wait_assigned(workers[0], set(range(PARTITIONS)), time.monotonic() + 60)
        producer = EventProducer(settings, plan)
        half = len(lines) // 2
        producer.run(lines[:half])
        time.sleep(0.5)
        threads[1].start()  # the rebalance: w0's first commit on revocation fails
        producer.run(lines[half:])
        deadline = time.monotonic() + 60
        while not _assigned(workers[1]):  # the rebalance has happened (before the end of the input is committed)
            assert time.monotonic() < deadline, "the second worker never joined"
            time.sleep(0.2)
        flushes = _send_flushes(settings)
        got = _settle(settings, group, time.monotonic() + 150)
        assert workers[0].failed == 1, "no commit on revocation was made to fail"
    finally:
        for w in workers:
            w.stop()
        for t in threads:
            t.join(30)

    _assert_as_embedded(root, [*lines, *flushes], got)
