"""sequence: ordered steps, bound from the last backwards to the latest eligible events."""

from __future__ import annotations

from typing import Any

from rules.core.buffer import Buffer, Entry
from rules.core.kinds.base import Kind, Schedule
from rules.core.match import Match
from rules.core.reference import ReferenceStore
from rules.model import SequenceSpec


class SequenceKind(Kind):
    name = "sequence"

    def __init__(self, rule: Any, reference: ReferenceStore, schedule: Schedule):
        super().__init__(rule, reference, schedule)
        spec = rule.spec.correlate
        assert isinstance(spec, SequenceSpec)
        self.steps = [(rule.by_name[s.select].index, s.max_gap or 0.0, s.optional) for s in spec.steps]
        self.names = [s.select for s in spec.steps]
        self.last = self.steps[-1][0]
        # the location: the step that `anchor` names (its first step if several), else the first step
        self.anchor_step = self.names.index(spec.anchor) if spec.anchor else 0
        self.where = rule.match_where

    def lookback(self) -> float:
        return sum(gap for _, gap, _ in self.steps)

    def trigger(self, state: list[Buffer], x: Entry) -> list[Match]:
        if x.sel != self.last:
            return []
        n = len(self.steps)
        bound: list[Entry | None] = [None] * n
        bound[n - 1] = x
        ids = {x.ev.id}
        checked = [False]
        if self.where is not None and self._where_ready(bound):
            if not self._where_holds(bound):
                return []
            checked[0] = True

        def back(i: int, z: Entry, z_step: int) -> bool:
            if i < 0:
                return checked[0] or self.where is None or self._where_holds(bound)
            sel, _, optional = self.steps[i]
            gap = self.steps[z_step][1]
            for y in self.latest(state[sel], x, z.ts - gap, z.key):
                if y.ev.id in ids:
                    continue
                bound[i] = y
                if self.where is not None and not checked[0] and self._where_ready(bound):
                    if not self._where_holds(bound):
                        bound[i] = None
                        continue  # not eligible: the condition fails with it
                    checked[0] = True
                    ids.add(y.ev.id)
                    if back(i - 1, y, i):
                        return True
                    checked[0] = False
                else:
                    ids.add(y.ev.id)
                    if back(i - 1, y, i):
                        return True
                ids.discard(y.ev.id)
                bound[i] = None
                if not optional:
                    return False
                break
            if optional:
                return back(i - 1, z, z_step)
            return False

        if not back(n - 2, x, n - 1):
            return []
        entries = [e for e in bound if e is not None]
        anchor = bound[self.anchor_step] or entries[0]
        if not self.inside_ok(anchor):
            return []
        names = {self.names[j]: e.ev for j, e in enumerate(bound) if e is not None}
        return [Match(x, anchor, names, entries, x.group, x.ts, len(entries))]

    def _where_ready(self, bound: list[Entry | None]) -> bool:
        assert self.where is not None
        have = {self.names[j] for j, e in enumerate(bound) if e is not None}
        return bool(self.where.names <= have)

    def _where_holds(self, bound: list[Entry | None]) -> bool:
        assert self.where is not None
        return self._eval(bound) is True

    def _eval(self, bound: list[Entry | None]) -> Any:
        assert self.where is not None
        ctx: dict[str, Any] = {s.name: None for s in self.rule.selections}
        for j, e in enumerate(bound):
            if e is not None:
                ctx[self.names[j]] = e.ev
        return self.where.fn(ctx)
