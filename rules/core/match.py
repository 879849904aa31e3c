"""What a kind hands to the incident book: the events of one match (docs/semantics.md, section 4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rules.core.buffer import Entry, Key


@dataclass(slots=True)
class Match:
    trigger: Entry  # the event that completed the match; a replica's match only shadows (rules/core/book.py)
    anchor: Entry  # where the incident is
    bindings: dict[str, Any]  # selection name -> event record
    evidence: list[Entry]  # the events the match adds to its incident, in canonical order
    group: str
    time: float  # the trigger's time; an absence's deadline
    count: int = 1
    distinct: int = 0
    total: float = 0.0
    hit: Any = None
    hit_distance: int = 0
    # When `count`/`distinct` were counted only as far as the rule's terms compare them: the exact values,
    # for a version that shows them.
    full: Callable[[], dict[str, Any]] | None = None

    @property
    def key(self) -> tuple[float, Key]:
        """Matches of a rule are taken in this order: (match time, trigger key)."""
        return (self.time, self.trigger.key)
