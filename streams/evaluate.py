"""Score the engine's incidents against a simulation's ground truth, per rule.

An incident matches a truth item when the rule ids are equal, the places are within 500 m (or either has
no place), and the incident was first detected within [truth.start - 5 min, truth.time + 30 min].
Matching is one-to-one and greedy in time: truth items in order of `time` each take the earliest
unmatched incident that fits. Time to detect = first detection - truth.time, in seconds (negative when
the engine fired before the planted pattern was complete, e.g. on a partial pattern).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import ValidationError

from rules import geo
from schemas import GeoPoint, Incident
from streams.sim.io import open_text
from streams.sim.truth import TruthItem

MATCH_RADIUS_M = 500.0
EARLY = timedelta(minutes=5)
LATE = timedelta(minutes=30)


@dataclass(frozen=True)
class IncidentSummary:
    """One incident id folded over its versions."""

    id: str
    rule_id: str
    detected: datetime  # updated_time of the first version
    first_time: datetime
    location: GeoPoint | None  # of the first version: where it was detected (a moving incident moves on)
    versions: int


def fold_incidents(updates: Iterable[Incident]) -> list[IncidentSummary]:
    by_id: dict[str, list[Incident]] = defaultdict(list)
    for inc in updates:
        by_id[inc.id].append(inc)
    out = []
    for iid, versions in by_id.items():
        versions.sort(key=lambda v: (v.version, v.updated_time))
        first = versions[0]
        out.append(
            IncidentSummary(iid, first.rule_id, first.updated_time, first.first_time, first.location, len(versions))
        )
    out.sort(key=lambda s: (s.detected, s.id))
    return out


class IncidentFileError(ValueError):
    """A line of an incidents file is not an incident (the message names the file and line)."""


def read_incidents(path: str | Path) -> list[IncidentSummary]:
    def incidents(fh: Iterable[str]) -> Iterable[Incident]:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield Incident.model_validate_json(line)
            except ValidationError as exc:
                problem = exc.errors(include_url=False)[0]["msg"]
                raise IncidentFileError(f"{path}:{n}: not an incident ({problem})") from None

    with open_text(path, "r") as fh:
        return fold_incidents(incidents(fh))


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """The rules' distance (WGS84, rules.geo.distance_m)."""
    return geo.distance_m(a.lat, a.lon, b.lat, b.lon)


def matches(truth: TruthItem, inc: IncidentSummary) -> bool:
    if truth.rule_id != inc.rule_id:
        return False
    if (
        truth.location is not None
        and inc.location is not None
        and distance_m(truth.location, inc.location) > MATCH_RADIUS_M
    ):
        return False
    return truth.start - EARLY <= inc.detected <= truth.time + LATE


def p95(values: list[float]) -> float | None:
    """Nearest-rank 95th percentile."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


@dataclass
class RuleScore:
    rule_id: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    ttd: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def ttd_mean(self) -> float | None:
        return sum(self.ttd) / len(self.ttd) if self.ttd else None

    def as_dict(self) -> dict[str, object]:
        return {
            "rule_id": self.rule_id,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "ttd_mean_s": self.ttd_mean,
            "ttd_p95_s": p95(self.ttd),
        }


@dataclass
class Evaluation:
    rules: list[RuleScore]
    unplanted: dict[str, int]  # rule id -> incidents, for rules with no planted truth
    missed: list[str] = field(default_factory=list)  # truth ids not detected

    @property
    def totals(self) -> RuleScore:
        t = RuleScore("TOTAL")
        for r in self.rules:
            t.tp, t.fp, t.fn = t.tp + r.tp, t.fp + r.fp, t.fn + r.fn
            t.ttd += r.ttd
        return t

    def as_dict(self) -> dict[str, object]:
        return {
            "rules": [r.as_dict() for r in self.rules],
            "totals": self.totals.as_dict(),
            "unplanted": self.unplanted,
            "missed": self.missed,
        }


def evaluate(truth: list[TruthItem], incidents: list[IncidentSummary]) -> Evaluation:
    truth_by_rule: dict[str, list[TruthItem]] = defaultdict(list)
    for t in truth:
        truth_by_rule[t.rule_id].append(t)
    inc_by_rule: dict[str, list[IncidentSummary]] = defaultdict(list)
    for inc in incidents:
        inc_by_rule[inc.rule_id].append(inc)
    scores, missed = [], []
    for rule_id in sorted(truth_by_rule):
        score = RuleScore(rule_id)
        pool = sorted(inc_by_rule.get(rule_id, []), key=lambda s: (s.detected, s.id))
        used = [False] * len(pool)
        for t in sorted(truth_by_rule[rule_id], key=lambda x: (x.time, x.truth_id)):
            hit = next((i for i, inc in enumerate(pool) if not used[i] and matches(t, inc)), None)
            if hit is None:
                score.fn += 1
                missed.append(t.truth_id)
                continue
            used[hit] = True
            score.tp += 1
            score.ttd.append((pool[hit].detected - t.time).total_seconds())
        score.fp = used.count(False)
        scores.append(score)
    unplanted = {r: len(v) for r, v in sorted(inc_by_rule.items()) if r not in truth_by_rule}
    return Evaluation(scores, unplanted, missed)
