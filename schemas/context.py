"""Incident context: what enrichment adds for the dispatcher (admin path, zones, cameras, history, units)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from schemas.common import AdminPath, Contract, GeoPoint, UnitType, UtcDatetime

NonNeg = Annotated[float, Field(ge=0.0)]


class CameraHit(Contract):
    """A camera whose field of view covers the incident, nearest first."""

    camera_id: str
    owner: Literal["police", "municipal", "private"]
    kind: str
    status: str
    distance_m: NonNeg


class HistoryCount(Contract):
    """Earlier incidents sharing the address, the caller's phone (pseudonymised) or the 200 m area."""

    by: Literal["address", "phone", "area"]
    key: str
    count: Annotated[int, Field(ge=0)]
    window_days: Annotated[int, Field(ge=1)] = 30
    last_ids: list[str] = Field(default_factory=list)


class UnitRecommendation(Contract):
    """An available unit of a type the playbook needs, from its latest (fresh) GPS fix."""

    unit_id: str
    unit_type: UnitType
    callsign: str | None = None
    distance_m: NonNeg
    eta_s: NonNeg
    location: GeoPoint
    fix_time: UtcDatetime


class UnitShortfall(Contract):
    unit_type: UnitType
    needed: Annotated[int, Field(ge=1)]
    found: Annotated[int, Field(ge=0)]


class UnitArrival(Contract):
    """A unit reported on_scene for this incident; `time_to_arrive_s` counts from the incident's first time."""

    unit_id: str
    unit_type: UnitType
    arrived_time: UtcDatetime
    time_to_arrive_s: NonNeg


class IncidentContext(Contract):
    admin: AdminPath | None = None
    admin_ids: list[str] = Field(default_factory=list)  # area ids, republic first
    zones: list[str] = Field(default_factory=list)
    cameras: list[CameraHit] = Field(default_factory=list)
    history: list[HistoryCount] = Field(default_factory=list)
    units: list[UnitRecommendation] = Field(default_factory=list)
    shortfall: list[UnitShortfall] = Field(default_factory=list)
    agencies: list[str] = Field(default_factory=list)
    checklist: list[str] = Field(default_factory=list)
    scopes: list[str] = Field(default_factory=list)  # e.g. "kz", "kz/alatau-region", ... (see docs/context.md)
    # event time of the newest reference change applied: which reference state this enrichment saw
    reference_time: UtcDatetime | None = None
