"""Events: one envelope (CloudEvents-shaped) around a typed payload per source.

The `type` field discriminates the union, so a message is decoded and validated from its bytes in one
pass by `decode_event` (pydantic-core parses JSON and validates together, no intermediate dicts).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from schemas.common import (
    SCHEMA_VERSION,
    AdminPath,
    Contract,
    GeoPoint,
    UnitType,
    UtcDatetime,
)
from schemas.incident import Incident
from schemas.reference import AdminAreaRecord, CameraRecord, HotlistEntry, ZoneRecord

Confidence = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegInt = Annotated[int, Field(ge=0)]
Ident = Annotated[str, Field(min_length=1, max_length=128)]


# --- payloads ---------------------------------------------------------------------------------


class Analytic(StrEnum):
    PERSON = "person"
    VEHICLE = "vehicle"
    CROWD = "crowd"
    INTRUSION = "intrusion"
    LOITERING = "loitering"
    ABANDONED_OBJECT = "abandoned_object"
    LINE_CROSSING = "line_crossing"
    STATIONARY_VEHICLE = "stationary_vehicle"
    FIRE = "fire"
    SMOKE = "smoke"
    FIGHT = "fight"
    FALL = "fall"
    CAMERA_TAMPER = "camera_tamper"
    WATCHLIST_MATCH = "watchlist_match"


class Phase(StrEnum):
    NEW = "new"
    UPDATE = "update"
    END = "end"


class BBox(Contract):
    """Box in normalised frame coordinates (0..1, origin top-left), independent of resolution."""

    x: Annotated[float, Field(ge=0.0, le=1.0)]
    y: Annotated[float, Field(ge=0.0, le=1.0)]
    w: Annotated[float, Field(ge=0.0, le=1.0)]
    h: Annotated[float, Field(ge=0.0, le=1.0)]


class VideoDetection(Contract):
    camera_id: Ident
    analytic: Analytic
    label: Annotated[str, Field(max_length=64)]
    confidence: Confidence
    bbox: BBox | None = None
    track_id: int | None = None
    zone_id: str | None = None
    line_id: str | None = None
    direction: Literal["in", "out"] | None = None
    phase: Phase = Phase.NEW
    count: NonNegInt | None = None
    # crowd: `count` is an estimate (the median of the per-sample counts over the zone's window), this its
    # spread (their standard deviation), so a consumer can tell a steady 30 from a flickering one
    count_spread: Annotated[float, Field(ge=0.0)] | None = None
    dwell_s: Annotated[float, Field(ge=0.0)] | None = None
    tamper: Literal["no_signal", "frozen", "blackout", "blur", "scene_change"] | None = None
    snapshot: str | None = None


class CallCategory(StrEnum):
    FIRE = "fire"
    MEDICAL = "medical"
    CRIME = "crime"
    VIOLENCE = "violence"
    ACCIDENT = "accident"
    GAS = "gas"
    RESCUE = "rescue"
    PUBLIC_ORDER = "public_order"
    SUSPICIOUS_OBJECT = "suspicious_object"
    INFO = "info"
    OTHER = "other"


class EmergencyCall(Contract):
    """A call to 112 (or 101/102/103/104) as registered by the call-taker."""

    call_id: Ident
    line: Literal["112", "101", "102", "103", "104"] = "112"
    phone: Annotated[str, Field(max_length=32)] | None = None
    caller_name: Annotated[str, Field(max_length=128)] | None = None
    address: Annotated[str, Field(max_length=256)] | None = None
    geocode: Literal["exact", "street", "district", "cell_tower", "none"] = "exact"
    category: CallCategory
    description: Annotated[str, Field(max_length=2000)] | None = None
    operator: str | None = None
    injured: NonNegInt | None = None


class SosPress(Contract):
    device_id: Ident
    kind: Literal["fixed_button", "mobile_app", "wearable"] = "fixed_button"
    message: Annotated[str, Field(max_length=500)] | None = None


class AnprRead(Contract):
    camera_id: Ident
    plate: Annotated[str, Field(min_length=1, max_length=16)]
    country: Annotated[str, Field(min_length=2, max_length=3)] | None = None
    confidence: Confidence
    direction: Literal["approaching", "departing", "unknown"] = "unknown"
    speed_kmh: Annotated[float, Field(ge=0.0, le=400.0)] | None = None
    lane: Annotated[int, Field(ge=0, le=16)] | None = None
    vehicle_class: str | None = None


class Severity(StrEnum):
    PROPERTY_DAMAGE = "property_damage"
    MINOR_INJURY = "minor_injury"
    SERIOUS_INJURY = "serious_injury"
    FATAL = "fatal"


class AccidentRecord(Contract):
    """A road traffic accident (ДТП) record from police, 112 or a road sensor."""

    record_id: Ident
    severity: Severity
    vehicles: NonNegInt = 1
    injured: NonNegInt = 0
    killed: NonNegInt = 0
    source: Annotated[str, Field(max_length=64)] = "police"
    road: str | None = None
    factors: list[str] = Field(default_factory=list)


class UnitStatus(StrEnum):
    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    BUSY = "busy"
    OFF_DUTY = "off_duty"


class UnitGps(Contract):
    unit_id: Ident
    unit_type: UnitType
    status: UnitStatus
    speed_kmh: Annotated[float, Field(ge=0.0, le=400.0)] | None = None
    heading_deg: Annotated[float, Field(ge=0.0, lt=360.0)] | None = None
    assigned_incident: str | None = None
    callsign: str | None = None


class DispatchAction(Contract):
    """What a dispatcher (CAD) did with an incident: the loop back into the engine."""

    incident_id: Ident
    action: Literal["ack", "assign", "arrive", "close", "reject"]
    operator: str | None = None
    unit_id: str | None = None
    note: Annotated[str, Field(max_length=500)] | None = None


# --- envelope -------------------------------------------------------------------------------


class EventBase(Contract):
    """The envelope. Attribute names follow CloudEvents (id, source, type, time) where they map."""

    id: Ident
    source: Annotated[str, Field(min_length=1, max_length=256)]
    time: UtcDatetime
    received_time: UtcDatetime | None = None
    location: GeoPoint | None = None
    admin: AdminPath | None = None
    schema_version: Annotated[str, Field(pattern=r"^1\.\d+$")] = SCHEMA_VERSION


class VideoDetectionEvent(EventBase):
    type: Literal["video.detection"] = "video.detection"
    data: VideoDetection


class EmergencyCallEvent(EventBase):
    type: Literal["call.112"] = "call.112"
    data: EmergencyCall


class SosPressEvent(EventBase):
    type: Literal["sos.press"] = "sos.press"
    data: SosPress


class AnprReadEvent(EventBase):
    type: Literal["anpr.read"] = "anpr.read"
    data: AnprRead


class AccidentRecordEvent(EventBase):
    type: Literal["accident.record"] = "accident.record"
    data: AccidentRecord


class UnitGpsEvent(EventBase):
    type: Literal["unit.gps"] = "unit.gps"
    data: UnitGps


class DispatchActionEvent(EventBase):
    type: Literal["dispatch.action"] = "dispatch.action"
    data: DispatchAction


class IncidentEvent(EventBase):
    """An incident update seen as an event, so rules can chain on other rules' incidents."""

    type: Literal["incident"] = "incident"
    data: Incident


