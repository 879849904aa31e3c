"""An idle partition follows the event time of the worker's other partitions, so its timers still fire."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from schemas import Incident
from schemas.topics import EVENT_TOPICS, INCIDENTS
from streams.kafka.faust_worker import FaustWorker
from streams.kafka.worker import Worker, WorkerConfig
from tests.kafka.helpers import isolated, read_topic
from tests.kafka_broker import unique
from tests.support import catalog_subset

pytestmark = pytest.mark.kafka


def _event(eid: str, etype: str, at: str, data: dict[str, str], lat: float) -> bytes:
    where = {"lat": lat, "lon": 76.95}
    return orjson.dumps({"id": eid, "type": etype, "source": "test", "time": at, "data": data, "location": where})


def _absences(settings: object) -> list[Incident]:
    found = [Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS, idle=1.0)]  # type: ignore[arg-type]
    return [u for u in found if u.rule_id == "sos.no_unit_on_scene"]


@pytest.mark.parametrize(
    ("engine", "idle_after"),
    [("confluent", 0.5), ("confluent", None), ("faust", 0.5)],
    ids=["confluent", "confluent-no-idle-advance", "faust"],
)
def test_a_quiet_partitions_absence_fires_when_the_others_move_on(
    kafka_bootstrap: str, tmp_path: Path, engine: str, idle_after: float | None
) -> None:
    root = catalog_subset(tmp_path, ["sos/no_unit_on_scene.yaml"])
    settings = isolated(kafka_bootstrap, partitions=2)
    producer = Producer(settings.producer_config())
    # partition 0: an SOS press, then silence; partition 1: unit positions 20 minutes later (far away)
    producer.produce(
        settings.topic(EVENT_TOPICS["sos.press"]),
        _event("press-1", "sos.press", "2026-03-10T08:00:00Z", {"device_id": "sos-1"}, 43.24),
        partition=0,
    )
    for i, minute in enumerate((10, 15, 20)):
        data = {"unit_id": "p-9", "unit_type": "police", "status": "en_route"}
        producer.produce(
            settings.topic(EVENT_TOPICS["unit.gps"]),
            _event(f"gps-{i}", "unit.gps", f"2026-03-10T08:{minute}:00Z", data, 43.40),
            partition=1,
        )
    assert producer.flush(30) == 0

    config = WorkerConfig(rules=(root,), group=unique("idle"), idle_after=idle_after)
    worker = FaustWorker(config, settings) if engine == "faust" else Worker(config, settings)
    thread = threading.Thread(target=worker.run, kwargs={"stop_after": 30.0}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + (20 if idle_after else 6)
        found: list[Incident] = []
        while time.monotonic() < deadline and not found:
            found = _absences(settings)
        if idle_after is None:
            assert found == []  # without the advance, partition 0 waits for an event that never comes
        else:
            assert [(u.key, u.priority) for u in found] == [("sos-1", 2)]
            assert worker.parts[0].runtime.high >= worker.parts[1].runtime.high
    finally:
        worker.stop()
        thread.join(30)
    if idle_after is not None:
        assert len({(u.id, u.version) for u in _absences(settings)}) == len(_absences(settings)) == 1
