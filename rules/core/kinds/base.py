"""What every correlation kind implements (docs/semantics.md, section 4).

A kind is pure over its buffers: `add` stores an event's entry in its group's state, `trigger` returns the
matches the entry completes from the entries at or before it, `remove` takes the newest entry back out (a
rollback). So a kind's matches are a function of the events, never of the order in which they came, and a
kind needs no undo records of its own. Timer-driven kinds (absence) also answer `on_timer`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rules.compiler import CRule
from rules.core.buffer import Buffer, Entry, near
from rules.core.match import Match
from rules.core.reference import ReferenceStore

Schedule = Callable[[float, str, str], None]  # (time, group, ref): the rule calls on_timer(state, ref, time, group)


class Kind:
    name: ClassVar[str] = ""
    # Stateless kinds (match, lookup) keep no buffers: a trigger is the whole match.
    stateful: ClassVar[bool] = True
    # A trigger's matches depend only on entries before it, so an entry that no later entry can see changes
    # nothing but its own matches (absence says what its late entries can change in later_affected).
    quiet_insert: ClassVar[bool] = True
    # How far from an entry another entry may be and still see it (in radii of `within`).
    reach_radii: ClassVar[float] = 1.0

    def __init__(self, rule: CRule, reference: ReferenceStore, schedule: Schedule):
        self.rule = rule
        self.reference = reference
        self.schedule = schedule
        spec = rule.spec.correlate
        self.within: float | None = spec.within
        self.inside: str | None = spec.inside
        self.max_partials = rule.spec.limits.max_partials
        self.overflow = 0

    # the contract ---------------------------------------------------------------------------------
    def new_group(self) -> list[Buffer]:
        return [Buffer(self.within) for _ in self.rule.selections]

    def add(self, state: Any, entry: Entry) -> None:
        buf = state[entry.sel]
        if len(buf) >= self.max_partials:
            buf.start += 1  # drop the oldest: a state limit, counted (results may then depend on order)
            self.overflow += 1
        buf.add(entry)

    def remove(self, state: Any, entry: Entry) -> None:
        state[entry.sel].pop(entry)

    def trigger(self, state: Any, entry: Entry) -> list[Match]:
        raise NotImplementedError

    def on_timer(self, state: Any, ref: str, ts: float, group: str) -> list[Match]:
        return []

    def lookback(self) -> float:
        """How far back in event time a trigger looks (the window, the gaps, the timeout)."""
        return 0.0

    def later_affected(self, state: list[Buffer], sel: int, entry: Entry, watermark: float) -> bool:
        """Could an entry after `entry` (in canonical order) see it: same group, within the lookback, near?"""
        until = entry.ts + self.lookback()
        reach = None if self.within is None else self.within * self.reach_radii
        for buf in state:
            entries = buf.entries
            i = len(entries) - 1
            while i >= buf.start:
                e = entries[i]
                if e.key <= entry.key:
                    break
                if e.ts <= until and (reach is None or near(e, entry, reach)):
                    return True
                i -= 1
        return False

    def expire(self, state: list[Buffer], cutoff: float) -> int:
        """Forget entries older than cutoff; returns how many are left."""
        left = 0
        for buf in state:
            buf.expire(cutoff)
            left += len(buf)
        return left

    def size(self, state: list[Buffer]) -> int:
        return sum(len(buf) for buf in state)

    def describe(self, state: Any) -> str:
        names = [s.name for s in self.rule.selections]
        return ", ".join(f"{n}: {len(buf)} buffered" for n, buf in zip(names, state, strict=False))

    # helpers --------------------------------------------------------------------------------------
    def inside_ok(self, entry: Entry) -> bool:
        if self.inside is None:
            return True
        return entry.lat is not None and self.reference.zones.contains(entry.lat, entry.lon, self.inside)  # type: ignore[arg-type]

    def latest(self, buf: Buffer, centre: Entry, lo: float, before: Any) -> Any:
        """Entries of `buf` with lo <= time, key < before, within the radius of `centre`, newest first."""
        if self.within is None:
            return buf.latest(lo, before)
        return buf.latest_near(centre.lat, centre.lon, self.within, lo, before)


class Stateless(Kind):
    stateful = False

    def later_affected(self, state: list[Buffer], sel: int, entry: Entry, watermark: float) -> bool:
        return False

    def new_group(self) -> list[Buffer]:
        return []

    def add(self, state: Any, entry: Entry) -> None:
        pass

    def remove(self, state: Any, entry: Entry) -> None:
        pass

    def describe(self, state: Any) -> str:
        return "stateless"
