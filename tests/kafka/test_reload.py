"""Rules changed on disk reload live; an invalid rule set is rejected and the running one keeps running."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from schemas import Incident
from schemas.topics import INCIDENTS
from streams.kafka.faust_worker import FaustWorker
from streams.kafka.worker import Worker, WorkerConfig
from tests.golden.harness import CATALOG, scenarios
from tests.kafka.helpers import isolated, produce, read_topic
from tests.kafka_broker import unique
from tests.support import catalog_subset

pytestmark = pytest.mark.kafka


def _touch(path: Path, text: str, ahead: float) -> None:
    path.write_text(text)
    os.utime(path, (time.time() + ahead, time.time() + ahead))  # mtime moves even within one second


def _wait(cond: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize("engine", ["faust", "confluent"])
def test_reload_applies_a_valid_change_and_rejects_a_broken_one(
    kafka_bootstrap: str, tmp_path: Path, engine: str
) -> None:
    root = catalog_subset(tmp_path, ["fire", "calls/mass_incident.yaml"])
    settings = isolated(kafka_bootstrap, partitions=1)
    config = WorkerConfig(rules=(root,), group=unique("reload"), reload_interval=0.2)
    worker = FaustWorker(config, settings) if engine == "faust" else Worker(config, settings)
    thread = threading.Thread(target=worker.run, kwargs={"stop_after": 60.0}, daemon=True)
    thread.start()
    reloads = worker.metrics.rule_reloads
    fire = next(s for s in scenarios() if s.name == "fire_camera_and_calls")
    try:
        produce(settings, [CATALOG], fire.lines[:1])  # the worker owns its partition once it has an event
        _wait(lambda: bool(worker.parts))
        rule = root / "calls" / "mass_incident.yaml"
        text = rule.read_text()
        _touch(rule, text.replace("version: 1", "version: 2", 1), 5)
        _wait(lambda: reloads.labels("applied")._value.get() == 1)
        assert worker.ruleset.rule("calls.mass_incident").version == 2
        assert all(p.runtime.ruleset.rule("calls.mass_incident").version == 2 for p in worker.parts.values())

        _touch(rule, text + "\n  bogus: [unclosed\n", 10)
        _wait(lambda: reloads.labels("rejected")._value.get() == 1)
        assert worker.ruleset.rule("calls.mass_incident").version == 2  # the last good set keeps running

        produce(settings, [CATALOG], fire.lines)  # the producer only routes (single plan)

        def fire_found() -> bool:
            found = read_topic(settings, INCIDENTS, idle=1.0)
            return any(Incident.model_validate_json(v).rule_id == "fire.camera_and_call" for v in found)

        _wait(fire_found)
    finally:
        worker.stop()
        thread.join(30)
