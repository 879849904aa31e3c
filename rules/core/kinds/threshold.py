"""threshold: count, distinct count or sum of the trigger's members in the window that ends at it.

Members are scanned newest first. A match needs only enough of them to reach the threshold, and the witnesses
are exactly those; `count` and `distinct` are read per match only by priority terms and the key. So when the
terms merely compare them with numbers (`count >= 8`), the scan stops at the largest such number and a burst
of ten thousand calls costs what a handful does. The exact figures are computed only when a version shows
them in its title, summary or labels (rules/core/book.py, `shown`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rules.compiler import comparison_cap, referenced_names, template_names
from rules.core.buffer import Buffer, Entry, SlidingDistinct, _hashable
from rules.core.kinds.base import Kind, Schedule
from rules.core.match import Match
from rules.core.reference import ReferenceStore
from rules.model import ThresholdSpec

_MEASURES = ("count", "distinct", "sum")


def _as_number(v: Any) -> float | None:
    """A value `sum` adds up: an int or a float (not a bool); anything else is ignored."""
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


class ThresholdKind(Kind):
    name = "threshold"

    def __init__(self, rule: Any, reference: ReferenceStore, schedule: Schedule):
        super().__init__(rule, reference, schedule)
        spec = rule.spec.correlate
        assert isinstance(spec, ThresholdSpec)
        self.window = spec.window
        self.measure = "count" if spec.count else "distinct" if spec.distinct else "sum"
        self.at_least: float = spec.count or (spec.distinct.at_least if spec.distinct else spec.sum.at_least)  # type: ignore[union-attr]
        self.value = rule.selections[rule.trigger_index].measure
        inc = rule.spec.incident
        terms = [t.when for t in inc.priority.terms]
        per_match = set().union(*(referenced_names(t) for t in terms)) if terms else set()
        if inc.key:
            per_match |= template_names(inc.key)
        shown: set[str] = set()
        for text in [inc.title, inc.summary, *inc.labels.values()]:
            shown |= template_names(text)
        # How far to scan: None counts every member; a number stops once `count` (or `distinct`) reaches it.
        self.limit: int | None = None
        if self.measure in ("count", "distinct"):
            cap = comparison_cap(terms, self.measure)
            keyed = inc.key is not None and self.measure in template_names(inc.key)
            others = set(_MEASURES) - {self.measure}
            if cap is not None and not keyed and not (others & per_match):
                self.limit = max(int(self.at_least), cap)
        self.render = self.measure in shown or (self.measure == "distinct" and "count" in shown)

    def lookback(self) -> float:
        return self.window

    def new_group(self) -> list[Buffer]:
        index = self.rule.trigger_index
        return [Buffer(self.within) if i == index else Buffer(None) for i in range(len(self.rule.selections))]

    def add(self, state: list[Buffer], entry: Entry) -> None:
        if entry.sel == self.rule.trigger_index:
            super().add(state, entry)

    def remove(self, state: list[Buffer], entry: Entry) -> None:
        if entry.sel == self.rule.trigger_index:
            super().remove(state, entry)

    def trigger(self, state: list[Buffer], x: Entry) -> list[Match]:
        if x.sel != self.rule.trigger_index:
            return []
        if self.within is not None and x.lat is None:
            return []  # not within any distance of anything, itself included
        measure = self.measure
        at_least = self.at_least
        value = self.value
        limit = self.limit
        members = self._members(state, x, limit - 1 if limit is not None and measure == "count" else None)
        witnesses: list[Entry] = []
        count = 1
        full: Callable[[], dict[str, Any]] | None = None
        if measure == "count":
            need = int(at_least) - 1
            for e in members:
                if len(witnesses) < need:
                    witnesses.append(e)
                count += 1
                if limit is not None and count >= limit:
                    full = self._exact(state, x) if self.render else None
                    break
            if count < at_least:
                return []
            distinct, total = 0, 0.0
        elif measure == "distinct":
            v0 = value(x.ev) if value else None
            have = {_hashable(v0)} if v0 is not None else set()
            for e in members:
                count += 1
                v = value(e.ev) if value else None
                if v is None:
                    continue
                h = _hashable(v)
                if h not in have:
                    have.add(h)
                    if len(have) <= at_least:
                        witnesses.append(e)
                    if limit is not None and len(have) >= limit:
                        full = self._exact(state, x) if self.render else None
                        break
            if len(have) < at_least:
                return []
            distinct, total = len(have), 0.0
        else:
            others = list(members)
            count += len(others)
            values: list[float | None] = [_as_number(value(e.ev)) if value else None for e in others]
            v0 = _as_number(value(x.ev)) if value else None
            total = sum(v for v in [v0, *values] if v is not None)
            if total < at_least:
                return []
            distinct = 0
            taken = v0 or 0.0
            for e, v in zip(others, values, strict=True):
                if taken >= at_least:
                    break
                if v is not None and v > 0:
                    taken += v
                    witnesses.append(e)
        if not self.inside_ok(x):
            return []
        evidence = [*witnesses, x]
        evidence.sort(key=lambda e: e.key)
        name = self.rule.selections[x.sel].name
        return [Match(x, x, {name: x.ev}, evidence, x.group, x.ts, count, distinct, total, full=full)]

    def _members(self, state: list[Buffer], x: Entry, k: int | None) -> Any:
        """The other members of x's window, newest first (the newest k when k is given)."""
        buf = state[x.sel]
        lo = x.ts - self.window
        if self.within is None:
            return buf.latest(lo, x.key)
        return buf.newest_near(x.lat, x.lon, self.within, lo, x.key, k)

    def _exact(self, state: list[Buffer], x: Entry) -> Callable[[], dict[str, Any]]:
        """The exact `count` and `distinct` of x's window, for a version that shows them (taken from the
        buffer when asked: the entries at or before x stay until no version can need them)."""
        buf = state[x.sel]
        lo, key, lat, lon, radius, value = x.ts - self.window, x.key, x.lat, x.lon, self.within, self.value

        def exact() -> dict[str, Any]:
            if radius is None:
                if self.measure == "count" or value is None:
                    return {"count": 1 + buf.count(lo, key)}
                memo = SlidingDistinct.of(buf, lo, key)
                n = memo.advance(buf, lo, key, value)
                v = value(x.ev)
                fresh = v is not None and _hashable(v) not in memo.counts
                return {"count": 1 + n, "distinct": len(memo.counts) + fresh}
            if self.measure == "count":
                return {"count": 1 + buf.count_near(lat, lon, radius, lo, key)}  # type: ignore[arg-type]
            else:
                members = [x, *buf.newest_near(lat, lon, radius, lo, key, None)]
            out: dict[str, Any] = {"count": len(members)}
            if self.measure == "distinct" and value is not None:
                out["distinct"] = len({_hashable(v) for e in members if (v := value(e.ev)) is not None})
            return out

        return exact
