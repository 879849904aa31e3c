"""Contract records -> columns of the archive tables, built column-wise (one pass per column per event type).

Events arrive as the runtime records of rules.records (what every runner decodes). Personal data is replaced
here, before anything leaves the process: phone numbers and caller names of 112 calls and the device of a
personal SOS (mobile app, wearable) become keyed pseudonyms (rules.privacy), in the typed columns and in the
payload alike. Incidents keep their clear key/labels only in the restricted_* columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

import msgspec
import orjson

from rules.privacy import PrivacySettings
from schemas import Incident

Rec = Any  # a runtime event record (msgspec Struct generated from the contract)
Getter = Callable[[Rec], Any] | str  # a str names a field of the payload (_Data)

# name -> value for rows of event types that do not have the column. Order = insert column order.
EVENT_DEFAULTS: dict[str, Any] = {
    "id": "", "type": "", "source": "", "time": None, "received_time": None, "lat": None, "lon": None,
    "accuracy_m": None, "republic": "", "region": "", "city": "", "district": "", "category": "", "subject": "",
    "call_line": "", "call_phone": "", "call_caller": "", "call_address": "", "call_geocode": "",
    "call_description": "", "call_operator": "", "call_injured": None,
    "sos_kind": "", "sos_message": "",
    "anpr_plate": "", "anpr_country": "", "anpr_confidence": 0.0, "anpr_direction": "", "anpr_speed_kmh": None,
    "anpr_lane": None, "anpr_vehicle_class": "",
    "accident_vehicles": 0, "accident_injured": 0, "accident_killed": 0, "accident_reporter": "",
    "accident_road": "", "accident_factors": [],
    "unit_type": "", "unit_speed_kmh": None, "unit_heading_deg": None, "unit_assigned_incident": "",
    "unit_callsign": "",
    "video_label": "", "video_confidence": 0.0, "video_track_id": None, "video_zone_id": "", "video_line_id": "",
    "video_direction": "", "video_phase": "", "video_count": None, "video_dwell_s": None, "video_tamper": "",
    "dispatch_operator": "", "dispatch_unit_id": "", "dispatch_note": "",
    "deleted": 0, "payload": "", "schema_version": "",
}  # fmt: skip
EVENT_COLUMNS: tuple[str, ...] = tuple(EVENT_DEFAULTS)
_ENC = msgspec.json.Encoder()


def _s(v: Any) -> str:
    return "" if v is None else str(v)


def _d(attr: str) -> Getter:
    # operator.attrgetter runs in C: a column of 100k values costs a few ms. None (an absent optional
    # field) is turned into the column's default afterwards, only when the column has one.
    return _Data(attr)


class _Data(str):
    """A field of the payload: read with a C attrgetter over the batch's payload structs."""


def _const(value: Any) -> Getter:
    return lambda r: value


COMMON: dict[str, Getter] = {
    name: attrgetter(name) for name in ("id", "type", "source", "time", "received_time", "schema_version")
}

# Per type: the typed columns (category and subject are the cross-type "what" and "who").
BY_TYPE: dict[str, dict[str, Getter]] = {
    "call.112": {
        "category": _d("category"), "subject": _d("call_id"), "call_line": _d("line"),
        "call_phone": _d("phone"), "call_caller": _d("caller_name"), "call_address": _d("address"),
        "call_geocode": _d("geocode"), "call_description": _d("description"), "call_operator": _d("operator"),
        "call_injured": _d("injured"),
    },
    "sos.press": {
        "category": _const("sos"), "subject": _d("device_id"), "sos_kind": _d("kind"), "sos_message": _d("message"),
    },
    "anpr.read": {
        "category": _d("vehicle_class"), "subject": _d("camera_id"), "anpr_plate": _d("plate"),
        "anpr_country": _d("country"), "anpr_confidence": _d("confidence"), "anpr_direction": _d("direction"),
        "anpr_speed_kmh": _d("speed_kmh"), "anpr_lane": _d("lane"), "anpr_vehicle_class": _d("vehicle_class"),
    },
    "accident.record": {
        "category": _d("severity"), "subject": _d("record_id"), "accident_vehicles": _d("vehicles"),
        "accident_injured": _d("injured"), "accident_killed": _d("killed"), "accident_reporter": _d("source"),
        "accident_road": _d("road"), "accident_factors": _d("factors"),
    },
    "unit.gps": {
        "category": _d("status"), "subject": _d("unit_id"), "unit_type": _d("unit_type"),
        "unit_speed_kmh": _d("speed_kmh"), "unit_heading_deg": _d("heading_deg"),
        "unit_assigned_incident": _d("assigned_incident"), "unit_callsign": _d("callsign"),
    },
    "video.detection": {
        "category": _d("analytic"), "subject": _d("camera_id"), "video_label": _d("label"),
        "video_confidence": _d("confidence"), "video_track_id": _d("track_id"), "video_zone_id": _d("zone_id"),
        "video_line_id": _d("line_id"), "video_direction": _d("direction"), "video_phase": _d("phase"),
        "video_count": _d("count"), "video_dwell_s": _d("dwell_s"), "video_tamper": _d("tamper"),
    },
    "dispatch.action": {
        "category": _d("action"), "subject": _d("incident_id"), "dispatch_operator": _d("operator"),
        "dispatch_unit_id": _d("unit_id"), "dispatch_note": _d("note"),
    },
    "incident": {"category": _d("category"), "subject": _d("id")},
    "ref.hotlist": {"category": _d("reason"), "subject": _d("plate"), "deleted": attrgetter("deleted")},
    "ref.camera": {"category": _d("kind"), "subject": _d("camera_id"), "deleted": attrgetter("deleted")},
    "ref.zone": {"category": _d("kind"), "subject": _d("zone_id"), "deleted": attrgetter("deleted")},
    "ref.admin_area": {"category": _d("level"), "subject": _d("area_id"), "deleted": attrgetter("deleted")},
}  # fmt: skip
_LOCATION = ("lat", "lon", "accuracy_m")
_ADMIN = ("republic", "region", "city", "district")


