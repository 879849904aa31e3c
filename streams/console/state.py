"""What the console knows: the latest version of each incident, units from GPS, alerts, operator actions,
recent events (the cards' evidence) and the reference tables (layers, admin path of a unit's position).

Sources (the embedded runner's thread, or the Kafka consumer's) update it under a lock; each visible change
is handed to the hub on the event loop through `emit` (set by the app at startup)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from rules.context.scopes import incident_admin
from rules.core.reference import ReferenceStore
from rules.privacy import PERSONAL_LABELS, PrivacySettings, redact_incident
from schemas import AdminPath, Incident, IncidentStatus, PublicAlert, fold_latest
from streams.console.users import path_slugs

EVIDENCE_KEPT = 300_000  # recent non-GPS events kept for the cards' evidence timelines
EVIDENCE_TYPES = frozenset({"video.detection", "call.112", "sos.press", "anpr.read", "accident.record"})
# event data fields that make up an evidence line's summary (never a phone or a caller's name)
SUMMARY_FIELDS = ("category", "analytic", "label", "camera_id", "device_id", "kind", "plate", "severity", "text")

Emit = Callable[[str, tuple[str, ...], bytes, bytes], None]


def _no_emit(kind: str, path: tuple[str, ...], clear: bytes, masked: bytes) -> None:
    return None


def summary_of(doc: dict[str, Any]) -> str:
    data = doc.get("data") or {}
    parts = [f"{k}={data[k]}" for k in SUMMARY_FIELDS if isinstance(data.get(k), (str, int, float))]
    return ", ".join(parts)[:200]


def personal(inc: Incident) -> bool:
    return any(k in PERSONAL_LABELS and v for k, v in inc.labels.items())


class Board:
    def __init__(self, privacy: PrivacySettings | None = None, playbook_names: dict[str, str] | None = None):
        self.privacy = privacy or PrivacySettings.from_env()
        self.playbook_names = playbook_names or {}
        self.lock = threading.RLock()
        self.emit: Emit = _no_emit
        self.incidents: dict[str, Incident] = {}
        self.docs: dict[str, tuple[tuple[str, ...], bytes, bytes]] = {}  # id -> (path, clear, masked)
        self.units: dict[str, dict[str, Any]] = {}
        self.unit_paths: dict[str, tuple[str, ...]] = {}
        self.alerts: dict[str, list[dict[str, Any]]] = {}
        self.actions: dict[str, list[dict[str, Any]]] = {}
        self.evidence: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # per camera, its detector's latest detection and health report: the card's "what the camera sees now"
        self.camera_latest: dict[str, dict[str, Any]] = {}
        self.reference = ReferenceStore()
        self.layers: dict[str, dict[str, dict[str, Any]]] = {"admin": {}, "zones": {}, "cameras": {}}
        self.devices: list[dict[str, Any]] = []  # warning devices (GeoJSON features)
        self.roads: list[dict[str, Any]] = []  # the city's road network (GeoJSON LineStrings), when it has one
        self.now_s = 0.0  # event time of the newest event seen (the replay's clock)

    # --- inputs (any thread) ---------------------------------------------------------------------
    def on_incident(self, inc: Incident) -> None:
        if getattr(inc, "internal", False):  # a helper rule's incident: feeds chained rules, never dispatch
            return
        with self.lock:
            prev = self.incidents.get(inc.id)
            if prev is not None and prev.version >= inc.version:
                return
            fold_latest(self.incidents, inc)
            path = path_slugs(incident_admin(inc))
            clear = inc.model_dump_json().encode()
            masked = redact_incident(inc, self.privacy).model_dump_json().encode() if personal(inc) else clear
            if inc.status == IncidentStatus.RETRACTED:
                self.docs.pop(inc.id, None)
            else:
                self.docs[inc.id] = (path, clear, masked)
        self.emit("incident", path, clear, masked)

    def on_event(self, doc: dict[str, Any], record: Any = None) -> None:
        """A raw input event (decoded JSON): unit fixes, evidence, reference rows. `record` is the decoded
        record when the caller has one (reference rows need it)."""
        etype = doc.get("type", "")
        with self.lock:
            t = doc.get("time", "")
            if etype == "unit.gps":
                self._unit(doc)
            elif etype in EVIDENCE_TYPES:
                self.evidence[doc["id"]] = {
                    "id": doc["id"],
                    "type": etype,
                    "source": doc.get("source"),
                    "time": t,
                    "location": doc.get("location"),
                    "summary": summary_of(doc),
                }
                phone = (doc.get("data") or {}).get("phone")
                if isinstance(phone, str) and phone:
                    self.evidence[doc["id"]]["phone"] = phone  # shown clear or pseudonymised by role
                if len(self.evidence) > EVIDENCE_KEPT:
                    self.evidence.popitem(last=False)
                camera = (doc.get("data") or {}).get("camera_id")
                if etype.startswith("video.") and isinstance(camera, str):
                    last = self.camera_latest.get(camera)
                    if last is None or t >= last["time"]:
                        self.camera_latest[camera] = {"time": t, "type": etype, "summary": summary_of(doc)}
            elif etype.startswith("ref.") and record is not None:
                self._reference(doc, record)

    def _unit(self, doc: dict[str, Any]) -> None:
        data, loc = doc["data"], doc.get("location") or {}
        unit = {
            "id": data["unit_id"],
            "kind": data.get("unit_type"),
            "status": data.get("status"),
            "lat": loc.get("lat"),
            "lon": loc.get("lon"),
            "time": doc.get("time"),
            "incident_id": data.get("assigned_incident"),
        }
        admin = doc.get("admin")
        if admin:
            path = path_slugs(AdminPath.model_validate(admin))
        elif unit["lat"] is not None:
            found, _ = self.reference.admin_index.path_at(unit["lat"], unit["lon"])
            path = path_slugs(found)
        else:
            path = self.unit_paths.get(unit["id"], ())
        self.units[unit["id"]] = unit
        self.unit_paths[unit["id"]] = path
        body = orjson.dumps(unit)
        self.emit("unit", path, body, body)

    def _reference(self, doc: dict[str, Any], record: Any) -> None:
        from datetime import datetime

        self.reference.apply(record, datetime.fromisoformat(doc["time"].replace("Z", "+00:00")).timestamp())
        etype, data, deleted = doc["type"], doc["data"], bool(doc.get("deleted"))
        layer, key = {
            "ref.admin_area": ("admin", "area_id"),
            "ref.zone": ("zones", "zone_id"),
            "ref.camera": ("cameras", "camera_id"),
        }.get(etype, ("", ""))
        if not layer:
            return
        if deleted:
            self.layers[layer].pop(data[key], None)
        else:
            self.layers[layer][data[key]] = data

    def on_alert(self, alert: PublicAlert) -> None:
        doc = alert.model_dump(mode="json", exclude_none=True)
        with self.lock:
            self.alerts.setdefault(alert.incident_id, []).append(doc)
            path = self.path_of(alert.incident_id)
        body = orjson.dumps(doc)
        self.emit("alert", path, body, body)

    def on_action(self, event_doc: dict[str, Any]) -> None:
        inc_id = event_doc["data"]["incident_id"]
        with self.lock:
            self.actions.setdefault(inc_id, []).append(event_doc)
            path = self.path_of(inc_id)
        body = orjson.dumps(event_doc)
        self.emit("action", path, body, body)

    # --- reads ------------------------------------------------------------------------------------
    def path_of(self, incident_id: str) -> tuple[str, ...]:
        doc = self.docs.get(incident_id)
        return doc[0] if doc is not None else ()

    def snapshot(self) -> Iterator[tuple[str, tuple[str, ...], bytes, bytes]]:
        with self.lock:
            items = [("incident", p, c, m) for p, c, m in self.docs.values()]
            items += [("unit", self.unit_paths[k], orjson.dumps(u), orjson.dumps(u)) for k, u in self.units.items()]
        yield from items

    def playbook_name(self, rule_id: str) -> str | None:
        return self.playbook_names.get(rule_id)
