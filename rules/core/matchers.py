"""One matcher per correlation kind. Each keeps its state per group key in event time, bounded by
windows, the rule's limits and its state TTL; none of them reads a clock or does I/O."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from rules.compiler import CRule, CSelection
from rules.core.buffer import Buffer, Entry
from rules.core.match import Match
from rules.core.reference import ReferenceStore
from rules.core.timers import Timers
from rules.geo import haversine_m as distance_m
from rules.model import AbsenceSpec, CooccurSpec, LookupSpec, SequenceSpec, ThresholdSpec

EntryRef = list[Any]  # [event id, ts, selection index, replica] in snapshots


class Matcher:
    """Group bookkeeping shared by every kind: LRU over groups (max_keys), TTL, overflow counts."""

    kind = "match"
    # Stateless kinds take the record directly (on_record) and build an Entry only for a match.
    stateless = True

    def __init__(self, rule: CRule, timers: Timers, reference: ReferenceStore):
        self.rule = rule
        self.timers = timers
        self.reference = reference
        spec = rule.spec.correlate
        self.within: float | None = spec.within
        self.inside: str | None = spec.inside
        self.limits = rule.spec.limits
        self.groups: OrderedDict[str, Any] = OrderedDict()
        self.last_seen: dict[str, float] = {}
        self.overflow = 0
        self.partials = 0

    # groups -------------------------------------------------------------------------------------
    def new_group(self) -> Any:
        return None

    def group(self, key: str, ts: float) -> Any:
        state = self.groups.get(key)
        if state is None:
            if len(self.groups) >= self.limits.max_keys:
                old, _ = self.groups.popitem(last=False)
                self.last_seen.pop(old, None)
                self.overflow += 1
            state = self.groups[key] = self.new_group()
        else:
            self.groups.move_to_end(key)
        if ts > self.last_seen.get(key, float("-inf")):
            self.last_seen[key] = ts
        return state

    def sweep(self, watermark: float) -> None:
        """Drop groups idle for longer than the state TTL (event time)."""
        cutoff = watermark - self.limits.state_ttl
        for key in [k for k, seen in self.last_seen.items() if seen < cutoff]:
            self.groups.pop(key, None)
            self.last_seen.pop(key, None)

    def inside_ok(self, entry: Entry) -> bool:
        if self.inside is None:
            return True
        return entry.lat is not None and self.reference.zones.contains(entry.lat, entry.lon, self.inside)  # type: ignore[arg-type]

    def near(self, a: Entry, b: Entry) -> bool:
        if self.within is None:
            return True
        if a.lat is None or b.lat is None:
            return False
        return distance_m(a.lat, a.lon, b.lat, b.lon) <= self.within  # type: ignore[arg-type]

    # the contract every kind implements ---------------------------------------------------------
    def on_event(self, sel: CSelection, entry: Entry, group: str, watermark: float) -> list[Match]:
        if not self.inside_ok(entry):
            return []
        return [Match(entry, entry, {sel.name: entry.ev}, [entry], group, entry.ts)]

    def on_record(self, sel: CSelection, ev: Any, ts: float, replica: bool, group: str) -> list[Match]:
        return self.on_event(sel, Entry(ev, ts, sel.index, replica), group, ts)

    def on_timer(self, ts: float, ref: str, watermark: float) -> list[Match]:
        return []

    def size(self) -> int:
        return 0

    def dump(self, events: dict[str, Any]) -> dict[str, Any]:
        return {"overflow": self.overflow, "last_seen": self.last_seen}

    def load(self, state: dict[str, Any], events: dict[str, Any]) -> None:
        self.overflow = state.get("overflow", 0)

    def restore_group_order(self, state: dict[str, Any]) -> None:
        self.last_seen = {k: float(v) for k, v in state.get("last_seen", {}).items()}
        for key in sorted(self.groups, key=lambda k: self.last_seen.get(k, 0.0)):
            self.groups.move_to_end(key)


def ref_of(entry: Entry, events: dict[str, Any]) -> EntryRef:
    events[entry.ev.id] = entry.ev
    return [entry.ev.id, entry.ts, entry.sel, entry.replica]


def entry_of(ref: EntryRef, events: dict[str, Any]) -> Entry:
    return Entry(events[ref[0]], float(ref[1]), int(ref[2]), bool(ref[3]))


class _Buffered(Matcher):
    """Kinds that keep recent events per selection in buffers with an optional grid index."""

    horizon = 0.0  # how far behind the trigger a partner may be (seconds)
    stateless = False

    def __init__(self, rule: CRule, timers: Timers, reference: ReferenceStore):
        super().__init__(rule, timers, reference)
        self.nsel = len(rule.selections)

    def new_group(self) -> list[Buffer]:
        return [Buffer(self.within) for _ in range(self.nsel)]

    def add(self, buffers: list[Buffer], entry: Entry, watermark: float) -> None:
        cutoff = watermark - self.rule.lateness - self.horizon
        for buf in buffers:
            self.partials -= buf.expire(cutoff)
        buf = buffers[entry.sel]
        if len(buf) >= self.limits.max_partials:
            buf.pop_oldest()
            self.partials -= 1
            self.overflow += 1
        buf.add(entry)
        self.partials += 1

    def candidates(self, buf: Buffer, ref: Entry, lo: float, hi: float) -> Any:
        if self.within is not None:
            return buf.near(ref.lat, ref.lon, self.within, lo, hi)
        return buf.recent(lo, hi)

    def size(self) -> int:
        return self.partials

    def sweep(self, watermark: float) -> None:
        super().sweep(watermark)
        cutoff = watermark - self.rule.lateness - self.horizon
        self.partials = 0
        for buffers in self.groups.values():
            for buf in buffers:
                buf.expire(cutoff)
                self.partials += len(buf)

    def dump(self, events: dict[str, Any]) -> dict[str, Any]:
        out = super().dump(events)
        out["groups"] = {
            key: [[ref_of(e, events) for e in buf.entries] for buf in buffers] for key, buffers in self.groups.items()
        }
        return out

    def load(self, state: dict[str, Any], events: dict[str, Any]) -> None:
        super().load(state, events)
        for key, bufs in state.get("groups", {}).items():
            buffers = self.new_group()
            for buf, refs in zip(buffers, bufs, strict=False):
                for ref in refs:
                    buf.add(entry_of(ref, events))
                    self.partials += 1
            self.groups[key] = buffers
        self.restore_group_order(state)


class ThresholdMatcher(_Buffered):
    """count / distinct / sum of selected events in a sliding event-time window (optionally within R)."""

    kind = "threshold"

    def __init__(self, rule: CRule, timers: Timers, reference: ReferenceStore):
        super().__init__(rule, timers, reference)
        spec = rule.spec.correlate
        assert isinstance(spec, ThresholdSpec)
        self.window = spec.window
        self.horizon = spec.window
        self.measure = "count" if spec.count else "distinct" if spec.distinct else "sum"
        self.at_least: float = spec.count or (spec.distinct.at_least if spec.distinct else spec.sum.at_least)  # type: ignore[union-attr]

    def _value(self, entries: list[Entry]) -> tuple[float, int, float]:
        if self.measure == "count":
            return float(len(entries)), 0, 0.0
        fn = self.rule.selections[entries[0].sel].measure
        values = [fn(e.ev) for e in entries] if fn else []
        if self.measure == "distinct":
            distinct = len({v for v in values if v is not None})
            return float(distinct), distinct, 0.0
        total = float(sum(v for v in values if isinstance(v, int | float)))
        return total, 0, total

    def on_event(self, sel: CSelection, entry: Entry, group: str, watermark: float) -> list[Match]:
        buffers = self.group(group, entry.ts)
        self.add(buffers, entry, watermark)
        if not self.inside_ok(entry):
            return []
        w = self.window
        pool = sorted(self.candidates(buffers[entry.sel], entry, entry.ts - w, entry.ts + w), key=lambda e: e.ts)
        if len(pool) < (self.at_least if self.measure == "count" else 1):
            return []
        # Every window [end - w, end] that contains the trigger; in order arrival only end = trigger time.
        ends = [entry.ts] + [e.ts for e in pool if e.ts > entry.ts]
        for end in ends:
            members = [e for e in pool if end - w <= e.ts <= end]
            value, distinct, total = self._value(members)
            if value >= self.at_least:
                return [
                    Match(entry, entry, {sel.name: entry.ev}, members, group, entry.ts, len(members), distinct, total)
                ]
        return []


class CooccurMatcher(_Buffered):
    """At least `min` of the named selections, in any order, within the window (and within R)."""

    kind = "cooccur"

    def __init__(self, rule: CRule, timers: Timers, reference: ReferenceStore):
        super().__init__(rule, timers, reference)
        spec = rule.spec.correlate
        assert isinstance(spec, CooccurSpec)
        names = spec.of or [s.name for s in rule.selections]
        self.of = [rule.by_name[n].index for n in names]
        self.need = spec.min or len(self.of)
        self.window = spec.window
        self.horizon = spec.window
        self.anchor = rule.by_name[spec.anchor].index if spec.anchor else None

    def on_event(self, sel: CSelection, entry: Entry, group: str, watermark: float) -> list[Match]:
        buffers = self.group(group, entry.ts)
        self.add(buffers, entry, watermark)
        lo, hi = entry.ts - self.window, entry.ts + self.window
        bound: dict[int, Entry] = {sel.index: entry}
        ref = entry
        if self.anchor is not None and self.anchor != sel.index:
            found = next(iter(self.candidates(buffers[self.anchor], entry, lo, hi)), None)
            if found is not None:
                bound[self.anchor] = ref = found
        for index in self.of:
            if index in bound:
                continue
            found = next(iter(self.candidates(buffers[index], ref, lo, hi)), None)
            if found is not None:
                bound[index] = found
        if sum(1 for i in self.of if i in bound) < self.need:
            return []
        anchor = bound.get(self.anchor, entry) if self.anchor is not None else entry
        if not self.inside_ok(anchor):
            return []
        entries = sorted(bound.values(), key=lambda e: (e.ts, e.ev.id))
        names = {self.rule.selections[i].name: e.ev for i, e in bound.items()}
        return [Match(entry, anchor, names, entries, group, entry.ts, len(entries))]


class _Run:
    __slots__ = ("bound", "last_ts", "pos")

    def __init__(self, steps: int, first: Entry):
        self.bound: list[Entry | None] = [first] + [None] * (steps - 1)
        self.pos = 0
        self.last_ts = first.ts


class SequenceMatcher(Matcher):
    """Ordered steps, each within its max_gap of the step before; optional steps may be skipped."""

    kind = "sequence"
    stateless = False

    def __init__(self, rule: CRule, timers: Timers, reference: ReferenceStore):
        super().__init__(rule, timers, reference)
        spec = rule.spec.correlate
        assert isinstance(spec, SequenceSpec)
        self.steps = [(rule.by_name[s.select].index, s.max_gap or 0.0, s.optional) for s in spec.steps]
        # from step i, which later steps may bind next (skipping optional ones) and the longest gap allowed
        self.next_steps: list[list[int]] = []
        self.max_wait: list[float] = []
        for i in range(len(self.steps)):
            nxt = []
            for j in range(i + 1, len(self.steps)):
                nxt.append(j)
                if not self.steps[j][2]:
                    break
            self.next_steps.append(nxt)
            self.max_wait.append(max((self.steps[j][1] for j in nxt), default=0.0))

    def new_group(self) -> list[_Run]:
        return []

    def _expire(self, runs: list[_Run], watermark: float) -> None:
        keep = [r for r in runs if r.last_ts + self.max_wait[r.pos] + self.rule.lateness >= watermark]
        self.partials -= len(runs) - len(keep)
        runs[:] = keep

    def on_event(self, sel: CSelection, entry: Entry, group: str, watermark: float) -> list[Match]:
        runs: list[_Run] = self.group(group, entry.ts)
        self._expire(runs, watermark)
        matches: list[Match] = []
        last = len(self.steps) - 1
        for run in list(runs):
            first = run.bound[0]
            assert first is not None
            for j in self.next_steps[run.pos]:
                index, gap, _ = self.steps[j]
                if index == sel.index and run.last_ts <= entry.ts <= run.last_ts + gap and self.near(first, entry):
                    run.bound[j] = entry
                    run.pos = j
                    run.last_ts = entry.ts
                    if j == last:
                        runs.remove(run)
                        self.partials -= 1
                        if self.inside_ok(first):
                            matches.append(self._match(run, entry, group))
                    break
        if sel.index == self.steps[0][0]:
            if len(runs) >= self.limits.max_partials:
                runs.pop(0)
                self.partials -= 1
                self.overflow += 1
            runs.append(_Run(len(self.steps), entry))
            self.partials += 1
        return matches

    def _match(self, run: _Run, trigger: Entry, group: str) -> Match:
        entries = [e for e in run.bound if e is not None]
        names = {self.rule.selections[self.steps[j][0]].name: e.ev for j, e in enumerate(run.bound) if e is not None}
        return Match(trigger, entries[0], names, entries, group, trigger.ts, len(entries))

    def size(self) -> int:
        return self.partials

    def sweep(self, watermark: float) -> None:
        super().sweep(watermark)
        for runs in self.groups.values():
            self._expire(runs, watermark)

    def dump(self, events: dict[str, Any]) -> dict[str, Any]:
        out = super().dump(events)
        out["groups"] = {
            key: [[[ref_of(e, events) if e else None for e in r.bound], r.pos, r.last_ts] for r in runs]
            for key, runs in self.groups.items()
        }
        return out

    def load(self, state: dict[str, Any], events: dict[str, Any]) -> None:
        super().load(state, events)
        for key, runs in state.get("groups", {}).items():
            restored = []
            for bound, pos, last_ts in runs:
                entries = [entry_of(r, events) if r else None for r in bound]
                run = _Run(len(self.steps), entries[0])  # type: ignore[arg-type]
                run.bound, run.pos, run.last_ts = entries, int(pos), float(last_ts)
                restored.append(run)
            self.groups[key] = restored
            self.partials += len(restored)
        self.restore_group_order(state)


class _AbsenceGroup:
    __slots__ = ("expected", "pending")

    def __init__(self, radius: float | None):
        self.pending: list[Entry] = []
        self.expected = Buffer(radius)


class AbsenceMatcher(Matcher):
    """After an `after` event, no `expect` event (same group, within R) within the timeout."""

    kind = "absence"
    stateless = False

    def __init__(self, rule: CRule, timers: Timers, reference: ReferenceStore):
        super().__init__(rule, timers, reference)
        spec = rule.spec.correlate
        assert isinstance(spec, AbsenceSpec)
        self.after = rule.by_name[spec.after].index
        self.expect = rule.by_name[spec.expect].index
        self.timeout = spec.timeout

    def new_group(self) -> _AbsenceGroup:
        return _AbsenceGroup(self.within)

    def _satisfies(self, a: Entry, b: Entry) -> bool:
        return a.ts <= b.ts <= a.ts + self.timeout and self.near(a, b)

    def on_event(self, sel: CSelection, entry: Entry, group: str, watermark: float) -> list[Match]:
        state: _AbsenceGroup = self.group(group, entry.ts)
        if sel.index == self.after:
            # The expected event may already be here (out-of-order arrival).
            if self.within is not None:
                seen = next(
                    iter(state.expected.near(entry.lat, entry.lon, self.within, entry.ts, entry.ts + self.timeout)),
                    None,
                )
            else:
                seen = next(iter(state.expected.recent(entry.ts, entry.ts + self.timeout)), None)
            if seen is None:
                if len(state.pending) >= self.limits.max_partials:
                    state.pending.pop(0)
                    self.overflow += 1
                    self.partials -= 1
                state.pending.append(entry)
                self.partials += 1
                self.timers.register(entry.ts + self.timeout, self.rule.state_key, "absence", group)
        elif sel.index == self.expect:
            state.expected.expire(watermark - self.rule.lateness - self.timeout)
            state.expected.add(entry)
            kept = [a for a in state.pending if not self._satisfies(a, entry)]
            self.partials -= len(state.pending) - len(kept)
            state.pending = kept
        return []

    def on_timer(self, ts: float, ref: str, watermark: float) -> list[Match]:
        state: _AbsenceGroup | None = self.groups.get(ref)
        if state is None:
            return []
        matches = []
        # Only what is due at this timer's own time: each pending event has its own timer, so the
        # order of output follows the deadlines even when one watermark step passes many of them.
        due = [a for a in state.pending if a.ts + self.timeout <= ts]
        if not due:
            return []
        state.pending = [a for a in state.pending if a.ts + self.timeout > ts]
        self.partials -= len(due)
        name = self.rule.selections[self.after].name
        for a in due:
            if self.inside_ok(a):
                matches.append(Match(a, a, {name: a.ev}, [a], ref, a.ts + self.timeout))
        return matches

    def size(self) -> int:
        return self.partials + sum(len(g.expected) for g in self.groups.values())

    def sweep(self, watermark: float) -> None:
        super().sweep(watermark)
        for g in self.groups.values():
            g.expected.expire(watermark - self.rule.lateness - self.timeout)
        self.partials = sum(len(g.pending) for g in self.groups.values())

    def dump(self, events: dict[str, Any]) -> dict[str, Any]:
        out = super().dump(events)
        out["groups"] = {
            key: [[ref_of(e, events) for e in g.pending], [ref_of(e, events) for e in g.expected.entries]]
            for key, g in self.groups.items()
        }
        return out

    def load(self, state: dict[str, Any], events: dict[str, Any]) -> None:
        super().load(state, events)
        for key, (pending, expected) in state.get("groups", {}).items():
            g = _AbsenceGroup(self.within)
            g.pending = [entry_of(r, events) for r in pending]
            for r in expected:
                g.expected.add(entry_of(r, events))
            self.groups[key] = g
            self.partials += len(g.pending)
            for a in g.pending:
                self.timers.register(a.ts + self.timeout, self.rule.state_key, "absence", key)
        self.restore_group_order(state)


class LookupMatcher(Matcher):
    """Join each selected event with a reference table as of its event time (exact or fuzzy key)."""

    kind = "lookup"

    def __init__(self, rule: CRule, timers: Timers, reference: ReferenceStore):
        super().__init__(rule, timers, reference)
        spec = rule.spec.correlate
        assert isinstance(spec, LookupSpec)
        self.fuzzy = spec.fuzzy
        self.as_name = spec.as_

    def on_event(self, sel: CSelection, entry: Entry, group: str, watermark: float) -> list[Match]:
        return self.on_record(sel, entry.ev, entry.ts, entry.replica, group)

    def on_record(self, sel: CSelection, ev: Any, ts: float, replica: bool, group: str) -> list[Match]:
        key_fn = self.rule.lookup_key
        if key_fn is None:
            return []
        key = key_fn(ev)
        if not key:
            return []
        found = self.reference.hotlist.lookup(key if type(key) is str else str(key), ts, self.fuzzy)
        if found is None:
            return []
        entry = Entry(ev, ts, sel.index, replica)
        if not self.inside_ok(entry):
            return []
        hit, distance = found
        return [Match(entry, entry, {sel.name: ev}, [entry], group, ts, hit=hit, hit_distance=distance)]


MATCHERS: dict[str, type[Matcher]] = {
    "match": Matcher,
    "threshold": ThresholdMatcher,
    "cooccur": CooccurMatcher,
    "sequence": SequenceMatcher,
    "absence": AbsenceMatcher,
    "lookup": LookupMatcher,
}