class HotlistEvent(EventBase):
    type: Literal["ref.hotlist"] = "ref.hotlist"
    data: HotlistEntry
    deleted: bool = False


class CameraEvent(EventBase):
    type: Literal["ref.camera"] = "ref.camera"
    data: CameraRecord
    deleted: bool = False


class ZoneEvent(EventBase):
    type: Literal["ref.zone"] = "ref.zone"
    data: ZoneRecord
    deleted: bool = False


class AdminAreaEvent(EventBase):
    type: Literal["ref.admin_area"] = "ref.admin_area"
    data: AdminAreaRecord
    deleted: bool = False


ReferenceEvent = HotlistEvent | CameraEvent | ZoneEvent | AdminAreaEvent

Event = Annotated[
    VideoDetectionEvent
    | EmergencyCallEvent
    | SosPressEvent
    | AnprReadEvent
    | AccidentRecordEvent
    | UnitGpsEvent
    | DispatchActionEvent
    | IncidentEvent
    | HotlistEvent
    | CameraEvent
    | ZoneEvent
    | AdminAreaEvent,
    Field(discriminator="type"),
]

EVENT_CLASSES: dict[str, type[EventBase]] = {
    "video.detection": VideoDetectionEvent,
    "call.112": EmergencyCallEvent,
    "sos.press": SosPressEvent,
    "anpr.read": AnprReadEvent,
    "accident.record": AccidentRecordEvent,
    "unit.gps": UnitGpsEvent,
    "dispatch.action": DispatchActionEvent,
    "incident": IncidentEvent,
    "ref.hotlist": HotlistEvent,
    "ref.camera": CameraEvent,
    "ref.zone": ZoneEvent,
    "ref.admin_area": AdminAreaEvent,
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_CLASSES)
REFERENCE_TYPES: frozenset[str] = frozenset(t for t in EVENT_TYPES if t.startswith("ref."))

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def decode_event(raw: bytes | str) -> EventBase:
    """Parse and validate one JSON event in a single pass; raises pydantic.ValidationError."""
    return EVENT_ADAPTER.validate_json(raw)  # type: ignore[return-value]


def encode_event(event: EventBase) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()
