"""Every producer of events keys them as `saqshy produce` does (schemas/partitioning.py): the event topics are
co-partitioned, so an event reaches the partition whose correlator holds its place only if the console and the
detectors put a key where the producer does. Checked against the real broker: the partition each record landed
in, under each producer's own configuration."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from detectors.publish import DetectorKafkaSettings, KafkaSink
from rules.loader import load_rules
from schemas import Incident, IncidentStatus
from schemas.events import GeoPoint, VideoDetection, VideoDetectionEvent
from schemas.partitioning import OBSERVED_HEADER, REPLICA_HEADER, key_partition
from schemas.topics import EVENT_TOPICS, INCIDENTS
from streams.embedded import EmbeddedRunner
from streams.kafka.produce import EventProducer
from streams.kafka.settings import KafkaSettings
from streams.partitioning import PartitionPlan, plan_for
from tests.golden.harness import scenarios
from tests.kafka.helpers import isolated, read_topic, run_bounded
from tests.kafka_broker import unique
from tests.support import catalog_subset

pytestmark = pytest.mark.kafka
PARTITIONS = 6
T0 = datetime(2026, 3, 10, 6, tzinfo=UTC)


def _landed(settings: KafkaSettings, etype: str, expect: int) -> list[tuple[int, bytes | None, dict[str, bytes]]]:
    """(partition, key, headers) of the first `expect` records of an event topic."""
    name = settings.topic(EVENT_TOPICS[etype])
    consumer = Consumer(settings.consumer_config(unique("keys")))
    out: list[tuple[int, bytes | None, dict[str, bytes]]] = []
    try:
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        deadline = time.monotonic() + 30
        while len(out) < expect and time.monotonic() < deadline:
            for msg in consumer.consume(100, 0.5):
                if msg.error() is None:
                    headers = {k: v for k, v in (msg.headers() or []) if isinstance(v, bytes)}
                    out.append((msg.partition() or 0, msg.key(), headers))
    finally:
        consumer.close()
    assert len(out) == expect, out
    return out


def test_the_partitioner_is_kafkas_murmur2(kafka_bootstrap: str) -> None:
    """key_partition agrees with where the engine's producer configuration puts keyed records."""
    settings = isolated(kafka_bootstrap, partitions=PARTITIONS)
    keys = [b"all", b"21502:34421", b"-3:7", b"evt-0001", b"x" * 13]
    producer = Producer(settings.producer_config())
    for key in keys:
        producer.produce(settings.topic(EVENT_TOPICS["call.112"]), b"{}", key)
    assert producer.flush(30) == 0
    landed = _landed(settings, "call.112", len(keys))
    assert {key: p for p, key, _ in landed} == {key: key_partition(key, PARTITIONS) for key in keys}
    assert len({p for p, _, _ in landed}) > 1, "the keys must spread, or the check proves little"


def test_a_detection_lands_where_the_producer_puts_a_call_of_its_place(kafka_bootstrap: str) -> None:
    """A single plan: the detector's detection and a call produced by `saqshy produce` share a partition (before,
    the detector keyed by camera id, under librdkafka's own partitioner). A spatial plan: the camera's cell, and
    replicas in the neighbouring cells, as the producer sends them."""
    settings = isolated(kafka_bootstrap, partitions=PARTITIONS)
    loc = GeoPoint(lat=43.2389, lon=76.9455)
    data = VideoDetection(camera_id="cam-017", analytic="fire", label="fire", confidence=0.9)  # type: ignore[arg-type]
    event = VideoDetectionEvent(id="v-1", source="saqshy.detector/cam-017", time=T0, location=loc, data=data)
    call = {"id": "c-1", "type": "call.112", "source": "t", "time": "2026-03-10T06:00:00Z",
            "location": {"lat": loc.lat, "lon": loc.lon}, "data": {"call_id": "c-1", "category": "fire"}}  # fmt: skip

    sink = KafkaSink(DetectorKafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=settings.topic_prefix))
    sink.publish(event)
    sink.flush()
    EventProducer(settings, PartitionPlan("single")).run([orjson.dumps(call)])
    [(video, _, _)] = _landed(settings, "video.detection", 1)
    [(calls, _, _)] = _landed(settings, "call.112", 1)
    assert video == calls == key_partition(b"all", PARTITIONS)

    spatial = isolated(kafka_bootstrap, partitions=PARTITIONS)
    plan = PartitionPlan("spatial", 500.0, 400.0)
    border = (int(loc.lat * 111_320.0 / 500.0) + 1) * 500.0 / 111_320.0  # a cell row border 100 m north
    event = event.model_copy(update={"location": GeoPoint(lat=border - 100 / 111_320.0, lon=loc.lon)})
    config = DetectorKafkaSettings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=spatial.topic_prefix, partitioning="spatial",
        cell_m=plan.cell_m, radius_m=plan.radius_m,
    )  # fmt: skip
    sink = KafkaSink(config)
    sink.publish(event)
    sink.flush()
    line = orjson.dumps(orjson.loads(event.model_dump_json()))
    EventProducer(spatial, plan).run([line])
    replicas = plan.replica_keys(border - 100 / 111_320.0, loc.lon)
    landed = _landed(spatial, "video.detection", 2 * len(replicas) + 2)
    mine = sorted((p, key or b"", REPLICA_HEADER in headers) for p, key, headers in landed)
    assert mine[0::2] == mine[1::2], "the detector and the producer wrote the same records"
    assert any(replica for _, _, replica in mine), "the camera is near a border: replicas too"
    for p, key, _ in mine:
        assert key is not None and p == key_partition(key, PARTITIONS)


