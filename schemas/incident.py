"""Incidents: what the engine decides, emitted as full-state versioned updates of one stable id."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from schemas.common import SCHEMA_VERSION, AdminPath, Contract, GeoPoint, UnitType, UtcDatetime
from schemas.context import IncidentContext, UnitArrival


class IncidentStatus(StrEnum):
    OPEN = "open"
    UPDATED = "updated"
    ESCALATED = "escalated"
    CLOSED = "closed"
    # Sent only as a correction: a late event showed that this incident does not exist (docs/semantics.md,
    # section 7). Consumers drop the id; the Kafka runtimes put a tombstone on incidents.latest.
    RETRACTED = "retracted"


class PriorityTerm(Contract):
    """One named term of the priority expression that applied, e.g. ("injured", -1)."""

    name: str
    delta: int


class PlaybookStep(Contract):
    """One step of a response scenario; unit steps say which units and how many to send."""

    action: str
    agency: str | None = None
    unit_type: UnitType | None = None
    units: Annotated[int, Field(ge=0)] | None = None


Priority = Annotated[int, Field(ge=1, le=5)]


class Incident(Contract):
    """One state of an incident. Consumers keep the highest `version` per `id` (idempotent by id).
    Priority runs from 1 (most urgent: life at risk, act now) to 5 (least urgent: information, trends)."""

    id: str = Field(description="Stable incident id (the same on every runtime); the Kafka key of its topics.")
    version: Annotated[int, Field(ge=1)] = Field(
        description="1 for the first state, +1 for each update; keep the highest version per id."
    )
    rule_id: str = Field(description="Id of the correlation rule that made the incident.")
    rule_version: int = Field(description="Version of that rule at the time of this state.")
    category: str = Field(description="Incident category of the rule, e.g. fire, traffic, crime, medical.")
    status: IncidentStatus = Field(
        description="open (first version), updated, escalated (priority rose), closed, or retracted (drop the id)."
    )
    priority: Priority = Field(
        description="Current priority, 1 = most urgent (life at risk, act now) ... 5 = least urgent "
        "(information, trends): priority_base plus the priority_terms' deltas, clamped to 1..5."
    )
    priority_base: Priority = Field(description="The rule's base priority on the same scale, 1 = most urgent.")
    priority_terms: list[PriorityTerm] = Field(
        default_factory=list, description="Named terms of the priority expression that applied, with their deltas."
    )
    title: str = Field(description="One line for the dispatcher, from the rule's title template.")
    summary: str = Field(default="", description="Longer text for the dispatcher, from the rule's template.")
    key: str = Field(description="The rule's incident key: evidence with the same key merges into this incident.")
    group: str = Field(default="", description="The rule's group-by value ('' when the rule has no group key).")
    location: GeoPoint | None = Field(default=None, description="Where it happens (WGS84), when known.")
    admin: AdminPath | None = Field(default=None, description="Republic / region / city / district, when known.")
    first_time: UtcDatetime = Field(description="Event time of the earliest evidence (UTC).")
    last_time: UtcDatetime = Field(description="Event time of the latest evidence (UTC).")
    updated_time: UtcDatetime = Field(description="Event time at which this version was made (UTC).")
    event_ids: list[str] = Field(description="Ids of the evidence events, in event-time order.")
    event_count: Annotated[int, Field(ge=1)] = Field(description="How many events the incident has merged.")
    labels: dict[str, str] = Field(default_factory=dict, description="Key/value labels set by the rule.")
    playbook: list[PlaybookStep] = Field(
        default_factory=list, description="Response steps of the rule's playbook (empty for analysis rules)."
    )
    close_reason: str | None = Field(
        default=None, description="Why it closed (quiet period, dispatcher close, ...); only when status is closed."
    )
    # Units that reported on_scene for this incident (unit.gps with assigned_incident), first arrival first;
    # time_to_arrive_s is the first arrival minus first_time. Kept by the core across versions.
    arrivals: list[UnitArrival] = Field(
        default_factory=list, description="Units that reported on scene for this incident, first arrival first."
    )
    time_to_arrive_s: Annotated[float, Field(ge=0.0)] | None = Field(
        default=None, description="Seconds from first_time to the first unit on scene."
    )
    # The first dispatch.action 'ack' naming this incident (its event time); kept across versions like arrivals.
    acknowledged_at: UtcDatetime | None = Field(
        default=None, description="Event time of the first dispatcher acknowledgement (dispatch.action 'ack')."
    )
    internal: bool = Field(
        default=False,
        description="True for incidents of helper rules (emit: false) that only feed chained rules; "
        "dispatch never sees them.",
    )
    # Added by enrichment (rules.context) on the way out; the core never sets it.
    context: IncidentContext | None = Field(
        default=None, description="Enrichment: admin ids, zones, cameras, history, nearby units (rules.context)."
    )
    schema_version: str = Field(default=SCHEMA_VERSION, description="Contract version of this record.")


IncidentUpdate = Incident
"""The core emits incidents as updates: each one is the whole new state of its id."""


def fold_latest(latest: dict[str, Incident], update: Incident) -> None:
    """What a consumer of incident updates keeps: the highest version per id, and nothing of a retracted id."""
    prev = latest.get(update.id)
    if prev is not None and prev.version >= update.version:
        return
    if update.status == IncidentStatus.RETRACTED:
        latest.pop(update.id, None)
    else:
        latest[update.id] = update