class Pseudonymiser:
    """Replaces personal fields of records; a pseudonym is cached per value (callers repeat)."""

    def __init__(self, privacy: PrivacySettings) -> None:
        self.privacy = privacy
        self._phones: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def phone(self, value: str) -> str:
        p = self._phones.get(value)
        if p is None:
            p = self._phones[value] = self.privacy.pseudonymise_phone(value)
        return p

    def name(self, value: str) -> str:
        p = self._names.get(value)
        if p is None:
            p = self._names[value] = self.privacy.pseudonymise(value)
        return p

    def record(self, rec: Rec) -> Rec:
        """The record with its personal fields pseudonymised (the same record when it has none)."""
        data = rec.data
        if rec.type == "call.112":
            if data.phone is None and data.caller_name is None:
                return rec
            data = msgspec.structs.replace(
                data,
                phone=None if data.phone is None else self.phone(data.phone),
                caller_name=None if data.caller_name is None else self.name(data.caller_name),
            )
        elif rec.type == "sos.press" and data.kind != "fixed_button":
            data = msgspec.structs.replace(data, device_id=self.phone(data.device_id))
        else:
            return rec
        return msgspec.structs.replace(rec, data=data)


def event_columns(records: Sequence[Rec], pseudo: Pseudonymiser) -> list[list[Any]]:
    """Column-oriented data for EVENT_COLUMNS: rows grouped by type, one C-level pass per column per type."""
    groups: dict[str, list[Rec]] = {}
    personal = ("call.112", "sos.press")
    for rec in records:
        t = rec.type
        groups.setdefault(t, []).append(pseudo.record(rec) if t in personal else rec)
    columns: dict[str, list[Any]] = {name: [] for name in EVENT_COLUMNS}
    enc_lines = _ENC.encode_lines
    for etype, recs in groups.items():
        typed = BY_TYPE.get(etype, {})
        n = len(recs)
        locs = [r.location for r in recs]
        if None in locs:
            for name in _LOCATION:
                columns[name].extend([None if loc is None else getattr(loc, name) for loc in locs])
        else:
            for name in _LOCATION:
                columns[name].extend(map(attrgetter(name), locs))
        admins = [r.admin for r in recs]
        has_admin = None not in admins
        for name in _ADMIN:
            if has_admin:
                values = list(map(attrgetter(name), admins))
                if None in values:
                    values = ["" if v is None else v for v in values]
            else:
                values = ["" if a is None else (getattr(a, name) or "") for a in admins]
            columns[name].extend(values)
        datas = [r.data for r in recs]
        # One C call for the whole group; JSON escapes newlines inside strings, so splitting on them is safe.
        columns["payload"].extend(enc_lines(datas).split(b"\n")[:-1])
        for name in EVENT_COLUMNS:
            getter = COMMON.get(name) or typed.get(name)
            if getter is not None:
                values = list(map(attrgetter(getter), datas) if isinstance(getter, str) else map(getter, recs))
                default = EVENT_DEFAULTS[name]
                if default is not None and None in values:
                    values = [default if v is None else v for v in values]
                columns[name].extend(values)
            elif name not in _FILLED:
                columns[name].extend([EVENT_DEFAULTS[name]] * n)
    return list(columns.values())


