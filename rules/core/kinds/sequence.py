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
        # the steps whose bindings the condition reads: it is ready to evaluate once these are bound
        names = self.where.names if self.where is not None else frozenset()
        self._need = tuple(j for j, name in enumerate(self.names) if name in names)
        self._ready_never = bool(names - set(self.names))  # it names a selection no step binds
        self._ctx0: dict[str, Any] = {s.name: None for s in rule.selections}
        # Two steps, the first required, the condition ready once both are bound: the search below is a
        # single loop (the common shape: A then B within a gap), same answer as the general search.
        self._pair = len(self.steps) == 2 and not self.steps[0][2] and not self._ready_never

    def lookback(self) -> float:
        return sum(gap for _, gap, _ in self.steps)

    def trigger(self, state: list[Buffer], x: Entry) -> list[Match]:
        if x.sel != self.last:
            return []
        if self._pair:
            return self._trigger_pair(state, x)
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

    def _trigger_pair(self, state: list[Buffer], x: Entry) -> list[Match]:
        """`back` of trigger for two steps: the newest eligible first-step event (not x itself) for which the
        condition holds."""
        where = self.where
        bound: list[Entry | None] = [None, x]
        if where is not None and 0 not in self._need and not self._where_holds(bound):
            return []  # the condition reads only x: it fails whatever the first step binds
        xid = x.ev.id
        first = self.steps[0][0]
        for y in self.latest(state[first], x, x.ts - self.steps[1][1], x.key):
            if y.ev.id == xid:
                continue
            bound[0] = y
            if where is None or 0 not in self._need or self._where_holds(bound):
                break
        else:
            return []
        anchor = bound[self.anchor_step] or y
        if not self.inside_ok(anchor):
            return []
        names = {self.names[0]: y.ev, self.names[1]: x.ev}
        return [Match(x, anchor, names, [y, x], x.group, x.ts, 2)]

    def _where_ready(self, bound: list[Entry | None]) -> bool:
        if self._ready_never:
            return False
        return all(bound[j] is not None for j in self._need)

    def _where_holds(self, bound: list[Entry | None]) -> bool:
        assert self.where is not None
        return self._eval(bound) is True

    def _eval(self, bound: list[Entry | None]) -> Any:
        assert self.where is not None
        ctx = dict(self._ctx0)
        for j, e in enumerate(bound):
            if e is not None:
                ctx[self.names[j]] = e.ev
        return self.where.fn(ctx)
