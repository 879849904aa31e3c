"""Contract records -> columns of the archive tables.

Event columns are built per event type in slices of 256 rows that stay in the CPU cache: each record (and its
payload, location and admin path) becomes a tuple in one C call (msgspec's astuple), the slice is transposed
with zip and each column takes its part. Reading one field of every record of a 50k-row batch per column
instead costs a cache miss per record and column (about 4 us a row against under 2 here).

Events arrive as the runtime records of rules.records (what every runner decodes). Personal data is replaced
here, before anything leaves the process: phone numbers and caller names of 112 calls and the device of a
personal SOS (mobile app, wearable) become keyed pseudonyms (rules.privacy), in the typed columns and in the
payload alike. Incidents keep their clear key/labels only in the restricted_* columns.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any, NamedTuple

import msgspec
import orjson
from msgspec.structs import astuple

from rules.privacy import PrivacySettings
from schemas import Incident

Rec = Any  # a runtime event record (msgspec Struct generated from the contract)

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


class _Src(NamedTuple):
    """Where a typed column's value comes from: an attribute path of the record, or a constant."""

    path: str | None  # "data.plate", "deleted"; None: the constant
    const: Any = None


def _d(attr: str) -> _Src:
    """A field of the payload. None (an absent optional field) becomes the column's default, when it has one."""
    return _Src("data." + attr)


def _rec(attr: str) -> _Src:
    return _Src(attr)


def _const(value: Any) -> _Src:
    return _Src(None, value)


COMMON: dict[str, _Src] = {name: _rec(name) for name in ("id", "source", "time", "received_time", "schema_version")}

