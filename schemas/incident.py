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
    """One state of an incident. Consumers keep the highest `version` per `id` (idempotent by id)."""

    id: str
    version: Annotated[int, Field(ge=1)]
    rule_id: str
    rule_version: int
    category: str
    status: IncidentStatus
    priority: Priority
    priority_base: Priority
    priority_terms: list[PriorityTerm] = Field(default_factory=list)
    title: str
    summary: str = ""
    key: str
    group: str = ""
    location: GeoPoint | None = None
    admin: AdminPath | None = None
    first_time: UtcDatetime
    last_time: UtcDatetime
    updated_time: UtcDatetime
    event_ids: list[str]
    event_count: Annotated[int, Field(ge=1)]
    labels: dict[str, str] = Field(default_factory=dict)
    playbook: list[PlaybookStep] = Field(default_factory=list)
    close_reason: str | None = None
    # Units that reported on_scene for this incident (unit.gps with assigned_incident), first arrival first;
    # time_to_arrive_s is the first arrival minus first_time. Kept by the core across versions.
    arrivals: list[UnitArrival] = Field(default_factory=list)
    time_to_arrive_s: Annotated[float, Field(ge=0.0)] | None = None
    # Added by enrichment (rules.context) on the way out; the core never sets it.
    context: IncidentContext | None = None
    schema_version: str = SCHEMA_VERSION


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
