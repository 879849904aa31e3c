"""How events are spread over partitions so that several workers share a city and every incident is still
found exactly once (docs/architecture.md, Partitioning). Pure: the producer, the Kafka worker and the Flink job use it.

  single   one key for everything: exact for any rule set; scale by running one worker group per rule set
           or per region.
  spatial  the key is a grid cell at least as wide as the replication radius. Each event is also copied,
           marked as a replica, into every neighbouring cell within the replication radius: the largest
           match radius plus the radius within which matches merge into one incident. Matches completed by
           a replica build shadow incidents (rules/core/incidents.py): the partition whose own event opened
           an incident emits it and every later version, the others only keep it in step, so a match in
           the next cell still merges into it. Exact for rules whose matches and merges are bounded in
           space around their anchor; the plan refuses rule sets with other rules.
"""

from __future__ import annotations

from typing import Any

from rules.loader import RuleSet
from schemas.partitioning import METRES_PER_DEGREE, SINGLE_KEY, Mode, PartitionPlan

__all__ = [
    "METRES_PER_DEGREE", "SINGLE_KEY", "Mode", "PartitionPlan", "PartitionPlanError", "cell_local_problem", "plan_for"
]  # fmt: skip


class PartitionPlanError(ValueError):
    """The rule set cannot be partitioned this way; the message names the rules and why."""


def cell_local_problem(rule: Any) -> str | None:
    """Why a rule's matches are not bounded around their anchor (None when they are)."""
    c = rule.spec.correlate
    if rule.depends_on:
        return "chains on other rules' incidents, which live in other partitions"
    if c.group_by is not None and c.within is None:
        return "groups by a key (group_by) with no radius, so its events may lie in any cell"
    if c.kind not in ("match", "lookup") and c.within is None and c.inside is None:
        return f"a {c.kind} rule with no radius (within) or zone (inside) correlates events across the city"
    if c.kind == "lookup" and rule.spec.incident.key is not None and rule.spec.incident.merge_within is None:
        return "merges incidents by a key with no radius (merge_within), across cells"
    return None


def plan_for(ruleset: RuleSet, mode: Mode, cell_m: float | None = None) -> PartitionPlan:
    if mode == "single":
        return PartitionPlan("single")
    problems = [f"{r.id} ({r.file}): {why}" for r in ruleset.rules if (why := cell_local_problem(r)) is not None]
    if problems:
        raise PartitionPlanError(
            "these rules cannot run on spatial partitions (run them with --partitioning single, or in a "
            "worker group of their own):\n  " + "\n  ".join(problems)
        )
    radius = max((_reach(r) for r in ruleset.rules), default=0.0)
    # cells at least as wide as the replication radius: an event is copied to at most its 8 neighbours
    cell = max(cell_m or 0.0, radius, 500.0)
    return PartitionPlan("spatial", cell, radius)


def _reach(rule: Any) -> float:
    """How far from an event of a cell the events of another match of the same incident can lie: the match
    the event completes has its anchor within the radius; the incident's place is within the merge radius of
    that anchor (rules.core.incidents.IncidentBook); the other match's events within the radius of its own
    anchor. Both partitions, the incident's owner and the one whose event completes a later match, then hold
    every event both matches saw (property-tested in tests/unit/test_spatial_exact.py)."""
    within = float(rule.spec.correlate.within or 0.0)
    inc = rule.spec.incident
    merge = inc.merge_within if inc.merge_within is not None else (within if inc.key is None else 0.0)
    return 2 * within + float(merge or 0.0)
