"""The console live on a real Kafka broker: it shows what the workers' output topics hold, and an operator's
action is produced to the dispatch topic (with its audit row to the audit topic), for the workers to take."""

from __future__ import annotations

import time
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer

from schemas.topics import AUDIT, EVENT_TOPICS, INCIDENTS_LATEST
from streams.console.app import create_app
from streams.console.wiring import live_console
from tests.console.api_support import USERS, act, at, event, login
from tests.kafka.helpers import isolated
from tests.kafka_broker import unique


def _incident(inc_id: str, district: str) -> dict[str, Any]:
    return {
        "id": inc_id, "version": 1, "rule_id": "fire.camera_and_call", "rule_version": 1, "category": "fire",
        "status": "open", "priority": 2, "priority_base": 2, "title": "Fire", "key": inc_id,
        "location": {"lat": 43.2389, "lon": 76.9455},
        "admin": {"republic": "Kazakhstan", "region": "Alatau", "city": "Alatau", "district": district},
        "first_time": at(0), "last_time": at(60), "updated_time": at(60), "event_ids": ["e1"], "event_count": 1,
    }  # fmt: skip


def _read_all(settings: Any, topic: str, wanted: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    consumer = Consumer(settings.consumer_config(unique("g"), **{"auto.offset.reset": "earliest"}))
    consumer.subscribe([settings.topic(topic)])
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < wanted and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            value = msg.value() if msg is not None and msg.error() is None else None
            if value:
                out.append(orjson.loads(value))
    finally:
        consumer.close()
    return out


def test_live_console_reads_the_outputs_and_produces_actions(kafka_bootstrap: str) -> None:
    from starlette.testclient import TestClient

    settings = isolated(kafka_bootstrap, partitions=1)
    producer = Producer(settings.producer_config())
    for inc_id, district in (("inc-live-medeu", "Medeu district"), ("inc-live-turksib", "Turksib district")):
        producer.produce(
            settings.topic(INCIDENTS_LATEST), key=inc_id.encode(), value=orjson.dumps(_incident(inc_id, district))
        )
    producer.flush(10)
    console = live_console(USERS, kafka_bootstrap, partitioning="single", settings=settings)
    with TestClient(create_app(console)) as tc:
        deadline = time.monotonic() + 30
        while len(console.board.incidents) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        csrf = login(tc, "op_medeu")
        assert [i["id"] for i in tc.get("/api/incidents").json()["incidents"]] == ["inc-live-medeu"]
        # a unit's fix after the console started (GPS is read from the end)
        time.sleep(2)
        fix = event("g-live-1", 90, "unit.gps", {"unit_id": "f-1", "unit_type": "fire", "status": "available"})
        producer.produce(settings.topic(EVENT_TOPICS["unit.gps"]), value=fix)
        producer.flush(10)
        while not console.board.units and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [u["id"] for u in tc.get("/api/units").json()["units"]] == ["f-1"]
        r = act(tc, csrf, "inc-live-medeu", "ack")
        assert r.status_code == 202
        assert act(tc, csrf, "inc-live-turksib", "ack").status_code == 403
    actions = _read_all(settings, EVENT_TOPICS["dispatch.action"], 1)
    assert [(a["id"], a["data"]["incident_id"], a["data"]["action"], a["data"]["operator"]) for a in actions] == [
        (r.json()["event_id"], "inc-live-medeu", "ack", "op_medeu")
    ]
    audit = _read_all(settings, AUDIT, 3)
    assert [(x["user"], x["action"], x["outcome"]) for x in audit] == [
        ("op_medeu", "login", "ok"), ("op_medeu", "ack", "ok"), ("op_medeu", "ack", "refused")
    ]  # fmt: skip
