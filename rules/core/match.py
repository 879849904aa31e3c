"""What a matcher hands to the incident book: the events that made one match."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rules.core.buffer import Entry


@dataclass(slots=True)
class Match:
    trigger: Entry  # the event that completed the match: a replica's match only shadows (rules/core/incidents.py)
    anchor: Entry  # where the incident is
    bindings: dict[str, Any]  # selection name -> event record
    entries: list[Entry]
    group: str
    time: float  # event time at which the match holds
    count: int = 1
    distinct: int = 0
    total: float = 0.0
    hit: Any = None
    hit_distance: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
