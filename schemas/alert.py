"""Public alerts: a warning to the population, rendered as OASIS CAP 1.2 by rules.alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from schemas.common import SCHEMA_VERSION, Contract, GeoPoint, UtcDatetime


class AlertArea(Contract):
    """Where the warning applies: a polygon (closed ring of points) and/or a circle."""

    description: str
    polygon: Annotated[list[GeoPoint], Field(min_length=4)] | None = None
    circle_center: GeoPoint | None = None
    circle_radius_km: Annotated[float, Field(gt=0.0)] | None = None

    @model_validator(mode="after")
    def _shape(self) -> AlertArea:
        if self.polygon is None and self.circle_center is None:
            raise ValueError("an alert area needs a polygon or a circle")
        if (self.circle_center is None) != (self.circle_radius_km is None):
            raise ValueError("a circle needs both circle_center and circle_radius_km")
        if self.polygon is not None and self.polygon[0] != self.polygon[-1]:
            raise ValueError("the polygon ring must be closed (first point == last point)")
        return self


class AlertChannel(Contract):
    """A channel that should carry the warning: cell broadcast over the area, or devices inside it."""

    kind: Literal["cell_broadcast", "information_board", "loudspeaker"]
    targets: list[str] = Field(default_factory=list)  # device ids; empty for cell broadcast (the area is the target)


Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")]
ResponseType = Literal["Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"]


class AlertText(Contract):
    """The public wording of an alert in one more language: one more CAP <info> block."""

    language: Language
    event: str
    headline: Annotated[str, Field(max_length=160)]
    description: str = ""
    instruction: str = ""
    area_description: str


class PublicAlert(Contract):
    """A public warning. event/headline/description/instruction/area.description are in `language` (the
    first CAP <info> block); `translations` carry the same warning in the other languages. Public text holds
    no internal ids (cameras, rules, incidents): the policy's templates may only use the place and named labels.
    A Cancel says the danger is over (responseType AllClear, urgency Past, severity Minor)."""

    id: str
    incident_id: str
    incident_version: Annotated[int, Field(ge=1)]
    sender: str
    sent: UtcDatetime
    status: Literal["Actual", "Exercise", "System", "Test", "Draft"] = "Actual"
    msg_type: Literal["Alert", "Update", "Cancel"] = "Alert"
    references: list[str] = Field(default_factory=list)  # earlier alert ids this one updates or cancels
    category: Annotated[
        list[
            Literal[
                "Geo",
                "Met",
                "Safety",
                "Security",
                "Rescue",
                "Fire",
                "Health",
                "Env",
                "Transport",
                "Infra",
                "CBRNE",
                "Other",
            ]
        ],
        Field(min_length=1),
    ]
    event: str
    urgency: Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
    severity: Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
    certainty: Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
    headline: str
    description: str = ""
    instruction: str = ""
    language: Language = "en"
    response_type: ResponseType | None = None
    expires: UtcDatetime | None = None
    area: AlertArea
    channels: list[AlertChannel] = Field(default_factory=list)
    translations: list[AlertText] = Field(default_factory=list)
    schema_version: str = SCHEMA_VERSION
