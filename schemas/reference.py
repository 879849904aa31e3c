"""Reference records: slowly changing tables that rules join against (hotlists, cameras, zones, areas)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from schemas.common import AdminLevel, Contract, Geometry, GeoPoint, GeoPolygon, UtcDatetime


class HotlistEntry(Contract):
    """A wanted vehicle. Valid from `valid_from` until `valid_to` (open-ended when absent)."""

    plate: Annotated[str, Field(min_length=1, max_length=16)]
    country: str | None = None
    reason: Literal["stolen", "wanted", "amber_alert", "robbery", "fled_scene", "unpaid_fines", "other"]
    priority: Annotated[int, Field(ge=1, le=5)] = 3
    list_id: str = "default"
    valid_from: UtcDatetime
    valid_to: UtcDatetime | None = None
    note: Annotated[str, Field(max_length=500)] | None = None


class CameraOwner(StrEnum):
    POLICE = "police"
    MUNICIPAL = "municipal"
    PRIVATE = "private"


class CameraRecord(Contract):
    camera_id: Annotated[str, Field(min_length=1, max_length=128)]
    location: GeoPoint
    owner: CameraOwner = CameraOwner.MUNICIPAL
    kind: Literal["overview", "anpr", "ptz", "doorbell", "body"] = "overview"
    fov: GeoPolygon | None = None
    status: Literal["online", "offline", "maintenance"] = "online"
    name: str | None = None


class ZoneKind(StrEnum):
    SCHOOL = "school"
    MASS_GATHERING = "mass_gathering"
    CRITICAL_INFRASTRUCTURE = "critical_infrastructure"
    TRANSPORT_HUB = "transport_hub"
    GOVERNMENT = "government"
    PARK = "park"
    MARKET = "market"
    RESTRICTED = "restricted"
    OTHER = "other"


class ZoneRecord(Contract):
    zone_id: Annotated[str, Field(min_length=1, max_length=128)]
    name: str
    kind: ZoneKind
    geometry: Geometry
    tags: list[str] = Field(default_factory=list)


class AdminAreaRecord(Contract):
    area_id: Annotated[str, Field(min_length=1, max_length=128)]
    name: str
    level: AdminLevel
    parent_id: str | None = None
    geometry: Geometry


ReferenceRecord = HotlistEntry | CameraRecord | ZoneRecord | AdminAreaRecord