def test_unit_fixes_reach_every_partition(kafka_bootstrap: str) -> None:
    """Under a spatial plan a unit fix is on its cell's partition, replicas on their cells' partitions, and an
    observed copy on every partition that has neither."""
    settings = isolated(kafka_bootstrap, partitions=PARTITIONS)
    plan = PartitionPlan("spatial", 500.0, 400.0)
    fix = {"id": "g-1", "type": "unit.gps", "source": "avl", "time": "2026-03-10T06:00:00Z",
           "location": {"lat": 43.2389, "lon": 76.9455},
           "data": {"unit_id": "fs-1", "unit_type": "fire", "status": "available"}}  # fmt: skip
    stats = EventProducer(settings, plan).run([orjson.dumps(fix)])
    landed = _landed(settings, "unit.gps", stats.messages)
    own = [p for p, _, headers in landed if not headers]
    assert own == [key_partition(plan.key(43.2389, 76.9455, "g-1"), PARTITIONS)]
    holding = {p for p, _, headers in landed if OBSERVED_HEADER not in headers}  # the fix or a replica of it
    observed = [p for p, _, headers in landed if OBSERVED_HEADER in headers]
    assert sorted(observed) == sorted(set(range(PARTITIONS)) - holding)
    assert stats.observed == len(observed) > 0


def test_an_operators_close_from_the_console_closes_the_incident(kafka_bootstrap: str, tmp_path: Path) -> None:
    """The console's live source puts a dispatcher's close on the partition of the incident's events: the worker
    closes the incident as the embedded runner does with the same lines (on six partitions, the close used to
    land on another partition, whose correlator never knew the incident)."""
    from streams.console.sources import KafkaSource
    from streams.console.state import Board

    root = catalog_subset(tmp_path, ["fire"])
    fire = next(s for s in scenarios() if s.name == "fire_camera_and_calls")
    expected: list[Incident] = []
    EmbeddedRunner(load_rules([root])).run(fire.lines, expected.append)
    inc = expected[0]
    close = {"id": "act-1", "type": "dispatch.action", "source": "console/op-1",
             "time": (inc.updated_time + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
             "data": {"incident_id": inc.id, "action": "close", "operator": "op-1"}}  # fmt: skip
    lines = [*fire.lines, orjson.dumps(close)]
    closed_by_time = expected[-1]
    expected = []
    EmbeddedRunner(load_rules([root])).run(lines, expected.append)
    assert expected[-1].status == IncidentStatus.CLOSED
    assert expected[-1].updated_time < closed_by_time.updated_time, "the close, not the end of input, closes it"

    settings = isolated(kafka_bootstrap, partitions=PARTITIONS)
    EventProducer(settings, plan_for(load_rules([root]), "single")).run(fire.lines)
    source = KafkaSource(settings, Board(), plan_for(load_rules([root]), "single"))
    try:
        source.submit(orjson.dumps(close))
        assert source.producer.flush(30) == 0
    finally:
        source.consumer.close()
    run_bounded(settings, [root])
    got = [Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS)]
    assert sorted(u.model_dump_json() for u in got) == sorted(u.model_dump_json() for u in expected)
