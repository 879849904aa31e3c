"""Sinks and the `saqshy detect` command; the Kafka round trip against a real broker is the last test."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from detectors.publish import DetectorKafkaSettings, JsonlSink
from saqshy.cli import main
from schemas.deadletter import DeadLetter
from schemas.events import Analytic, VideoDetection, VideoDetectionEvent, decode_event
from schemas.partitioning import SINGLE_KEY, key_partition
from schemas.topics import EVENT_TOPICS
from tests.detectors.conftest import ABODA, EXAMPLES, MODEL, T0, need


def event(n: int) -> VideoDetectionEvent:
    data = VideoDetection(camera_id="c1", analytic=Analytic.PERSON, label="person", confidence=0.9, track_id=n)
    return VideoDetectionEvent(id=f"e{n}", source="saqshy.detector/c1", time=T0, data=data)


def test_jsonl_sink_roundtrips_the_contract(tmp_path: Path) -> None:
    path = tmp_path / "out" / "events.jsonl"
    sink = JsonlSink(path)
    for n in range(3):
        sink.publish(event(n))
    sink.close()
    assert [decode_event(line) for line in path.read_text().splitlines()] == [event(n) for n in range(3)]


def test_kafka_settings_from_env_and_producer_config() -> None:
    s = DetectorKafkaSettings.from_env(
        {"SAQSHY_DETECTOR_KAFKA_BOOTSTRAP_SERVERS": "k1:9092", "SAQSHY_DETECTOR_KAFKA_TOPIC_PREFIX": "kz."}
    )
    assert s.topic == "kz." + EVENT_TOPICS["video.detection"]
    conf = s.producer_config()
    assert conf["bootstrap.servers"] == "k1:9092"
    assert conf["enable.idempotence"] is True and conf["acks"] == "all"


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["detect", *args], catch_exceptions=False, env=env)
    return result.exit_code, result.output


@pytest.mark.video
def test_detect_command_writes_events_and_a_summary(tmp_path: Path) -> None:
    need(ABODA, MODEL)
    out = tmp_path / "ev.jsonl"
    code, output = run_cli(
        "--camera", "cam-aboda-4", "--source", str(ABODA), "--config", str(EXAMPLES / "aboda_left_bag.yaml"),
        "--out", str(out), "--start", "2026-11-22T10:00:00+08:00", "--max-frames", "100",
    )  # fmt: skip
    assert code == 0, output
    events = [decode_event(line) for line in out.read_text().splitlines()]
    assert events and all(isinstance(e, VideoDetectionEvent) and e.data.camera_id == "cam-aboda-4" for e in events)
    assert all(e.location is not None and e.location.lat == pytest.approx(25.0173) for e in events)
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["frames"] == 100 and summary["events"] == len(events)


def test_detect_command_errors_are_clear(tmp_path: Path) -> None:
    cfg = tmp_path / "cam.yaml"
    cfg.write_text("camera: {id: c1, location: {lat: 1, lon: 2}}\nmodel: {path: missing.onnx}\n")
    code, output = run_cli("--source", "x.avi", "--config", str(cfg), "--out", str(tmp_path / "o.jsonl"))
    assert code == 1 and "model file not found" in output
    code, output = run_cli("--camera", "other", "--source", "x.avi", "--config", str(cfg), "--out", "-")
    assert code == 2 and "does not match camera.id" in output


@pytest.mark.kafka
@pytest.mark.video
def test_kafka_round_trip_keyed_by_the_partition_plan(kafka_bootstrap: str, tmp_path: Path) -> None:
    """The detector on the ABODA clip into a real broker; a consumer reads every event back, keyed as every event of
    the event topics (the default single plan: `all`, on the partition `saqshy produce` gives it)."""
    need(ABODA, MODEL)
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    prefix = f"t{uuid.uuid4().hex[:8]}."
    topic = prefix + EVENT_TOPICS["video.detection"]
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for f in admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)]).values():
        f.result(30)
    dlq = tmp_path / "dlq.jsonl"
    env = {"SAQSHY_DETECTOR_KAFKA_TOPIC_PREFIX": prefix, "SAQSHY_DETECTOR_KAFKA_DEAD_LETTERS": str(dlq)}
    code, output = run_cli(
        "--source", str(ABODA), "--config", str(EXAMPLES / "aboda_left_bag.yaml"), "--bootstrap", kafka_bootstrap,
        "--out", "kafka", "--start", "2026-11-22T10:00:00+08:00", env=env,
    )  # fmt: skip
    assert code == 0, output
    summary = json.loads(output.strip().splitlines()[-1])
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": prefix, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])  # no group rebalance to wait for
    got: list[VideoDetectionEvent] = []
    try:
        for _ in range(120):
            msg = consumer.poll(1.0)
            if msg is None:
                if len(got) >= summary["events"]:
                    break
                continue
            assert msg.error() is None, msg.error()
            assert (msg.key(), msg.partition()) == (SINGLE_KEY, key_partition(SINGLE_KEY, 3))
            ev = decode_event(msg.value() or b"")
            assert isinstance(ev, VideoDetectionEvent)
            got.append(ev)
    finally:
        consumer.close()
    assert len(got) == summary["events"] > 0
    assert len({e.id for e in got}) == len(got), "idempotent producer: no duplicates"
    assert any(e.data.analytic is Analytic.ABANDONED_OBJECT for e in got)
    assert not dlq.exists(), "nothing was refused"


@pytest.mark.kafka
def test_events_kafka_refuses_go_to_dead_letters_whole(kafka_bootstrap: str, tmp_path: Path) -> None:
    from detectors.publish import KafkaSink

    dlq = tmp_path / "dlq.jsonl"
    settings = DetectorKafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"absent{uuid.uuid4().hex[:8]}.",  # the broker does not create topics on demand
        dead_letters=dlq,
        extra={"message.timeout.ms": "3000"},
    )
    sink = KafkaSink(settings)
    for n in range(2):
        sink.publish(event(n))
    sink.close()
    assert sink.failed == 2 and sink.delivered == 0
    letters = [DeadLetter.model_validate_json(line) for line in dlq.read_text().splitlines()]
    assert [decode_event(d.original_bytes()) for d in letters] == [event(0), event(1)]
    assert all("delivery" in d.reason and d.source.topic == settings.topic for d in letters)


def test_an_unreachable_broker_loses_nothing(tmp_path: Path) -> None:
    """No broker at all: the flush gives up, and every queued event is in the dead-letter file, whole."""
    from detectors.errors import PublishError
    from detectors.publish import KafkaSink

    dlq = tmp_path / "dlq.jsonl"
    sink = KafkaSink(DetectorKafkaSettings(bootstrap_servers="127.0.0.1:1", dead_letters=dlq, flush_timeout_s=1.0))
    for n in range(3):
        sink.publish(event(n))
    with pytest.raises(PublishError, match="3 event\\(s\\) undelivered"):
        sink.close()
    letters = [DeadLetter.model_validate_json(line) for line in dlq.read_text().splitlines()]
    assert sorted(decode_event(d.original_bytes()).id for d in letters) == ["e0", "e1", "e2"]
