"""absence: after an `after` event, no `expect` event (same group, within R) until its deadline."""

from __future__ import annotations

from typing import Any

from rules.core.buffer import Buffer, Entry
from rules.core.kinds.base import Kind, Schedule
from rules.core.match import Match
from rules.core.reference import ReferenceStore
from rules.model import AbsenceSpec

_AFTER_ALL = "\U0010ffff"  # sorts after every id: a key bound that includes every event at a time


class AbsenceKind(Kind):
    name = "absence"

    def __init__(self, rule: Any, reference: ReferenceStore, schedule: Schedule):
        super().__init__(rule, reference, schedule)
        spec = rule.spec.correlate
        assert isinstance(spec, AbsenceSpec)
        self.after = rule.by_name[spec.after].index
        self.expect = rule.by_name[spec.expect].index
        self.timeout = spec.timeout

    def lookback(self) -> float:
        return self.timeout

    def add(self, state: list[Buffer], entry: Entry) -> None:
        if entry.sel in (self.after, self.expect):
            super().add(state, entry)
            if entry.sel == self.after:
                self.schedule(entry.ts + self.timeout, entry.group, f"{entry.ts!r}|{entry.ev.id}")

    def remove(self, state: list[Buffer], entry: Entry) -> None:
        if entry.sel in (self.after, self.expect):
            super().remove(state, entry)  # its timer stays and finds nothing (on_timer looks the event up)

    def trigger(self, state: list[Buffer], x: Entry) -> list[Match]:
        return []

    def later_affected(self, state: list[Buffer], sel: int, entry: Entry, watermark: float) -> bool:
        """A late `after` event whose deadline already passed would fire out of turn; a late expected event
        changes a deadline that already fired. Anything else only arms or awaits a timer."""
        if sel == self.after:
            return entry.ts + self.timeout <= watermark
        if sel != self.expect:
            return False
        for a in self.latest(state[self.after], entry, entry.ts - self.timeout, (entry.ts, _AFTER_ALL)):
            if a.ts + self.timeout <= watermark:
                return True
        return False

    def on_timer(self, state: list[Buffer], ref: str, ts: float, group: str) -> list[Match]:
        a_ts, _, a_id = ref.partition("|")
        a = state[self.after].find((float(a_ts), a_id))
        if a is None:
            return []
        # an expected event at a time in [a.time, deadline], whatever its id
        for b in self.latest(state[self.expect], a, a.ts, (ts, _AFTER_ALL)):
            if b.ev.id != a.ev.id:  # an event selected as both never cancels its own deadline
                return []
        if not self.inside_ok(a):
            return []
        name = self.rule.selections[self.after].name
        return [Match(a, a, {name: a.ev}, [a], group, ts)]

    def describe(self, state: Any) -> str:
        after, expect = (self.rule.selections[i].name for i in (self.after, self.expect))
        return f"{len(state[self.after])} '{after}' buffered, {len(state[self.expect])} '{expect}' buffered"
