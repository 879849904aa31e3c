"""Value types shared by every record of the contract: time, place, admin path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"
_ZERO = timedelta(0)


def _to_utc(value: datetime) -> datetime:
    # Offsets of zero (the wire format's "Z") are kept as parsed: converting costs more than it buys.
    if value.utcoffset() == _ZERO:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 has no UTC instant in datetime's range
        raise ValueError("time is outside the representable range") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""Event time on the wire: ISO 8601 with an explicit offset; naive times are rejected."""


class Contract(BaseModel):
    """Base of every contract record: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class GeoPoint(Contract):
    lat: Annotated[float, Field(ge=-90.0, le=90.0)]
    lon: Annotated[float, Field(ge=-180.0, le=180.0)]
    accuracy_m: Annotated[float, Field(ge=0.0)] | None = None


class AdminLevel(StrEnum):
    REPUBLIC = "republic"
    REGION = "region"
    CITY = "city"
    DISTRICT = "district"


class AdminPath(Contract):
    """Republic > Region > City > District; an upper level sees everything below it."""

    republic: str | None = None
    region: str | None = None
    city: str | None = None
    district: str | None = None

    def as_tuple(self) -> tuple[str | None, str | None, str | None, str | None]:
        return (self.republic, self.region, self.city, self.district)


class UnitType(StrEnum):
    POLICE = "police"
    AMBULANCE = "ambulance"
    FIRE = "fire"
    RESCUE = "rescue"
    GAS = "gas"


Position = tuple[float, float]
"""GeoJSON position: (lon, lat)."""


class GeoPolygon(Contract):
    """GeoJSON Polygon (RFC 7946): rings of (lon, lat), the first is the exterior."""

    type: Literal["Polygon"] = "Polygon"
    coordinates: Annotated[list[Annotated[list[Position], Field(min_length=4)]], Field(min_length=1)]


class GeoMultiPolygon(Contract):
    type: Literal["MultiPolygon"] = "MultiPolygon"
    coordinates: Annotated[
        list[Annotated[list[Annotated[list[Position], Field(min_length=4)]], Field(min_length=1)]],
        Field(min_length=1),
    ]


Geometry = GeoPolygon | GeoMultiPolygon
