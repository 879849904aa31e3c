"""The Correlator: the core contract of docs/architecture.md ("The core contract").

    on_event(event) -> [Incident]      on_watermark(t) -> [Incident]      next_deadline() -> datetime | None
    snapshot() -> bytes                restore(bytes)

Results are a function of the events, not of their arrival (docs/semantics.md): each rule runs its inputs in
canonical order, going back and redoing when one arrives late (rules/core/rule.py), and this module turns
what that changed into what is sent: the versions of new incidents, corrections of incidents already sent,
retractions of incidents that no longer exist, and the canonical versions that chained rules select.
No clock is read here; event time and the watermark are inputs.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rules.compiler import CRule, group_of
from rules.core.book import CLOSE, FLUSH
from rules.core.buffer import Key
from rules.core.router import Route, Router
from rules.core.rule import MATCH_TIMER, Item, Rewind, RuleRuntime
from rules.core.snapshot import dump_core, load_core
from rules.core.timers import Timers
from rules.loader import RuleSet
from rules.records import record_from_model
from schemas import REFERENCE_TYPES, Incident, IncidentEvent, IncidentStatus

ACTION_TYPES = ("dispatch.action", "unit.gps")  # the types _action reads

MAX_CHAIN_DEPTH = 16
_RANK = {MATCH_TIMER: 1.0, FLUSH: 2.0, CLOSE: 3.0}  # timer kinds at one time, in their order
_FINAL = (IncidentStatus.CLOSED, IncidentStatus.RETRACTED)  # an incident sent so changes no more
SWEEP_EVERY = 300.0  # seconds of event time between state sweeps
# Returned when nothing happened (most events): one shared empty list, so callers must not mutate results.
_NOTHING: list[Incident] = []


@dataclass(frozen=True, slots=True)
class LateDrop:
    event_id: str
    rule_ids: tuple[str, ...]
    lateness_s: float


@dataclass
class CoreStats:
    events: int = 0
    duplicates: int = 0
    late_dropped: int = 0
    corrections: int = 0  # incidents sent again with corrected contents
    retractions: int = 0  # incidents sent again as retracted
    rewinds: int = 0  # times a rule went back for an input out of canonical order
    updates: dict[str, int] = field(default_factory=dict)


def _ts(t: datetime | float) -> float:
    return t if isinstance(t, float | int) else t.timestamp()


def longest_wait(rule: CRule) -> float:
    c = rule.spec.correlate
    waits = [getattr(c, "window", 0.0), getattr(c, "timeout", 0.0)]
    waits.append(sum(s.max_gap or 0.0 for s in getattr(c, "steps", [])))
    return max(waits)


def accepted_lateness(rule: CRule) -> float:
    """How far behind the watermark a rule still takes an input (docs/semantics.md, section 7)."""
    return rule.lateness + (longest_wait(rule) if rule.late_policy == "reevaluate" else 0.0)


class Correlator:
    def __init__(self, ruleset: RuleSet, max_out_of_orderness: float | None = None, internal: bool = False):
        """`internal`: also return the incidents of internal rules (`emit: false`), which are otherwise only
        inputs of the rules that chain on them; for `rules test` and `rules explain`, never for a runtime."""
        self.ruleset = ruleset
        self._silent = frozenset() if internal else frozenset(r.id for r in ruleset.rules if not r.spec.emit)
        self.reference = ruleset.reference
        self.timers = Timers()
        self.watermark = float("-inf")
        self.stats = CoreStats()
        self._late: list[LateDrop] = []
        self.runtimes: dict[str, RuleRuntime] = {}
        routes: list[Route] = []
        horizon = 0.0
        by_type: dict[str, float] = {}  # per event type: the longest that a rule selecting it can still use it
        max_accept = 0.0
        every = ruleset.settings.update_every
        depth = _depths(ruleset.rules)
        for order, rule in enumerate(ruleset.rules):
            rt = RuleRuntime(rule, self.reference, self.timers, accepted_lateness(rule), every, depth[rule.id])
            self.runtimes[rule.state_key] = rt
            rt.take_shared = self._take_orphans
            reach = rt.accept + longest_wait(rule)
            for sel in rule.selections:
                routes.append(Route(order, rule.state_key, sel))
                by_type[sel.event_type] = max(by_type.get(sel.event_type, 0.0), reach)
            horizon = max(horizon, reach)
            max_accept = max(max_accept, rt.accept)
        for route in routes:
            route.rt = self.runtimes[route.state_key]
            route.lateness = route.rt.accept
        self.router = Router(routes)
        self.dependents: dict[str, list[RuleRuntime]] = {}
        for rt in self.runtimes.values():
            for upstream in rt.rule.depends_on:
                self.dependents.setdefault(upstream, []).append(rt)
        self.lookups = [rt for rt in self.runtimes.values() if rt.rule.spec.correlate.kind == "lookup"]
        ooo = ruleset.settings.max_out_of_orderness if max_out_of_orderness is None else max_out_of_orderness
        self._dedup_horizon = horizon + ooo
        # An event's id is kept for dedup as long as some rule that selects its type can still use it (one
        # 24-hour window on accident records must not keep a day of ANPR read ids); reference records as long
        # as the longest rule; an action at least as long as a rule takes one (`accept`).
        self._dedup_of: dict[str, float] = {t: h + ooo for t, h in by_type.items()}
        for t in ACTION_TYPES:
            self._dedup_of[t] = max(self._dedup_of.get(t, 0.0), max_accept + ooo)
        for t in REFERENCE_TYPES:
            self._dedup_of[t] = self._dedup_horizon
        self._dedup_default = max_accept + ooo  # a type no rule selects
        self._seen: dict[str, float] = {}
        # (time, id) per dedup horizon, in arrival order: a sweep forgets each at its own horizon
        self._seen_orders: dict[float, deque[tuple[float, str]]] = {}
        self._seen_by_type: dict[str, deque[tuple[float, str]]] = {}  # each type's deque of _seen_orders
        self._next_sweep = float("-inf")
        # The last version sent of each incident (what a consumer holds), to correct or retract it.
        self.sent: dict[str, Incident] = {}
        # (updated time, id) of the closed and retracted versions in `sent`, so a sweep forgets those past the
        # horizon without walking every incident sent
        self._final: list[tuple[float, str]] = []
        self._by_owner = {rt.owner: rt for rt in self.runtimes.values()}
        self._high = float("-inf")  # the newest event time seen
        # Inputs of rules that chain on others (the versions they select and their events) wait until the
        # watermark is past their time, when every version at that time is made (those of closings and
        # absences too), so they reach such a rule in canonical order whatever the order of their sources:
        # a chained rule acts max_out_of_orderness later than a rule on events.
        # (order, chain depth, rule, item); order = (time, rule depth, 0, key), against a timer's
        # (time, rule depth, rank of its kind): an input comes before any timer at its time.
        self._chained: list[tuple[tuple[Any, ...], int, int, RuleRuntime, Item]] = []  # a heap
        self._pend_seq = 0
        # Actions naming an incident no rule knows (yet), by incident id: given to the rule that raises it.
        self._orphans: dict[str, list[Item]] = {}
        self._horizon = horizon

    # --- the contract ------------------------------------------------------------------------
    def on_event(self, event: Any, replica: bool = False, ts: float | None = None) -> list[Incident]:
        """`ts` is event.time as a POSIX timestamp when the caller already has it (saves a conversion)."""
        if ts is None:
            ts = event.time.timestamp()
        stats = self.stats
        stats.events += 1
        eid = event.id
        seen = self._seen
        if eid in seen:
            stats.duplicates += 1
            return _NOTHING
        seen[eid] = ts
        self._seen_queue(event.type).append((ts, eid))
        released: list[Incident] = _NOTHING
        if ts > self._high:
            self._high = ts
        etype = event.type
        if etype in REFERENCE_TYPES:
            self.reference.apply(event, ts)
            if etype == "ref.hotlist":
                return released + self._reference_changed((ts, eid))
            return released
        items: dict[str, Item] | None = None
        action = _action(event)
        if action is not None:
            owner = self._owner(action[1])
            if owner is not None:
                if not (ts < self.watermark - owner.accept):
                    items = {owner.rule.state_key: Item(event, ts, (), replica, action)}
            else:  # no rule knows the incident (yet): kept for the rule that raises it
                self._orphans.setdefault(action[1], []).append(Item(event, ts, (), replica, action))
        routes = self.router.routes(event)
        if routes:
            wm = self.watermark
            late_rules: list[str] | None = None
            sels: dict[str, list[tuple[int, str]]] = {}
            groups: dict[tuple[str, ...], str] = {}  # one event's group per group_by text (selections share)
            for route in routes:
                sel = route.sel
                if sel.where is not None and not sel.where(event):
                    continue
                if ts < wm - route.lateness:
                    if late_rules is None:
                        late_rules = []
                    late_rules.append(route.rt.rule.id)
                    continue
                if sel.group:
                    group = groups.get(sel.group_texts)
                    if group is None:
                        group = groups[sel.group_texts] = group_of(sel, event)
                else:
                    group = ""
                sels.setdefault(route.state_key, []).append((sel.index, group))
            if late_rules:
                stats.late_dropped += 1
                self._late.append(LateDrop(eid, tuple(dict.fromkeys(late_rules)), wm - ts))
            for key, pairs in sels.items():
                if items is None:
                    items = {}
                if len(pairs) > 1:  # an event taken by several selections of a rule: in the order of their
                    pairs.sort(key=self.runtimes[key].rule.name_order)  # names, never of the file's keys
                item = items.get(key)
                if item is None:
                    items[key] = Item(event, ts, tuple(pairs), replica)
                else:
                    item.sels = tuple(pairs)
        if not items:
            return released
        out: list[Incident] = released
        for key, item in items.items():
            rt = self.runtimes[key]
            if rt.depth:
                # a rule that chains on others takes every input once the watermark passes it, its events
                # as well as the versions it chains on, so they reach it in canonical order
                self._pend(rt, item, 0)
                continue
            made = self._input(rt, item, 0)
            if made:
                if out is _NOTHING:
                    out = []
                out.extend(made)
        return out

    def on_watermark(self, t: datetime | float) -> list[Incident]:
        wm = t if type(t) is float else _ts(t)
        if wm <= self.watermark:
            return _NOTHING
        self.watermark = wm
        heap = self.timers._heap
        chained = self._chained
        if (not heap or heap[0][0] >= wm) and wm < self._next_sweep and (not chained or chained[0][0][0] >= wm):
            return _NOTHING  # the common case, once per event: nothing due (callers never mutate it)
        out = self._fire_due(None, [])
        if wm >= self._next_sweep:
            self._sweep(wm)
        return out

    def next_deadline(self) -> datetime | None:
        """The earliest time whose passing makes the core act: a timer, or a chained rule's waiting input."""
        nxt = self.timers.next()
        if self._chained:
            first = self._chained[0][0][0]
            nxt = first if nxt is None else min(nxt, first)
        return None if nxt is None else datetime.fromtimestamp(nxt, tz=UTC)

    def is_late(self, event: Any) -> bool:
        """True when some rule that selects this event would drop it as too late."""
        ts = event.time.timestamp()
        return any(ts < self.watermark - r.lateness for r in self.router.routes(event))

    def take_late(self) -> list[LateDrop]:
        out, self._late = self._late, []
        return out

    # --- inputs ------------------------------------------------------------------------------
    def _input(self, rt: RuleRuntime, item: Item, depth: int) -> list[Incident]:
        last = rt.last_key
        if last is None or item.key > last:
            made = rt.apply(item)
            return self._emit(rt, made, depth) if made else _NOTHING
        if rt.insert_quietly(item, self.watermark):
            return _NOTHING
        self.stats.rewinds += 1
        return self._correct(rt, rt.rewind(item.key, self.watermark, add=[item]), depth)

    def _owner(self, incident_id: str) -> RuleRuntime | None:
        for rt in self.runtimes.values():
            if rt.book.owns(incident_id):
                return rt
        return None

    def _reference_changed(self, key: Key) -> list[Incident]:
        """A hotlist change at `key`: lookup rules that already ran past it redo their inputs from there."""
        out: list[Incident] = []
        for rt in self.lookups:
            last = rt.last_key
            if last is not None and last > key:
                self.stats.rewinds += 1
                out.extend(self._correct(rt, rt.rewind(key, self.watermark), 0))
        return out

    # --- outputs -----------------------------------------------------------------------------
    def _emit(self, rt: RuleRuntime, made: list[Incident], depth: int) -> list[Incident]:
        out: list[Incident] = []
        for u in made:
            out.append(self._send(u))
            self.stats.updates[rt.rule.id] = self.stats.updates.get(rt.rule.id, 0) + 1
        if rt.rule.id in self._silent:
            out = []  # an internal rule (emit: false): tracked as sent, so corrections stay exact; never sent
        if self.dependents.get(rt.rule.id):
            out.extend(self._chain(made, [], rt, depth))
        if self._orphans:
            out.extend(self._adopt_orphans(rt, made))
        return out

    def _take_orphans(self, inc_id: str, at_key: Key) -> list[Item] | None:
        """The waiting actions for `inc_id` that come before its raising (the operation at `at_key`):
        they apply right after it. Later ones, a tie at the same time included, stay for _adopt_orphans to feed
        at their own places, so an event between the raising and the action still comes before the action."""
        waiting = self._orphans.get(inc_id) if self._orphans else None
        if not waiting:
            return None
        before: list[Item] = []
        later: list[Item] = []
        for it in waiting:
            (before if it.key < at_key else later).append(it)
        if later:
            self._orphans[inc_id] = later
        else:
            del self._orphans[inc_id]
        return before

    def _adopt_orphans(self, rt: RuleRuntime, made: list[Incident]) -> list[Incident]:
        """Actions that named an incident no rule knew go to the rule that raised it, at their own place in
        canonical order: the rule holds one that comes before the raising until right after it."""
        out: list[Incident] = []
        for u in made:
            for item in self._orphans.pop(u.id, ()):
                if rt.depth:
                    self._pend(rt, item, 0)
                else:
                    out.extend(self._input(rt, item, 0))
        return out

    def _send(self, u: Incident) -> Incident:
        prev = self.sent.get(u.id)
        if prev is not None and prev.version >= u.version:
            u = u.model_copy(update={"version": prev.version + 1})
        self._keep_sent(u)
        return u

    def _keep_sent(self, u: Incident) -> None:
        self.sent[u.id] = u
        if u.status in _FINAL:
            heapq.heappush(self._final, (u.updated_time.timestamp(), u.id))

    def reindex_sent(self) -> None:
        """Rebuild the index of final versions sent (after a restore filled `sent`)."""
        self._final = [(u.updated_time.timestamp(), i) for i, u in self.sent.items() if u.status in _FINAL]
        heapq.heapify(self._final)

    def _chain(self, added: list[Incident], removed: list[Incident], rt: RuleRuntime, depth: int) -> list[Incident]:
        """Canonical versions of `rt`'s incidents added (and removed, after a correction) as chained inputs."""
        deps = self.dependents.get(rt.rule.id)
        if not deps or depth >= MAX_CHAIN_DEPTH:
            return _NOTHING
        out: list[Incident] = []
        if removed:
            gone = {(u.updated_time.timestamp(), f"{u.id}@{u.version}") for u in removed}
            waiting = [c for c in self._chained if c[4].key in gone and c[3] in deps]  # not fed yet: drop
            if waiting:
                # in place: _release holds this very list while it feeds
                self._chained[:] = [c for c in self._chained if not (c[4].key in gone and c[3] in deps)]
                heapq.heapify(self._chained)
                gone -= {c[4].key for c in waiting}
            for dep in deps:
                mine = {k for k in gone if any(it.key == k for it in dep.items)}
                if mine:
                    self.stats.rewinds += 1
                    out.extend(self._correct(dep, dep.rewind(min(mine), self.watermark, remove=mine), depth + 1))
        for u in added:
            record = incident_event_record(u)
            for dep in deps:
                item = self._chained_item(dep, record)
                if item is not None:
                    self._pend(dep, item, depth + 1)
        # fed to `dep` once every version at their time is in: by the next newer event or the timer loop
        return out

    def _pend(self, rt: RuleRuntime, item: Item, depth: int) -> None:
        self._pend_seq += 1
        heapq.heappush(self._chained, ((item.key[0], rt.depth, 0.0, item.key), self._pend_seq, depth, rt, item))

    def _release(self, due: Any) -> list[Incident]:
        """Feed the chained inputs whose time has passed to their rules, in canonical order."""
        out: list[Incident] = []
        # one at a time, the first in order each time: feeding one may feed others (a correction fires the
        # timers it re-armed), and those must not overtake the rest of this batch
        chained = self._chained
        while chained and due(chained[0][0]):
            _, _, depth, dep, item = heapq.heappop(chained)
            out.extend(self._input(dep, item, depth))
        return out

    def _chained_item(self, dep: RuleRuntime, record: Any) -> Item | None:
        ts = record.time.timestamp()
        pairs: list[tuple[int, str]] = []
        for route in self.router.routes(record):
            if route.rt is not dep:
                continue
            sel = route.sel
            if sel.where is not None and not sel.where(record):
                continue
            pairs.append((sel.index, group_of(sel, record)))
        pairs.sort(key=dep.rule.name_order)
        return Item(record, ts, tuple(pairs)) if pairs else None

    def _correct(self, rt: RuleRuntime, rewind: Rewind, depth: int) -> list[Incident]:
        """After `rt` went back and redid its inputs: send what changed, feed chained rules the difference."""
        out: list[Incident] = []
        new = rewind.new  # the replay fired, at their places, the timers it re-armed that were due
        old = rewind.old
        ids = list(dict.fromkeys([u.id for u in old] + [u.id for u in new]))
        stats = self.stats
        for inc_id in ids:
            sent = self.sent.get(inc_id)
            current = rt.book.latest(inc_id)
            if sent is None:
                # never sent: its canonical versions go out as they are
                for u in new:
                    if u.id == inc_id:
                        out.append(self._send(u))
                continue
            if current is None:
                if sent.status != IncidentStatus.RETRACTED:
                    stats.retractions += 1
                    retracted = sent.model_copy(
                        update={"version": sent.version + 1, "status": IncidentStatus.RETRACTED}
                    )
                    self._keep_sent(retracted)
                    out.append(retracted)
                continue
            if current.model_copy(update={"version": sent.version}) != sent:
                stats.corrections += 1
                fixed = current.model_copy(update={"version": max(sent.version + 1, current.version)})
                self._keep_sent(fixed)
                out.append(fixed)
        if rt.rule.id in self._silent:
            out = []  # an internal rule: its corrections and retractions are not sent either
        old_by = {(u.id, u.version): u for u in old}
        new_by = {(u.id, u.version): u for u in new}
        removed = [u for k, u in old_by.items() if new_by.get(k) != u]
        added = [u for k, u in new_by.items() if old_by.get(k) != u]
        if removed or added:
            out.extend(self._chain(added, removed, rt, depth))
        if self._orphans:
            out.extend(self._adopt_orphans(rt, new))
        if self._chained:  # chained inputs the watermark already passed (a correction's new versions)
            out.extend(self._fire_due(None, []))
        return out

    # --- time --------------------------------------------------------------------------------
    def _fire_due(self, collect: RuleRuntime | None, into: list[Incident]) -> list[Incident]:
        """Fire every timer the watermark passed, in time order, and feed the chained inputs whose time has
        passed, each before any timer at or after its time (a timer at t comes after every event at t).
        Versions made by `collect`'s timers go to `into` (the caller diffs them); the rest are sent."""
        out: list[Incident] = []
        wm = self.watermark
        last: tuple[float, str, str, str] | None = None
        while True:
            heap = self.timers._heap
            # a timer at t of a rule of depth d, against a chained input at t for a rule of depth e: the input
            # goes first when e <= d (upstream timers at t make versions at t that it must wait for)
            t_next = None
            if heap and heap[0][0] < wm:
                top = heap[0]
                t_next = (top[0], self._by_owner[top[1]].depth, _RANK.get(top[2], 9.0))
            chained = self._chained
            c_next = chained[0][0][:3] if chained and chained[0][0][0] < wm else None
            if t_next is None and c_next is None:
                return out
            if c_next is not None and (t_next is None or c_next <= t_next):
                out.extend(self._release(lambda order, c=c_next: order[:3] <= c))
                continue
            item = heapq.heappop(heap)
            if item == last:
                continue  # the same timer armed twice fires once
            last = item
            ts, owner, kind, ref = item
            rt = self._by_owner.get(owner)
            if rt is None:
                continue
            made = rt.fire(ts, kind, ref)
            if not made:
                continue
            if rt is collect:
                into.extend(made)
            else:
                out.extend(self._emit(rt, made, 0))

    def _sweep(self, wm: float) -> None:
        self._next_sweep = wm + SWEEP_EVERY
        for rt in self.runtimes.values():
            rt.sweep(wm)
        cutoff = wm - self._dedup_horizon
        for inc_id in [i for i, items in self._orphans.items() if all(it.ts < cutoff for it in items)]:
            del self._orphans[inc_id]
        seen = self._seen
        for h, order in self._seen_orders.items():
            cut = wm - h
            while order and order[0][0] < cut:
                _, eid = order.popleft()
                seen.pop(eid, None)
        # a sent incident closed (or retracted) long enough ago can never change again
        final, sent = self._final, self.sent
        while final and final[0][0] < cutoff:
            _, inc_id = heapq.heappop(final)
            u = sent.get(inc_id)
            if u is not None and u.status in _FINAL and u.updated_time.timestamp() < cutoff:
                del sent[inc_id]

    def _seen_queue(self, event_type: str) -> deque[tuple[float, str]]:
        order = self._seen_by_type.get(event_type)  # one lookup an event once its type has been seen
        if order is None:
            order = self._seen_by_type[event_type] = self._horizon_queue(
                self._dedup_of.get(event_type, self._dedup_default)
            )
        return order

    def _horizon_queue(self, h: float) -> deque[tuple[float, str]]:
        order = self._seen_orders.get(h)
        if order is None:
            order = self._seen_orders[h] = deque()
        return order

    def seen_entries(self) -> list[tuple[float, str, float]]:
        """(time, id, dedup horizon) of every id kept for dedup, for snapshots."""
        return [(ts, eid, h) for h, order in self._seen_orders.items() for ts, eid in order]

    def restore_seen(self, entries: list[Any]) -> None:
        """The ids of seen_entries(), each horizon's in the order they came (a sweep forgets from the front, so
        the order is the uninterrupted run's); an entry of an older snapshot has no horizon: the longest."""
        self._seen_orders = {}
        self._seen_by_type = {}
        self._seen = {}
        for entry in entries:
            ts, eid = float(entry[0]), entry[1]
            h = float(entry[2]) if len(entry) > 2 else self._dedup_horizon
            self._horizon_queue(h).append((ts, eid))
            self._seen[eid] = ts

    # --- observability -----------------------------------------------------------------------
    def matches(self) -> dict[str, int]:
        return {rt.rule.id: rt.matches for rt in self.runtimes.values() if rt.matches}

    def state_size(self) -> dict[str, int]:
        """Buffered entries and open incidents per rule, and ids kept for dedup."""
        sizes = {rt.rule.id: rt.size() for rt in self.runtimes.values()}
        sizes["_dedup"] = len(self._seen)
        sizes["_timers"] = len(self.timers)
        return sizes

    def overflow(self) -> dict[str, int]:
        """State evicted by a limit, per rule (every kind of eviction together)."""
        return {k: sum(v.values()) for k, v in self.evictions().items()}

    def evictions(self) -> dict[str, dict[str, int]]:
        """State evicted by each limit, per rule: `max_partials` (oldest buffered events), `max_keys` (least
        recently used groups), `state_ttl` (buffered events older than a configured state_ttl). Only rules
        with some."""
        out = {}
        for rt in self.runtimes.values():
            counts = {"max_partials": rt.kind.overflow, "max_keys": rt.overflow_keys, "state_ttl": rt.evicted_ttl}
            if any(counts.values()):
                out[rt.rule.id] = {k: v for k, v in counts.items() if v}
        return out

    # --- snapshots ---------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Versioned state, including what a late event needs to go back (rules/core/snapshot.py)."""
        return dump_core(self)

    def restore(self, data: bytes) -> None:
        load_core(self, data)


