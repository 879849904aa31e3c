"""threshold: count, distinct count or sum of the trigger's members in the window that ends at it."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

from rules.compiler import comparison_cap, template_names
from rules.core.buffer import Buffer, Entry
from rules.core.kinds.base import Kind, Schedule
from rules.core.match import Match
from rules.core.reference import ReferenceStore
from rules.geo import distance_m
from rules.model import ThresholdSpec


def _hashable(v: Any) -> Any:
    try:
        hash(v)
    except TypeError:
        return repr(v)
    return v


def _names(text: str) -> set[str]:
    from rules.compiler import referenced_names

    return referenced_names(text)


def near_point(e: Entry, lat: Any, lon: Any, radius: float) -> bool:
    return e.lat is not None and distance_m(lat, lon, e.lat, e.lon) <= radius  # type: ignore[arg-type]


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


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
        # How exact `count` must be when a trigger is evaluated: priority terms and the key read it per match,
        # templates only when a version is made. When terms only compare it with numbers, counting stops at the
        # largest one (a burst of ten thousand calls costs what four do); otherwise every member is counted.
        inc = rule.spec.incident
        terms = [t.when for t in inc.priority.terms]
        shown: set[str] = set()
        for text in [inc.title, inc.summary, *inc.labels.values()]:
            shown |= template_names(text)
        keyed = template_names(inc.key) if inc.key else set()
        other = {"distinct", "sum"} & (shown | keyed | {n for t in terms for n in _names(t)})
        cap = comparison_cap(terms, "count")
        self.count_limit: int | None = None  # None: count every member
        if self.measure == "count" and cap is not None and "count" not in keyed and not other:
            self.count_limit = max(int(self.at_least) - 1, cap - 1, 0)
        self.render_count = "count" in shown

    def lookback(self) -> float:
        return self.window

    def new_group(self) -> list[Buffer]:
        return [Buffer(self.within) if i == self.rule.trigger_index else Buffer(None) for i in range(len(self.rule.selections))]

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
        value = self.value
        full: Callable[[], int] | None = None
        if measure == "count" and self.count_limit is not None:
            limit = self.count_limit
            others = list(islice(self._members(state, x), limit))
            if len(others) + 1 < self.at_least:
                return []
            count, distinct, total = len(others) + 1, 0, 0.0
            if len(others) >= limit and self.render_count:
                full = self._counter(state, x)  # the exact count, only when a version shows it
            witnesses = others[: max(0, int(self.at_least) - 1)]
        elif measure == "count":
            others = list(self._members(state, x))
            if len(others) + 1 < self.at_least:
                return []
            count, distinct, total = len(others) + 1, 0, 0.0
            witnesses = others[: max(0, int(self.at_least) - 1)]
        else:
            others = list(self._members(state, x))
            values = [value(e.ev) if value else None for e in (x, *others)]
            if measure == "distinct":
                seen = {_hashable(v) for v in values if v is not None}
                if len(seen) < self.at_least:
                    return []
                count, distinct, total = len(values), len(seen), 0.0
            else:
                total = float(sum(v for v in values if _number(v)))
                if total < self.at_least:
                    return []
                count, distinct, total = len(values), 0, total
            witnesses = self._witnesses(x, others, values)
        if not self.inside_ok(x):
            return []
        evidence = [*reversed(witnesses), x] if witnesses else [x]
        evidence.sort(key=lambda e: e.key)
        name = self.rule.selections[x.sel].name
        return [Match(x, x, {name: x.ev}, evidence, x.group, x.ts, count, distinct, total, full_count=full)]

    def _members(self, state: list[Buffer], x: Entry) -> Any:
        """The other members of x's window, newest first."""
        buf = state[x.sel]
        lo = x.ts - self.window
        if self.within is None:
            return buf.latest(lo, x.key)
        return buf.latest_near(x.lat, x.lon, self.within, lo, x.key)

    def _counter(self, state: list[Buffer], x: Entry) -> Callable[[], int]:
        buf = state[x.sel]
        lo, key, lat, lon, radius = x.ts - self.window, x.key, x.lat, x.lon, self.within

        def count() -> int:
            if radius is None:
                return 1 + sum(1 for _ in buf.latest(lo, key))
            return 1 + sum(1 for e in buf.candidates(lat, lon, lo, key) if near_point(e, lat, lon, radius))

        return count

    def _witnesses(self, x: Entry, others: list[Entry], values: list[Any]) -> list[Entry]:
        """The members, newest first, that raise the measure until it reaches the threshold."""
        taken: list[Entry] = []
        if self.measure == "distinct":
            have = {_hashable(values[0])} if values[0] is not None else set()
            for e, v in zip(others, values[1:], strict=True):
                if len(have) >= self.at_least:
                    break
                if v is not None and _hashable(v) not in have:
                    have.add(_hashable(v))
                    taken.append(e)
        else:
            total = float(values[0]) if _number(values[0]) else 0.0
            for e, v in zip(others, values[1:], strict=True):
                if total >= self.at_least:
                    break
                if _number(v) and v > 0:
                    total += v
                    taken.append(e)
        return taken
