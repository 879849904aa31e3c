"""The dispatch contract: the AsyncAPI 3 document is fresh, valid against the official AsyncAPI 3.0.0
meta-schema, every reference resolves, and every example (and real engine output) validates against its
payload JSON Schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from pydantic import BaseModel

from rules.alerts import load_alert_policy
from rules.context import ContextCorrelator
from schemas import DeadLetter, DispatchActionEvent, Incident, PublicAlert
from schemas.asyncapi import PAYLOADS, document, dumps, payload_schema
from schemas.topics import ALERTS, DEAD_LETTERS, EVENT_TOPICS, INCIDENTS, INCIDENTS_LATEST
from tests.context.support import call_rules, feed
from tests.support import event

DOCS = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"
MODELS: dict[str, type[BaseModel]] = {
    "Incident": Incident,
    "PublicAlert": PublicAlert,
    "DeadLetter": DeadLetter,
    "DispatchActionEvent": DispatchActionEvent,
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DOCS / "asyncapi.json").read_text())
    return loaded


@pytest.fixture(scope="module")
def meta() -> jsonschema.Draft7Validator:
    spec = json.loads((DOCS / "spec" / "asyncapi-3.0.0.schema.json").read_text())
    return jsonschema.Draft7Validator(spec)


def test_the_committed_document_is_fresh(doc: dict[str, Any]) -> None:
    assert (DOCS / "asyncapi.json").read_text() == dumps(document()), "run: python -m schemas.asyncapi docs/asyncapi"
    for name, model in PAYLOADS.items():
        assert json.loads((DOCS / "schemas" / f"{name}.schema.json").read_text()) == payload_schema(model)


def test_valid_asyncapi_3(doc: dict[str, Any], meta: jsonschema.Draft7Validator) -> None:
    errors = [f"{list(e.path)}: {e.message}" for e in meta.iter_errors(doc)]
    assert errors == []
    broken = copy.deepcopy(doc)
    broken["operations"]["publishIncidents"]["action"] = "publish"  # AsyncAPI 2 wording: invalid in 3
    assert not meta.is_valid(broken)
    broken = copy.deepcopy(doc)
    del broken["info"]
    assert not meta.is_valid(broken)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs = _refs(doc)
    assert len(refs) > 20
    for ref in refs:
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            assert part in node, f"unresolved {ref}"
            node = node[part]


def test_every_output_topic_is_documented_with_key_and_ordering(doc: dict[str, Any]) -> None:
    addresses = {c["address"] for c in doc["channels"].values()}
    assert {INCIDENTS, INCIDENTS_LATEST, ALERTS, DEAD_LETTERS} <= addresses
    assert INCIDENTS + ".scope.{scope}" in addresses
    for channel in doc["channels"].values():
        text = channel["description"].lower()
        assert "key" in text and ("idempot" in text or "compacted" in text), channel["address"]
    for msg in doc["components"]["messages"].values():
        assert msg["bindings"]["kafka"]["key"]["type"] == "string"


def _validators(doc: dict[str, Any], name: str) -> list[Any]:
    file_schema = json.loads((DOCS / "schemas" / f"{name}.schema.json").read_text())
    inline = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return [jsonschema.Draft202012Validator(file_schema), jsonschema.Draft202012Validator(inline)]


def test_examples_validate_against_their_payload_schemas(doc: dict[str, Any]) -> None:
    checked = 0
    for name, msg in doc["components"]["messages"].items():
        assert msg["examples"], name
        for ex in msg["examples"]:
            for validator in _validators(doc, name):
                assert [e.message for e in validator.iter_errors(ex["payload"])] == []
                bad = {**ex["payload"], "unexpected": 1}
                assert not validator.is_valid(bad)  # the schemas are closed, like the models
            MODELS[name].model_validate(ex["payload"])  # and the models accept them
            checked += 1
    assert checked >= 6


def test_dispatch_action_is_an_operation_the_engine_receives(doc: dict[str, Any]) -> None:
    received = [o for o in doc["operations"].values() if o["action"] == "receive"]
    assert len(received) == 1
    channel = doc["channels"][received[0]["channel"]["$ref"].rsplit("/", 1)[1]]
    assert channel["address"] == EVENT_TOPICS["dispatch.action"]
    text = channel["description"].lower()
    for word in ("key", "ordering", "idempotent", "ack", "assign", "arrive", "close"):
        assert word in text, word
    msg = doc["components"]["messages"]["DispatchActionEvent"]
    actions = {ex["payload"]["data"]["action"] for ex in msg["examples"]}
    assert {"ack", "assign"} <= actions
    action_enum = doc["components"]["schemas"]["DispatchAction"]["properties"]["action"]["enum"]
    assert set(action_enum) == {"ack", "assign", "arrive", "close", "reject"}


def test_every_incident_field_is_described_and_the_priority_scale_stated(doc: dict[str, Any]) -> None:
    props = doc["components"]["schemas"]["Incident"]["properties"]
    assert set(props) == set(Incident.model_fields)
    undocumented = [name for name, p in props.items() if not p.get("description")]
    assert undocumented == []
    assert "1 = most urgent" in props["priority"]["description"]
    assert "1 = most urgent" in doc["info"]["description"]


def test_dead_letter_text_says_pseudonyms_not_phones_in_clear(doc: dict[str, Any]) -> None:
    info = doc["info"]["description"]
    assert "raw input of dead letters" not in info
    assert "Dead letters carry them as pseudonyms" in info
    assert "pseudonym" in doc["components"]["schemas"]["DeadLetter"]["description"]
    assert "pseudonym" in doc["components"]["messages"]["DeadLetter"]["summary"]


def test_schema_format_names_the_dialect_emitted(doc: dict[str, Any]) -> None:
    for name, msg in doc["components"]["messages"].items():
        assert msg["payload"]["schemaFormat"] == "application/schema+json;version=2020-12", name
        file_schema = json.loads((DOCS / "schemas" / f"{name}.schema.json").read_text())
        assert file_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "draft-07" not in json.dumps(doc)


def test_real_engine_output_validates(doc: dict[str, Any], tmp_path: Path) -> None:
    """Incidents and alerts the engine actually produces match the documented payloads."""
    core = ContextCorrelator(call_rules(tmp_path), alerts=load_alert_policy())
    ring = [[76.910, 43.220], [76.915, 43.220], [76.915, 43.224], [76.910, 43.224], [76.910, 43.220]]
    zone = {"zone_id": "z", "name": "Market", "kind": "market", "geometry": {"type": "Polygon", "coordinates": [ring]}}
    evs = [
        event("ref.zone", 0, zone),
        event("unit.gps", 5, {"unit_id": "f1", "unit_type": "fire", "status": "available"}, loc=(43.21, 76.91)),
    ]
    call = {"call_id": "c", "category": "fire", "phone": "+7701", "address": "A 1"}
    evs.append(event("call.112", 10, call, loc=(43.222, 76.912)))
    incidents = feed(core, evs)
    alerts = core.take_alerts()
    assert incidents and alerts
    for name, items in (("Incident", incidents), ("PublicAlert", alerts)):
        for item in items:
            payload = json.loads(item.model_dump_json(exclude_none=True))
            for validator in _validators(doc, name):
                assert [e.message for e in validator.iter_errors(payload)] == []
