"""The dispatch contract as an AsyncAPI 3.0 document, generated from the pydantic models.

    python -m schemas.asyncapi docs/asyncapi      writes asyncapi.json and schemas/*.schema.json

Payload schemas are the models' JSON Schemas (draft 2020-12, declared as such in every message's
schemaFormat, also written as files for consumers that validate without an AsyncAPI parser); the examples
are built from the models, so they validate by construction and the test re-validates them with
jsonschema. Deterministic output: the document in the repository must equal a fresh generation
(tests/context/test_asyncapi.py).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from schemas.alert import AlertArea, AlertChannel, AlertText, PublicAlert
from schemas.common import SCHEMA_VERSION, AdminPath, GeoPoint, UnitType
from schemas.context import CameraHit, HistoryCount, IncidentContext, UnitArrival, UnitRecommendation
from schemas.deadletter import DeadLetter, RejectStage, SourcePosition
from schemas.events import DispatchAction, DispatchActionEvent
from schemas.incident import Incident, IncidentStatus, PlaybookStep, PriorityTerm
from schemas.topics import ALERTS, DEAD_LETTERS, EVENT_TOPICS, INCIDENTS, INCIDENTS_LATEST

# The dialect pydantic emits; AsyncAPI 3 accepts any schemaFormat string, and this one names what we write.
SCHEMA_DIALECT = "application/schema+json;version=2020-12"
PAYLOADS: dict[str, type[BaseModel]] = {
    "Incident": Incident,
    "PublicAlert": PublicAlert,
    "DeadLetter": DeadLetter,
    "DispatchActionEvent": DispatchActionEvent,
}
DISPATCH = EVENT_TOPICS["dispatch.action"]
T = datetime(2026, 11, 22, 13, 20, 2, tzinfo=UTC)


def payload_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def component_schemas() -> dict[str, Any]:
    """Every payload model and the models they use, as components.schemas (refs point there), in the same
    2020-12 dialect as the payload files: GeoJSON (lon, lat) pairs keep their prefixItems."""
    _, top = models_json_schema(
        [(m, "validation") for m in PAYLOADS.values()], ref_template="#/components/schemas/{model}"
    )
    defs: dict[str, Any] = top["$defs"]
    return {k: defs[k] for k in sorted(defs)}


def examples() -> dict[str, list[BaseModel]]:
    admin = AdminPath(republic="Kazakhstan", region="Alatau", city="Alatau", district="Auezov district")
    where = GeoPoint(lat=43.2722, lon=76.8641)
    incident = Incident(
        id="inc-d1f1c64054784ca28706",
        version=3,
        rule_id="fire.camera_and_call",
        rule_version=1,
        category="fire",
        status=IncidentStatus.UPDATED,
        priority=2,
        priority_base=2,
        priority_terms=[PriorityTerm(name="confident", delta=0)],
        title="Fire confirmed by camera cam-010 and a 112 call",
        summary="smoke at 0.86 confidence; caller reports: Zhandosov st 120",
        key="cam-010",
        location=where,
        admin=admin,
        first_time=T,
        last_time=T,
        updated_time=T.replace(minute=29),
        event_ids=["vid-0001", "call-0002"],
        event_count=2,
        labels={"camera": "cam-010"},
        playbook=[
            PlaybookStep(action="Dispatch the nearest fire engines", agency="fire", unit_type=UnitType.FIRE, units=2)
        ],
        arrivals=[
            UnitArrival(
                unit_id="fs-4-1", unit_type=UnitType.FIRE, arrived_time=T.replace(minute=29), time_to_arrive_s=540.0
            )
        ],
        time_to_arrive_s=540.0,
        context=IncidentContext(
            admin=admin,
            admin_ids=["kz", "kz-alatau-region", "alatau", "alatau-auezov"],
            zones=["z-barakholka"],
            cameras=[
                CameraHit(camera_id="cam-010", owner="municipal", kind="overview", status="online", distance_m=42.5)
            ],
            history=[
                HistoryCount(by="address", key="ZHANDOSOV ST 120", count=2, last_ids=["inc-1a", "inc-0b"]),
                HistoryCount(by="phone", key="h1:5219e02deb06ba323740b700baa03658", count=0),
                HistoryCount(by="area", key="200m", count=3, last_ids=["inc-1a", "inc-0b", "inc-07"]),
            ],
            units=[
                UnitRecommendation(
                    unit_id="fs-4-2",
                    unit_type=UnitType.FIRE,
                    callsign="Olimp-61",
                    distance_m=3120.4,
                    eta_s=433.2,
                    location=GeoPoint(lat=43.2410, lon=76.8560),
                    fix_time=T.replace(minute=28),
                )
            ],
            agencies=["fire"],
            checklist=["Dispatch the nearest fire engines"],
            scopes=[
                "kazakhstan",
                "kazakhstan/alatau",
                "kazakhstan/alatau/alatau",
                "kazakhstan/alatau/alatau/auezov-district",
            ],
            reference_time=T.replace(hour=0, minute=0, second=0),
        ),
    )
    alert = PublicAlert(
        id="inc-d1f1c64054784ca28706.fire_near_people",
        incident_id=incident.id,
        incident_version=1,
        sender="saqshy@safecity.example",
        sent=T,
        category=["Fire"],
        event="Fire near a crowded place",
        response_type="Avoid",
        urgency="Immediate",
        severity="Severe",
        certainty="Observed",
        headline="Fire at Barakholka market: keep away from the area",
        description="A fire has been confirmed near Barakholka market. The emergency services are on their way.",
        instruction="Keep at least 500 m away, follow the instructions of the emergency services, keep roads clear.",
        language="en-US",
        expires=T.replace(hour=15),
        area=AlertArea(
            description="500 m around Barakholka market",
            polygon=[
                GeoPoint(lat=43.2767, lon=76.8641),
                GeoPoint(lat=43.2722, lon=76.8703),
                GeoPoint(lat=43.2677, lon=76.8641),
                GeoPoint(lat=43.2722, lon=76.8579),
                GeoPoint(lat=43.2767, lon=76.8641),
            ],
            circle_center=where,
            circle_radius_km=0.5,
        ),
        channels=[
            AlertChannel(kind="cell_broadcast"),
            AlertChannel(kind="loudspeaker", targets=["ls-z-barakholka"]),
        ],
        translations=[
            AlertText(
                language="ru-RU",
                event="Пожар вблизи места скопления людей",
                headline="Пожар: Barakholka market. Держитесь подальше от этого района",
                description="Подтверждён пожар. Место: Barakholka market. Экстренные службы направлены на место.",
                instruction="Держитесь не ближе 500 м, выполняйте указания экстренных служб, не загораживайте дороги.",
                area_description="500 м вокруг: Barakholka market",
            )
        ],
    )
    cancel = alert.model_copy(
        update={
            "id": alert.id + ".cancel",
            "msg_type": "Cancel",
            "sent": T.replace(hour=14),
            "incident_version": 5,
            "references": [f"{alert.sender},{alert.id},2026-11-22T13:20:02+00:00"],
            "response_type": "AllClear",
            "urgency": "Past",
            "severity": "Minor",
            "expires": None,
            "headline": "All clear: Fire near a crowded place, the danger is over",
            "description": "The emergency services report that the danger in this area is over.",
            "instruction": "You may return to the area. Keep following the instructions of the emergency services.",
            "translations": [
                alert.translations[0].model_copy(
                    update={
                        "headline": "Отбой тревоги: Пожар вблизи места скопления людей",
                        "description": "Экстренные службы сообщают, что опасность в этом районе миновала.",
                        "instruction": "Можно вернуться в район. Продолжайте выполнять указания экстренных служб.",
                    }
                )
            ],
        }
    )
    letter = DeadLetter(
        stage=RejectStage.VALIDATE,
        reason="data.confidence: Input should be less than or equal to 1 (got 1.7)",
        original='{"id":"v-9","type":"video.detection","data":{"confidence":1.7}}',
        source=SourcePosition(topic="saqshy.events.video", partition=3, offset=18231),
        event_id="v-9",
        rejected_time=T,
    )
    ack = DispatchActionEvent(
        id="cad-7f3a-0001",
        source="cad/alatau",
        time=T.replace(minute=22),
        data=DispatchAction(incident_id=incident.id, action="ack", operator="op-17"),
    )
    assign = DispatchActionEvent(
        id="cad-7f3a-0002",
        source="cad/alatau",
        time=T.replace(minute=23),
        data=DispatchAction(incident_id=incident.id, action="assign", operator="op-17", unit_id="fs-4-1"),
    )
    return {
        "Incident": [incident],
        "PublicAlert": [alert, cancel],
        "DeadLetter": [letter],
        "DispatchActionEvent": [ack, assign],
    }


def _message(name: str, title: str, summary: str, key: str, found: list[BaseModel]) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": "application/json",
        "payload": {"schemaFormat": SCHEMA_DIALECT, "schema": {"$ref": f"#/components/schemas/{name}"}},
        "bindings": {"kafka": {"key": {"type": "string", "description": key}, "bindingVersion": "0.5.0"}},
        "examples": [
            {"name": f"{name}-{i + 1}", "payload": m.model_dump(mode="json", exclude_none=True)}
            for i, m in enumerate(found)
        ],
    }


ORDERING = {
    "incidents": (
        "Every version of every incident (full state, not a diff), keyed by incident id, so all versions of one "
        "incident are in one partition in version order. Delivery is at-least-once: consumers keep the highest "
        "`version` per `id` (idempotent upsert); a repeated version is identical."
    ),
    "incidentsLatest": (
        "Compacted, keyed by incident id: the latest version per incident (the table of current incidents); "
        "idempotent like saqshy.incidents."
    ),
    "incidentsScoped": (
        "The same incident versions as saqshy.incidents, also produced to one topic per level of the incident's "
        "admin path (rules.context.scopes.scoped_topics): a centre subscribes to its own scope and sees "
        "everything below it. Same key, ordering and idempotency as saqshy.incidents."
    ),
    "alerts": (
        "Public warnings (CAP 1.2 semantics, JSON; rules.alerts.to_cap_xml renders the XML). Keyed by incident "
        "id so an Alert and its Cancel are ordered in one partition. Idempotent by `id`: a repeat is identical; "
        "at most one Alert and one Cancel per incident and alert kind."
    ),
    "dispatchActions": (
        "Inbound: what dispatchers (CAD, the console) did with an incident: ack, assign, arrive, close, reject. "
        "Key: the partition key of the producer's plan (streams.partitioning: 'all' in single mode, the spatial "
        "cell of `location` in spatial mode, else the event `id`), so send the incident's location with the "
        "action. Ordering: the engine orders input by event `time`, not by arrival, within the allowed lateness "
        "(docs/semantics.md); an action's effect on its incident comes before the matches the same event "
        "triggers (section 5). Idempotent by event `id`: a repeat within the deduplication horizon (the "
        "rules' longest horizon plus max_out_of_orderness) is dropped as a duplicate, so a CAD retries with the "
        "same id. `close` closes the named incident at the action's time; unknown or closed incident ids are "
        "ignored; invalid actions go to saqshy.dlq with the reason."
    ),
    "deadLetters": (
        "Input the engine could not use, whole, with the reason and the source position. Keyed by "
        "source topic/partition/offset; at-least-once, idempotent by source position (a repeat is identical)."
    ),
}


def document() -> dict[str, Any]:
    ex = examples()
    channels = {
        "incidents": {"address": INCIDENTS, "messages": {"Incident": {"$ref": "#/components/messages/Incident"}}},
        "incidentsLatest": {
            "address": INCIDENTS_LATEST,
            "messages": {"Incident": {"$ref": "#/components/messages/Incident"}},
        },
        "incidentsScoped": {
            "address": INCIDENTS + ".scope.{scope}",
            "parameters": {
                "scope": {
                    "description": "Slugged admin path joined by dots: kazakhstan, kazakhstan.alatau, ... "
                    "(rules.context.scopes.scope_ids with '/' -> '.')",
                    "examples": ["kazakhstan.alatau.alatau.auezov-district"],
                }
            },
            "messages": {"Incident": {"$ref": "#/components/messages/Incident"}},
        },
        "alerts": {"address": ALERTS, "messages": {"PublicAlert": {"$ref": "#/components/messages/PublicAlert"}}},
        "dispatchActions": {
            "address": DISPATCH,
            "messages": {"DispatchActionEvent": {"$ref": "#/components/messages/DispatchActionEvent"}},
        },
        "deadLetters": {
            "address": DEAD_LETTERS,
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        },
    }
    for name, text in ORDERING.items():
        channels[name]["description"] = text
    operations: dict[str, Any] = {
        f"publish{name[0].upper()}{name[1:]}": {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"The engine produces to {channels[name]['address']}.",
        }
        for name in channels
        if name != "dispatchActions"
    }
    operations["receiveDispatchActions"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/dispatchActions"},
        "summary": f"The engine consumes dispatcher actions from {DISPATCH}.",
        "description": ORDERING["dispatchActions"],
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Saqshy dispatch contract",
            "version": SCHEMA_VERSION,
            "description": (
                "What the Saqshy correlation engine produces for dispatch (CAD), the operator map and the "
                "archive, and what it receives back from dispatch (dispatch.action). Payloads are JSON (UTF-8), "
                "times ISO 8601 UTC. Priority: 1 = most urgent (life at risk, act now) ... 5 = least urgent "
                "(information, trends). Personal data: phone numbers and caller names appear in clear only on "
                "incidents (for the dispatcher). Dead letters carry them as pseudonyms 'h1:<hex>' (streams.dlq.redact "
                "pseudonymises the original's phone and caller name, or phone-like digits of a non-JSON line, "
                "before it is written), public alerts "
                "never contain them, and copies for archives and logs carry pseudonyms too (redact_incident, "
                "redact_call)."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "Apache Kafka 4; deployments may prefix topic names (KafkaSettings.topic_prefix).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": component_schemas(),
            "messages": {
                "Incident": _message(
                    "Incident", "Incident update", "One full state of an incident.", "incident id", ex["Incident"]
                ),
                "PublicAlert": _message(
                    "PublicAlert",
                    "Public alert",
                    "A public warning or its cancellation.",
                    "incident id",
                    ex["PublicAlert"],
                ),
                "DeadLetter": _message(
                    "DeadLetter",
                    "Dead letter",
                    "Rejected input with the reason; phone numbers in the original are pseudonyms (h1:<hex>).",
                    "source position",
                    ex["DeadLetter"],
                ),
                "DispatchActionEvent": _message(
                    "DispatchActionEvent",
                    "Dispatch action",
                    "A dispatcher's action on one incident (ack, assign, arrive, close, reject), as an event.",
                    "partition key of the plan (cell, 'all' or event id)",
                    ex["DispatchActionEvent"],
                ),
            },
        },
    }


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "schemas").mkdir(exist_ok=True)
    written = [directory / "asyncapi.json"]
    written[0].write_text(dumps(document()), encoding="utf-8")
    for name, model in PAYLOADS.items():
        path = directory / "schemas" / f"{name}.schema.json"
        path.write_text(dumps(payload_schema(model)), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/asyncapi")):
        print(p)
