"""The Correlator: the core contract of DESIGN.md.

    on_event(event) -> [Incident]      on_watermark(t) -> [Incident]      next_deadline() -> datetime | None
    snapshot() -> bytes                restore(bytes)

Deterministic: the same events and watermarks in the same order give the same incidents, ids included.
Events are the runtime records of rules.records (or anything with the same attributes).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from rules.compiler import CRule
from rules.core.buffer import Entry
from rules.core.incidents import IncidentBook
from rules.core.match import Match
from rules.core.matchers import MATCHERS, Matcher
from rules.core.router import Route, Router
from rules.core.timers import Timers
from rules.errors import CoreError
from rules.loader import RuleSet
from rules.records import record_from_builtins, record_from_model, record_to_builtins
from schemas import REFERENCE_TYPES, Incident, IncidentEvent

SNAPSHOT_FORMAT = "saqshy.core.snapshot"
SNAPSHOT_VERSION = 1
MAX_CHAIN_DEPTH = 16
SWEEP_EVERY = 300.0
# Returned when nothing happened (most events): one shared empty list, so callers must not mutate results.
_NOTHING: list[Incident] = []  # seconds of event time between state sweeps (TTL, expired windows)


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
    matches: dict[str, int] = field(default_factory=dict)
    updates: dict[str, int] = field(default_factory=dict)


@dataclass
class RuleRuntime:
    rule: CRule
    matcher: Matcher
    book: IncidentBook


def _ts(t: datetime | float) -> float:
    return t if isinstance(t, float | int) else t.timestamp()


class Correlator:
    def __init__(self, ruleset: RuleSet, max_out_of_orderness: float | None = None):
        self.ruleset = ruleset
        self.reference = ruleset.reference
        self.timers = Timers()
        self.watermark = float("-inf")
        self.stats = CoreStats()
        self._late: list[LateDrop] = []
        self.runtimes: dict[str, RuleRuntime] = {}
        routes: list[Route] = []
        horizon = 0.0
        for order, rule in enumerate(ruleset.rules):
            matcher = MATCHERS[rule.spec.correlate.kind](rule, self.timers, self.reference)
            self.runtimes[rule.state_key] = RuleRuntime(rule, matcher, IncidentBook(rule, self.timers))
            for sel in rule.selections:
                routes.append(Route(order, rule.state_key, sel))
            horizon = max(horizon, rule.lateness + longest_wait(rule))
        for route in routes:
            route.rt = self.runtimes[route.state_key]
            route.lateness = route.rt.rule.lateness
            route.drop_late = route.rt.rule.late_policy == "dead_letter"
        self.router = Router(routes)
        ooo = ruleset.settings.max_out_of_orderness if max_out_of_orderness is None else max_out_of_orderness
        self._dedup_horizon = horizon + ooo
        self._seen: dict[str, float] = {}
        self._seen_order: deque[tuple[float, str]] = deque()
        self._next_sweep = float("-inf")

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
            return []
        seen[eid] = ts
        self._seen_order.append((ts, eid))
        etype = event.type
        if etype in REFERENCE_TYPES:
            self.reference.apply(event, ts)
        elif etype == "dispatch.action" and event.data.action == "close":
            out = self._close_by_dispatcher(event.data.incident_id, ts)
            return out + self._route(event, ts, replica, 0)
        elif etype == "unit.gps" and event.data.assigned_incident and event.data.status == "on_scene":
            arrived = self._arrive(event.data, ts)
            if arrived:
                return arrived + self._route(event, ts, replica, 0)
        return self._route(event, ts, replica, 0)

    def on_watermark(self, t: datetime | float) -> list[Incident]:
        wm = t if type(t) is float else _ts(t)
        if wm <= self.watermark:
            return []
        self.watermark = wm
        heap = self.timers._heap
        if (not heap or heap[0][0] > wm) and wm < self._next_sweep:
            return _NOTHING  # the common case, once per event: nothing due (callers never mutate it)
        out: list[Incident] = []
        # Firing may register timers that are already due (an incident opened by a timer closes at once
        # when the watermark jumps far): fire rounds until none is due, whatever the size of the jump.
        while batch := self.timers.due(wm):
            for due, owner, kind, ref in batch:
                rt = self.runtimes.get(owner)
                if rt is None:
                    continue
                if kind == "close":
                    closed = rt.book.on_timer(due, ref, wm)
                    if closed is not None:
                        out.append(closed)
                        out.extend(self._chain(closed, 0))
                else:
                    for m in rt.matcher.on_timer(due, ref, wm):
                        out.extend(self._emit(rt, m, 0))
        if wm >= self._next_sweep:
            self._sweep(wm)
        return out

    def next_deadline(self) -> datetime | None:
        nxt = self.timers.next()
        return None if nxt is None else datetime.fromtimestamp(nxt, tz=UTC)

    def is_late(self, event: Any) -> bool:
        """True when some rule that selects this event would drop it as too late (dead-letter policy)."""
        ts = event.time.timestamp()
        return any(
            ts < self.watermark - self.runtimes[r.state_key].rule.lateness
            and self.runtimes[r.state_key].rule.late_policy == "dead_letter"
            for r in self.router.routes(event)
        )

    def take_late(self) -> list[LateDrop]:
        out, self._late = self._late, []
        return out

    # --- internals ---------------------------------------------------------------------------
    def _route(self, ev: Any, ts: float, replica: bool, depth: int) -> list[Incident]:
        routes = self.router.routes(ev)
        if not routes:
            return _NOTHING
        out: list[Incident] = _NOTHING
        late_rules: list[str] | None = None
        entry: Entry | None = None
        wm = self.watermark
        for route in routes:
            sel = route.sel
            if sel.where is not None and not sel.where(ev):
                continue
            rt = route.rt
            if ts < wm - route.lateness and route.drop_late:
                if late_rules is None:
                    late_rules = []
                late_rules.append(rt.rule.id)
                continue
            group = "|".join([str(g(ev)) for g in sel.group]) if sel.group else ""
            matcher = rt.matcher
            if matcher.stateless:
                found = matcher.on_record(sel, ev, ts, replica, group)
            else:
                if entry is None or entry.sel != sel.index:
                    entry = Entry(ev, ts, sel.index, replica)
                found = matcher.on_event(sel, entry, group, wm)
            for m in found:
                if out is _NOTHING:
                    out = []
                out.extend(self._emit(rt, m, depth))
        if late_rules:
            self.stats.late_dropped += 1
            self._late.append(LateDrop(ev.id, tuple(late_rules), wm - ts))
        return out

    def _emit(self, rt: RuleRuntime, m: Match, depth: int) -> list[Incident]:
        rid = rt.rule.id
        self.stats.matches[rid] = self.stats.matches.get(rid, 0) + 1
        update = rt.book.on_match(m)
        if update is None:
            return []
        self.stats.updates[rid] = self.stats.updates.get(rid, 0) + 1
        return [update, *self._chain(update, depth)]

    def _chain(self, update: Incident, depth: int) -> list[Incident]:
        if depth >= MAX_CHAIN_DEPTH or not self.router.wants("incident"):
            return []
        record = incident_event_record(update)
        return self._route(record, record.time.timestamp(), False, depth + 1)

    def _close_by_dispatcher(self, incident_id: str, ts: float) -> list[Incident]:
        for rt in self.runtimes.values():
            if incident_id in rt.book.by_id:
                closed = rt.book.close(incident_id, "closed by dispatcher", ts)
                return [closed, *self._chain(closed, 0)] if closed else []
        return []

    def _arrive(self, gps: Any, ts: float) -> list[Incident]:
        """The unit loop: a unit on scene at an incident it was assigned to updates that incident."""
        for rt in self.runtimes.values():
            if gps.assigned_incident in rt.book.by_id:
                arrived = rt.book.arrive(gps.assigned_incident, gps.unit_id, str(gps.unit_type), ts)
                return [arrived, *self._chain(arrived, 0)] if arrived else []
        return []

    def _sweep(self, wm: float) -> None:
        self._next_sweep = wm + SWEEP_EVERY
        for rt in self.runtimes.values():
            rt.matcher.sweep(wm)
        cutoff = wm - self._dedup_horizon
        seen, order = self._seen, self._seen_order
        while order and order[0][0] < cutoff:
            _, eid = order.popleft()
            seen.pop(eid, None)

    # --- observability -----------------------------------------------------------------------
    def state_size(self) -> dict[str, int]:
        """Buffered entries, partial matches and open incidents per rule, and ids kept for dedup."""
        sizes = {rt.rule.id: rt.matcher.size() + rt.book.size() for rt in self.runtimes.values()}
        sizes["_dedup"] = len(self._seen)
        sizes["_timers"] = len(self.timers)
        return sizes

    def overflow(self) -> dict[str, int]:
        return {rt.rule.id: rt.matcher.overflow for rt in self.runtimes.values() if rt.matcher.overflow}

    # --- snapshots ---------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Versioned state; rules are keyed by (id, version), so a changed rule starts clean on restore."""
        events: dict[str, Any] = {}
        rules = {
            key: {"matcher": rt.matcher.dump(events), "incidents": rt.book.dump()} for key, rt in self.runtimes.items()
        }
        doc = {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "watermark": self.watermark if self.watermark != float("-inf") else None,
            "rules": rules,
            "events": {k: record_to_builtins(v) for k, v in events.items()},
            "seen": list(self._seen_order),
            "reference": [[ts, record_to_builtins(ev)] for ts, ev in self.reference.applied()],
            "stats": {"events": self.stats.events, "duplicates": self.stats.duplicates},
        }
        return orjson.dumps(doc)

    def restore(self, data: bytes) -> None:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CoreError(f"not a core snapshot: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
            raise CoreError("not a core snapshot (missing format marker)")
        if doc.get("version") != SNAPSHOT_VERSION:
            raise CoreError(
                f"snapshot version {doc.get('version')} is not supported (this core reads {SNAPSHOT_VERSION})"
            )
        self.watermark = doc["watermark"] if doc["watermark"] is not None else float("-inf")
        self._next_sweep = float("-inf")
        events = {k: record_from_builtins(v) for k, v in doc["events"].items()}
        for ts, ref_event in doc.get("reference", []):
            self.reference.apply(record_from_builtins(ref_event), float(ts))
        for key, state in doc["rules"].items():
            rt = self.runtimes.get(key)
            if rt is None:
                continue  # the rule changed version or was removed: its old state is dropped
            rt.matcher.load(state["matcher"], events)
            rt.book.load(state["incidents"])
        self._seen_order = deque((float(ts), eid) for ts, eid in doc.get("seen", []))
        self._seen = {eid: ts for ts, eid in self._seen_order}
        self.stats.events = doc.get("stats", {}).get("events", 0)


def longest_wait(rule: CRule) -> float:
    c = rule.spec.correlate
    waits = [getattr(c, "window", 0.0), getattr(c, "timeout", 0.0)]
    waits += [s.max_gap or 0.0 for s in getattr(c, "steps", [])]
    return max(waits)


def incident_event_record(update: Incident) -> Any:
    """An incident update as an event, so chained rules select it like any other input."""
    event = IncidentEvent(
        id=f"{update.id}@{update.version}",
        source=f"saqshy/rules/{update.rule_id}",
        time=update.updated_time,
        location=update.location,
        admin=update.admin,
        data=update,
    )
    return record_from_model(event)
