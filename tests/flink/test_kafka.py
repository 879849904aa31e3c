"""The golden scenarios through a real broker and the Flink job give the embedded runner's incidents, enriched
with the same (default) context; reference records come from the reference topics. saqshy.incidents.latest
holds what a consumer keeps of the updates, and a retracted incident is a tombstone there."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from rules.loader import load_rules
from rules.records import decode_record
from schemas import Incident, IncidentStatus, fold_latest
from schemas.topics import EVENT_TOPICS, INCIDENTS
from streams.kafka.settings import KafkaSettings
from tests.flink.helpers import (
    embedded,
    isolated,
    latest_topic,
    needs_connector,
    run_kafka,
    same_final,
    same_updates,
)
from tests.golden.harness import CATALOG, check, scenarios
from tests.kafka.helpers import dead_letter_stages, produce, read_topic
from tests.support import catalog_subset

pytestmark = [pytest.mark.kafka, pytest.mark.slow, needs_connector]


def _in_canonical_order(lines: Sequence[bytes]) -> bool:
    """Are the events that are accepted (not dead letters, not reference records) in canonical order, once each?"""
    keys = []
    for raw in lines:
        try:
            record = decode_record(raw)
        except Exception:  # a dead letter: not correlated, so not ordered
            continue
        if not record.type.startswith("ref."):
            keys.append((record.time, record.id))
    return keys == sorted(set(keys))


def _latest_problems(settings: KafkaSettings, updates: list[Incident]) -> list[str]:
    """saqshy.incidents.latest, compacted, against what fold_latest keeps of the updates topic."""
    kept: dict[str, Incident] = {}
    for u in updates:
        fold_latest(kept, u)
    latest = {k: Incident.model_validate_json(v) for k, v in latest_topic(settings).items()}
    if latest == kept:
        return []
    return [f"saqshy.incidents.latest holds {sorted(latest)}, a consumer of the updates keeps {sorted(kept)}"]


def test_golden_scenarios_through_kafka_on_flink(kafka_bootstrap: str) -> None:
    problems: dict[str, list[str]] = {}
    for scenario in scenarios():
        settings = isolated(kafka_bootstrap)
        produce(settings, [CATALOG], scenario.lines)
        run_kafka(settings, [CATALOG])
        updates = [Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS)]
        found = check(scenario, updates, dead_letter_stages(settings))
        expected = embedded([CATALOG], scenario.lines)
        if _in_canonical_order(scenario.lines):  # nothing to correct: the very same versions
            found += same_updates(updates, expected)
        else:  # the job merges the topics by event time, the file is read as it is: what a consumer keeps
            found += same_final(updates, expected)
        found += _latest_problems(settings, updates)
        if found:
            problems[scenario.name] = found
    assert problems == {}, "\n".join(f"{k}: {p}" for k, v in problems.items() for p in v)


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _fire(eid: str, at: str) -> dict[str, object]:
    data = {"camera_id": "cam-017", "analytic": "fire", "label": "fire", "confidence": 0.9}
    loc = {"lat": 43.2389, "lon": 76.9455}
    return {"id": eid, "type": "video.detection", "source": "t", "time": at, "data": data, "location": loc}


def _call(eid: str, at: str) -> dict[str, object]:
    data = {"call_id": eid, "category": "fire", "address": "Abai 52"}
    loc = {"lat": 43.2395, "lon": 76.946}
    return {"id": eid, "type": "call.112", "source": "t", "time": at, "data": data, "location": loc}


def test_a_retracted_incident_is_a_tombstone_on_the_latest_topic(kafka_bootstrap: str, tmp_path: Path) -> None:
    """A fire, a call, then a second fire 10 s before the call but read after it, all in one partition (its
    FIFO): the call first confirms the first fire, then, in canonical order, the second one, so the first
    incident is retracted (docs/semantics.md, 7). Its id leaves the latest topic; the updates keep both."""
    root = catalog_subset(tmp_path, ["fire"])
    docs = [
        _fire("f-1", "2026-03-10T08:00:00Z"),
        _call("c-1", "2026-03-10T08:02:00Z"),
        _fire("f-2", "2026-03-10T08:01:50Z"),
    ]
    lines = [orjson.dumps(d) for d in docs]
    settings = isolated(kafka_bootstrap)
    producer = Producer(settings.producer_config())
    topic = settings.topic(EVENT_TOPICS["video.detection"])  # the job reads every event topic, whatever the type
    for raw, d in zip(lines, docs, strict=True):
        producer.produce(topic, raw, partition=0, timestamp=_ms(str(d["time"])))
    assert producer.flush(30) == 0
    run_kafka(settings, [root])

    updates = [Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS)]
    retracted = [u for u in updates if u.status == IncidentStatus.RETRACTED]
    assert [u.event_ids for u in retracted] == [["f-1", "c-1"]]
    sorted_lines = [lines[0], lines[2], lines[1]]
    assert same_final(updates, embedded([root], sorted_lines)) == []
    latest = latest_topic(settings)
    assert retracted[0].id not in latest and len(latest) == 1
    assert _latest_problems(settings, updates) == []
    assert load_rules([root]).settings.max_out_of_orderness >= 10  # f-2 is within the bound