def _depths(rules: Any) -> dict[str, int]:
    """Chain depth per rule id: 0 on events, one more than the deepest rule it chains on."""
    by_id = {r.id: r for r in rules}
    depth: dict[str, int] = {}

    def of(rule_id: str, seen: frozenset[str]) -> int:
        if rule_id in depth:
            return depth[rule_id]
        rule = by_id.get(rule_id)
        if rule is None or rule_id in seen:
            return 0
        d = max((of(u, seen | {rule_id}) + 1 for u in rule.depends_on if u in by_id), default=0)
        depth[rule_id] = d
        return d

    for r in rules:
        of(r.id, frozenset())
    return depth


def _action(event: Any) -> tuple[Any, ...] | None:
    """The incident lifecycle inputs: a dispatcher's close or acknowledgement (ack, or an assignment, which
    acknowledges too), a unit on scene at its assigned incident."""
    etype = event.type
    if etype == "dispatch.action":
        action = event.data.action
        if action == "close":
            return ("close", event.data.incident_id)
        if action in ("ack", "assign"):
            return ("ack", event.data.incident_id)
        return None
    if etype == "unit.gps" and event.data.assigned_incident and event.data.status == "on_scene":
        data = event.data
        return ("arrive", data.assigned_incident, data.unit_id, str(data.unit_type))
    return None


def incident_event_record(update: Incident) -> Any:
    """A canonical version as an event, so chained rules select it like any other input."""
    event = IncidentEvent(
        id=f"{update.id}@{update.version}",
        source=f"saqshy/rules/{update.rule_id}",
        time=update.updated_time,
        location=update.location,
        admin=update.admin,
        data=update,
    )
    return record_from_model(event)
