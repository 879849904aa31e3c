"""The dispatch contract as an AsyncAPI 3.0 document, generated from the pydantic models.

    python -m schemas.asyncapi docs/asyncapi      writes asyncapi.json and schemas/*.schema.json

Payload schemas are the models' JSON Schemas (draft 2020-12, also written as files for consumers that
validate without an AsyncAPI parser); the examples are built from the models, so they validate by
construction and the test re-validates them with jsonschema. Deterministic output: the document in the
repository must equal a fresh generation (tests/context/test_asyncapi.py).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from schemas.alert import AlertArea, AlertChannel, PublicAlert
from schemas.common import SCHEMA_VERSION, AdminPath, GeoPoint, UnitType
from schemas.context import CameraHit, HistoryCount, IncidentContext, UnitArrival, UnitRecommendation
from schemas.deadletter import DeadLetter, RejectStage, SourcePosition
from schemas.incident import Incident, IncidentStatus, PlaybookStep, PriorityTerm
from schemas.topics import ALERTS, DEAD_LETTERS, INCIDENTS, INCIDENTS_LATEST

SCHEMA_DIALECT = "application/schema+json;version=draft-07"
PAYLOADS: dict[str, type[BaseModel]] = {"Incident": Incident, "PublicAlert": PublicAlert, "DeadLetter": DeadLetter}
T = datetime(2026, 11, 22, 13, 20, 2, tzinfo=UTC)


def payload_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def component_schemas() -> dict[str, Any]:
    """Every payload model and the models they use, as components.schemas (refs point there). Draft-07 (the
    AsyncAPI schema dialect) has no prefixItems, so GeoJSON (lon, lat) pairs become arrays of numbers."""
    _, top = models_json_schema(
        [(m, "validation") for m in PAYLOADS.values()], ref_template="#/components/schemas/{model}"
    )

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: fix(v) for k, v in node.items() if k != "prefixItems"}
            if "prefixItems" in node:
                out["items"] = {"type": "number"}
            return out
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    defs: dict[str, Any] = fix(top["$defs"])
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
        urgency="Immediate",
        severity="Severe",
        certainty="Observed",
        headline="Fire at Barakholka market: keep away from the area",
        description="Fire confirmed by camera cam-010 and a 112 call",
        instruction="Keep at least 500 m away.",
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
    )
    cancel = alert.model_copy(
        update={
            "id": alert.id + ".cancel",
            "msg_type": "Cancel",
            "sent": T.replace(hour=14),
            "incident_version": 5,
            "references": [f"{alert.sender},{alert.id},2026-11-22T13:20:02+00:00"],
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
    return {"Incident": [incident], "PublicAlert": [alert, cancel], "DeadLetter": [letter]}


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
        "deadLetters": {
            "address": DEAD_LETTERS,
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        },
    }
    for name, text in ORDERING.items():
        channels[name]["description"] = text
    operations = {
        f"publish{name[0].upper()}{name[1:]}": {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"The engine produces to {channels[name]['address']}.",
        }
        for name in channels
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Saqshy dispatch contract",
            "version": SCHEMA_VERSION,
            "description": (
                "What the Saqshy correlation engine produces for dispatch (CAD), the operator map and the "
                "archive. Payloads are JSON (UTF-8), times ISO 8601 UTC. Personal data: phone numbers and caller "
                "names appear in clear only on incidents (for the dispatcher) and in the raw input of dead "
                "letters; public alerts never contain them, and copies for archives and logs carry pseudonyms "
                "'h1:<hex>' (rules.privacy: redact_incident, redact_call, redact_raw_event for dead letters)."
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
                    "Rejected input with the reason.",
                    "source position",
                    ex["DeadLetter"],
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