# Per type: the typed columns (category and subject are the cross-type "what" and "who").
BY_TYPE: dict[str, dict[str, _Src]] = {
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
    "ref.hotlist": {"category": _d("reason"), "subject": _d("plate"), "deleted": _rec("deleted")},
    "ref.camera": {"category": _d("kind"), "subject": _d("camera_id"), "deleted": _rec("deleted")},
    "ref.zone": {"category": _d("kind"), "subject": _d("zone_id"), "deleted": _rec("deleted")},
    "ref.admin_area": {"category": _d("level"), "subject": _d("area_id"), "deleted": _rec("deleted")},
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


Tupler = Callable[[Any], tuple[Any, ...]]


def _tupler(cls: Any, names: Sequence[str]) -> tuple[Tupler, tuple[int, ...]]:
    """A C callable turning an instance of `cls` into a tuple, and where each of `names` is in that tuple:
    msgspec's astuple (the slots in order, no attribute lookups) for a Struct class, else an attrgetter."""
    fields = getattr(cls, "__struct_fields__", None)
    if isinstance(fields, tuple) and set(names) <= set(fields):
        return astuple, tuple(fields.index(name) for name in names)
    # attrgetter returns a bare value for a single name: ask for it twice to always get a tuple.
    return attrgetter(*names, *names[:1]), tuple(range(len(names)))


def _struct_of(annotation: Any) -> Any:
    """X for a field annotated X or X | None where X is a Struct class; None otherwise (attrgetter then)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    return args[0] if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], msgspec.Struct) else None


class _Plan(NamedTuple):
    """How records of one class fill EVENT_COLUMNS. A record becomes a tuple in one C call (and its payload,
    location and admin path one each), so a slice of rows is transposed into columns with zip."""

    etype: str
    rec: Tupler
    rec_at: tuple[int, ...]  # location, admin, data, then each record-level typed column
    data: Tupler | None
    data_at: tuple[int, ...]  # each payload typed column
    loc: Tupler
    loc_at: tuple[int, ...]
    adm: Tupler
    adm_at: tuple[int, ...]
    typed: tuple[tuple[str, bool, int, Any], ...]  # (column, from the payload?, position, default)
    consts: tuple[tuple[str, Any], ...]  # (column, value) the same for every row of the type


def _plan(cls: Any, etype: str) -> _Plan:
    sources = {**COMMON, **BY_TYPE.get(etype, {})}
    rec_names = ["location", "admin", "data"]
    data_names: list[str] = []
    typed: list[tuple[str, bool, int, Any]] = []
    for name, src in sources.items():
        if src.path is None:
            continue
        owner, _, attr = src.path.rpartition(".")
        names = data_names if owner == "data" else rec_names
        if attr not in names:
            names.append(attr)
        typed.append((name, owner == "data", names.index(attr), EVENT_DEFAULTS[name]))
    annotations: dict[str, Any] = {}
    if isinstance(cls, type) and issubclass(cls, msgspec.Struct):
        annotations = {f.name: f.type for f in msgspec.structs.fields(cls)}
    rec, rec_at = _tupler(cls, rec_names)
    data, data_at = _tupler(_struct_of(annotations.get("data")), data_names) if data_names else (None, ())
    loc, loc_at = _tupler(_struct_of(annotations.get("location")), _LOCATION)
    adm, adm_at = _tupler(_struct_of(annotations.get("admin")), _ADMIN)
    resolved = tuple((name, from_data, (data_at if from_data else rec_at)[i], d) for name, from_data, i, d in typed)
    consts = (("type", etype), *((name, src.const) for name, src in sources.items() if src.path is None))
    return _Plan(etype, rec, rec_at, data, data_at, loc, loc_at, adm, adm_at, resolved, consts)


_PLANS: dict[tuple[Any, str], _Plan] = {}
# Rows are read in slices that stay in the CPU cache: every column of a slice is filled while its records
# are hot, instead of one pass per column over the whole batch (a cache miss per record and column).
_CHUNK = 256


def group_records(records: Iterable[Rec]) -> dict[tuple[Any, str], list[Rec]]:
    """Records per (class, event type), in order of first appearance, rows in input order. A record class
    carries its type (the msgspec tag, a class attribute): one dict operation a row."""
    by_class: dict[Any, list[Rec]] = {}
    for rec in records:
        by_class.setdefault(rec.__class__, []).append(rec)
    groups: dict[tuple[Any, str], list[Rec]] = {}
    for cls, recs in by_class.items():
        etype = getattr(cls, "type", None)
        if isinstance(etype, str):
            groups[cls, etype] = recs
        else:  # not a generated record class: the type of each object
            for rec in recs:
                groups.setdefault((cls, rec.type), []).append(rec)
    return groups


def event_columns(records: Iterable[Rec], pseudo: Pseudonymiser) -> list[list[Any]]:
    """Column-oriented data for EVENT_COLUMNS (see event_columns_grouped)."""
    return event_columns_grouped(group_records(records), pseudo)


def event_columns_grouped(groups: dict[tuple[Any, str], list[Rec]], pseudo: Pseudonymiser) -> list[list[Any]]:
    """Column-oriented data for EVENT_COLUMNS from records grouped by group_records: the rows of each type in
    turn, personal fields pseudonymised, the data object as JSON in `payload`."""
    # Every column starts as its default (one C call each); each type then writes the columns it has over
    # its own range of rows, so a column a type lacks costs nothing for that type.
    total = sum(map(len, groups.values()))
    columns: dict[str, list[Any]] = {name: [default] * total for name, default in EVENT_DEFAULTS.items()}
    enc_lines = _ENC.encode_lines
    payload = columns["payload"]
    loc_cols = [columns[name] for name in _LOCATION]
    adm_cols = [columns[name] for name in _ADMIN]
    end = 0
    for key, recs in groups.items():
        plan = _PLANS.get(key)
        if plan is None:
            plan = _PLANS[key] = _plan(*key)
        if plan.etype in _PERSONAL:
            recs = [pseudo.record(rec) for rec in recs]
        rec_get, data_get, loc_get, adm_get = plan.rec, plan.data, plan.loc, plan.adm
        i_loc, i_adm, i_data = plan.rec_at[:3]
        targets = [(columns[name], from_data, i, default) for name, from_data, i, default in plan.typed]
        for name, value in plan.consts:
            columns[name][end : end + len(recs)] = [value] * len(recs)
        for start in range(0, len(recs), _CHUNK):
            rv = list(zip(*map(rec_get, recs[start : start + _CHUNK]), strict=True))
            locs, admins, datas = rv[i_loc], rv[i_adm], rv[i_data]
            dv = list(zip(*map(data_get, datas), strict=True)) if data_get is not None else []
            a = end
            end += len(datas)
            # One C call per slice; JSON escapes newlines inside strings, so splitting on them is safe.
            payload[a:end] = enc_lines(datas).split(b"\n")[:-1]
            if all(locs):
                lv = list(zip(*map(loc_get, locs), strict=True))
                for col, i in zip(loc_cols, plan.loc_at, strict=True):
                    col[a:end] = lv[i]
            elif any(locs):  # all None: the columns' default (None) is already there
                for col, name in zip(loc_cols, _LOCATION, strict=True):
                    col[a:end] = [None if loc is None else getattr(loc, name) for loc in locs]
            if all(admins):
                av = list(zip(*map(adm_get, admins), strict=True))
                for col, i in zip(adm_cols, plan.adm_at, strict=True):
                    col[a:end] = ["" if v is None else v for v in av[i]] if None in av[i] else av[i]
            elif any(admins):  # all None: the columns' default ("") is already there
                for col, name in zip(adm_cols, _ADMIN, strict=True):
                    col[a:end] = ["" if adm is None else (getattr(adm, name) or "") for adm in admins]
            for col, from_data, i, default in targets:
                vals = dv[i] if from_data else rv[i]
                if default is not None and None in vals:
                    col[a:end] = [default if v is None else v for v in vals]
                else:
                    col[a:end] = vals
    return list(columns.values())


_PERSONAL = frozenset(("call.112", "sos.press"))


# --- incidents ----------------------------------------------------------------------------------------

INCIDENT_COLUMNS: tuple[str, ...] = (
    "id", "version", "rule_id", "rule_version", "category", "status", "priority", "priority_base",
    "priority_terms", "title", "summary", "key_pseudonym", "group_pseudonym", "lat", "lon", "republic", "region",
    "city", "district", "first_time", "last_time", "updated_time", "event_count", "labels", "playbook",
    "close_reason", "acknowledged_at", "first_on_scene_at", "time_to_arrive_s", "units_on_scene", "chained",
    "internal", "schema_version", "restricted_key", "restricted_group", "restricted_payload",
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


# Evidence that is itself an incident version: rules/core/engine.py incident_event_record ids it "<id>@<version>"
# with incident ids "inc-" + 20 hex digits (rules/core/book.py), so a meta-incident is told by its evidence.
_INCIDENT_EVIDENCE = re.compile(r"^inc-[0-9a-f]{20}@\d+$")


def is_chained(inc: Incident) -> bool:
    """Made by a rule over incidents: some of its evidence are other incidents' versions."""
    return any(_INCIDENT_EVIDENCE.match(eid) for eid in inc.event_ids)


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
        inc.close_reason or "", inc.acknowledged_at, inc.arrivals[0].arrived_time if inc.arrivals else None,
        inc.time_to_arrive_s, len({a.unit_id for a in inc.arrivals}), int(is_chained(inc)), int(inc.internal),
        inc.schema_version, inc.key, inc.group, inc.model_dump_json(exclude_none=True),
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