_FILLED = frozenset((*_LOCATION, *_ADMIN, "payload"))


# --- incidents ----------------------------------------------------------------------------------------

INCIDENT_COLUMNS: tuple[str, ...] = (
    "id", "version", "rule_id", "rule_version", "category", "status", "priority", "priority_base",
    "priority_terms", "title", "summary", "key_pseudonym", "group_pseudonym", "lat", "lon", "republic", "region",
    "city", "district", "first_time", "last_time", "updated_time", "event_count", "labels", "playbook",
    "close_reason", "schema_version", "restricted_key", "restricted_group", "restricted_payload",
)  # fmt: skip
LINK_COLUMNS: tuple[str, ...] = (
    "incident_id", "event_id", "rule_id", "first_version", "incident_time", "republic", "region", "city", "district",
)  # fmt: skip

# A phone number in free text: 7 to 15 digits, optional +, common separators. Replaced by its pseudonym.
_PHONE = re.compile(r"\+?\d[\d\s()\-]{5,18}\d")
_PERSONAL_LABEL = re.compile(r"phone|caller|name|msisdn", re.IGNORECASE)


def scrub(text: str, pseudo: Pseudonymiser) -> str:
    def repl(m: re.Match[str]) -> str:
        digits = sum(c.isdigit() for c in m.group(0))
        return pseudo.phone(m.group(0)) if 7 <= digits <= 15 else m.group(0)

    return _PHONE.sub(repl, text)


def incident_row(inc: Incident, pseudo: Pseudonymiser) -> list[Any]:
    loc, adm = inc.location, inc.admin
    labels = {
        k: (pseudo.name(v) if _PERSONAL_LABEL.search(k) else scrub(v, pseudo)) for k, v in sorted(inc.labels.items())
    }
    return [
        inc.id, inc.version, inc.rule_id, inc.rule_version, inc.category, inc.status.value, inc.priority,
        inc.priority_base, [(t.name, t.delta) for t in inc.priority_terms], scrub(inc.title, pseudo),
        scrub(inc.summary, pseudo), pseudo.name(inc.key), pseudo.name(inc.group) if inc.group else "",
        None if loc is None else loc.lat, None if loc is None else loc.lon,
        _s(adm and adm.republic), _s(adm and adm.region), _s(adm and adm.city), _s(adm and adm.district),
        inc.first_time, inc.last_time, inc.updated_time, inc.event_count, labels,
        orjson.dumps([s.model_dump(mode="json", exclude_none=True) for s in inc.playbook]).decode(),
        inc.close_reason or "", inc.schema_version, inc.key, inc.group, inc.model_dump_json(exclude_none=True),
    ]  # fmt: skip


def link_rows(inc: Incident) -> list[list[Any]]:
    adm = inc.admin
    path = [_s(adm and adm.republic), _s(adm and adm.region), _s(adm and adm.city), _s(adm and adm.district)]
    return [[inc.id, eid, inc.rule_id, inc.version, inc.first_time, *path] for eid in inc.event_ids]


# --- reference tables ---------------------------------------------------------------------------------

REF_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ref.hotlist": (
        "ref_hotlist",
        ("plate", "list_id", "country", "reason", "priority", "valid_from", "valid_to", "note"),
    ),
    "ref.camera": ("ref_cameras", ("camera_id", "lat", "lon", "owner", "kind", "status", "name", "fov")),
    "ref.zone": ("ref_zones", ("zone_id", "name", "kind", "geometry", "tags")),
    "ref.admin_area": ("ref_admin_areas", ("area_id", "name", "level", "parent_id", "geometry")),
}
REF_TRAILER = ("deleted", "changed", "event_id")


def _ref_value(rec: Rec, name: str) -> Any:
    data = rec.data
    if name in {"lat", "lon"}:
        return getattr(data.location, name)
    value = getattr(data, name)
    if name in {"fov", "geometry"}:
        return "" if value is None else _ENC.encode(value).decode()
    if name == "valid_to" or name == "tags":
        return value
    return _s(value)


def ref_row(rec: Rec) -> tuple[str, list[Any]]:
    table, cols = REF_TABLES[rec.type]
    row = [_ref_value(rec, c) for c in cols]
    if rec.type == "ref.hotlist":
        row[4] = rec.data.priority
        row[5] = rec.data.valid_from
    return table, [*row, int(rec.deleted), rec.time, rec.id]
