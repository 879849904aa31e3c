"""cooccur: at least `min` of the named selections within the window before the trigger (and the radius)."""

from __future__ import annotations

from typing import Any

from rules.core.buffer import Buffer, Entry
from rules.core.kinds.base import Kind, Schedule
from rules.core.match import Match
from rules.core.reference import ReferenceStore
from rules.model import CooccurSpec


class CooccurKind(Kind):
    name = "cooccur"
    reach_radii = 2.0  # a partner is within R of the centre, the centre within R of the trigger

    def __init__(self, rule: Any, reference: ReferenceStore, schedule: Schedule):
        super().__init__(rule, reference, schedule)
        spec = rule.spec.correlate
        assert isinstance(spec, CooccurSpec)
        # partners are bound in the order of their names, not of `select` or `of` (docs/semantics.md, cooccur)
        names = sorted(spec.of or [s.name for s in rule.selections])
        self.of = [rule.by_name[n].index for n in names]
        self.need = spec.min or len(self.of)
        self.window = spec.window
        self.anchor = rule.by_name[spec.anchor].index if spec.anchor else None
        self.where = rule.match_where
        self.involved = frozenset([*self.of, *([self.anchor] if self.anchor is not None else [])])

    def lookback(self) -> float:
        return self.window

    def add(self, state: list[Buffer], entry: Entry) -> None:
        if entry.sel in self.involved:
            super().add(state, entry)

    def remove(self, state: list[Buffer], entry: Entry) -> None:
        if entry.sel in self.involved:
            super().remove(state, entry)

    def trigger(self, state: list[Buffer], x: Entry) -> list[Match]:
        if x.sel not in self.involved:
            return []
        lo = x.ts - self.window
        bound: dict[int, Entry] = {x.sel: x}
        ids = {x.ev.id}
        centre = x
        if self.anchor is not None and x.sel != self.anchor:
            a = _first(self.latest(state[self.anchor], x, lo, x.key), ids)
            if a is not None:
                bound[self.anchor] = centre = a
                ids.add(a.ev.id)
        for o in self.of:
            if o in bound:
                continue
            y = _first(self.latest(state[o], centre, lo, x.key), ids)
            if y is not None:
                bound[o] = y
                ids.add(y.ev.id)
        if sum(1 for i in self.of if i in bound) < self.need:
            return []
        names = {self.rule.selections[i].name: e.ev for i, e in bound.items()}
        if self.where is not None:
            ctx = {s.name: None for s in self.rule.selections}
            ctx.update(names)
            if not self.where.fn(ctx):
                return []
        if not self.inside_ok(centre):
            return []
        evidence = sorted(bound.values(), key=lambda e: e.key)
        return [Match(x, centre, names, evidence, x.group, x.ts, len(evidence))]


def _first(entries: Any, ids: set[str]) -> Entry | None:
    for e in entries:
        if e.ev.id not in ids:
            return e  # type: ignore[no-any-return]
    return None
