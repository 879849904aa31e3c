"""Matches become incidents (docs/semantics.md, section 5): merged by key (and place) within a merge window,
prioritised by named terms, coalesced into versions, closed in event time.

The book takes a rule's matches in canonical order and is the only sequential state of a rule; every change
it makes goes through the rule's journal (rules/core/journal.py), so a late event can undo it exactly.
Its output is the rule's *canonical* versions: what a run over the sorted input emits, each once.

Spatial partitions (streams/partitioning.py) also see replicas of their neighbours' events near the border.
Matches those replicas complete build *shadow* incidents: kept and merged like any other, never emitted. An
incident belongs to the partition whose own event completed the match that opened it; that partition emits
every version, including the ones that later matches completed by replicas add.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from rules.compiler import CRule
from rules.core.journal import Journal
from rules.core.match import Match
from rules.geo import distance_m
from schemas import AdminPath, GeoPoint, Incident, IncidentStatus, PriorityTerm, UnitArrival, UnitType

Schedule = Callable[[float, str, str], None]  # (time, timer kind, ref)
FLUSH, CLOSE = "2:flush", "3:close"  # timer kinds (rules/core/rule.py orders them)
BY_DISPATCHER = "closed by dispatcher"
FULL = "\x00exact"  # in a match context: the exact count/distinct, when only bounded ones were taken
NO_NEW_EVENTS = "no new events within the merge window"


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def incident_id(rule: CRule, key: str, opening_evidence: list[str]) -> str:
    """Rule, version, key and the opening match's evidence: two incidents never share an opening match."""
    raw = "\x1f".join([rule.id, str(rule.version), key, *opening_evidence]).encode()
    return "inc-" + hashlib.blake2b(raw, digest_size=10).hexdigest()


# The fields of an open incident that a match or a timer changes, saved whole before a change so the
# journal can put them back (the evidence set and list grow in place and are undone by their own records).
_FIELDS = (
    "lat", "lon", "admin", "updated", "first_ts", "last_ts", "priority", "terms", "ctx", "group", "version",
    "state", "made_at", "pending", "event_count", "arrivals", "closed", "alarm", "acked",
)  # fmt: skip


_get_fields = attrgetter(*_FIELDS)


class OpenIncident:
    __slots__ = (
        "acked",
        "admin",
        "alarm",
        "arrivals",
        "closed",
        "ctx",
        "event_count",
        "event_ids",
        "first_ts",
        "group",
        "id",
        "key",
        "last_ts",
        "lat",
        "lon",
        "made_at",
        "opened",
        "owned",
        "pending",
        "priority",
        "seen",
        "state",
        "terms",
        "touched",
        "updated",
        "version",
    )  # fmt: skip

    def __init__(self, inc_id: str, key: str, owned: bool, opened: tuple[Any, ...]):
        self.id = inc_id
        self.key = key
        self.owned = owned  # False: a shadow of a neighbour partition's incident
        self.opened = opened  # the opening match's key: ties between open incidents go to the first opened
        self.lat: float | None = None
        self.lon: float | None = None
        self.admin: Any = None
        self.updated = float("-inf")  # time of the latest match merged
        self.first_ts = float("inf")
        self.last_ts = float("-inf")
        self.priority = 6
        self.terms: tuple[tuple[str, int], ...] = ()
        self.ctx: dict[str, Any] = {}
        self.group = ""
        self.version = 0
        self.state: Incident | None = None  # the latest version
        self.made_at = float("-inf")  # event time at which the latest version was made
        self.pending = False  # changed since the latest version, waiting for update_every
        self.event_ids: list[str] = []
        self.seen: set[str] = set()
        self.event_count = 0
        self.arrivals: tuple[UnitArrival, ...] = ()
        self.acked: float | None = None  # event time of the first dispatcher acknowledgement (ack or assign)
        self.closed = False
        self.alarm: float | None = None  # when its closing timer is set for
        self.touched = 0  # journal mark of the latest record about this incident

    def fields(self) -> tuple[Any, ...]:
        return _get_fields(self)  # type: ignore[no-any-return]

    def set_fields(self, values: tuple[Any, ...]) -> None:
        for f, v in zip(_FIELDS, values, strict=True):
            setattr(self, f, v)


def shown(ctx: dict[str, Any]) -> dict[str, Any]:
    """The context as templates see it: with the exact count when only a bounded one was taken."""
    full = ctx.get(FULL)
    if full is None:
        return ctx
    out = dict(ctx)
    out.update(full())
    del out[FULL]
    return out


def _admin(record: Any) -> AdminPath | None:
    if record is None:
        return None
    return AdminPath(republic=record.republic, region=record.region, city=record.city, district=record.district)


class IncidentBook:
    """The incidents of one rule; `out` collects the canonical versions made since the caller last took them."""

    def __init__(self, rule: CRule, journal: Journal, schedule: Schedule, lateness: float, update_every: float):
        self.rule = rule
        self.journal = journal
        self.schedule = schedule
        self.lateness = lateness
        inc = rule.spec.incident
        self.update_every = inc.update_every if inc.update_every is not None else update_every
        self.merge_window = inc.merge_window
        self.merge_within = inc.merge_within
        self.follow = inc.location == "latest"
        if self.merge_within is None and inc.key is None and rule.spec.correlate.within is not None:
            self.merge_within = rule.spec.correlate.within  # a spatial rule without a key: nearby is the same
        self.base = inc.priority.base
        self.limit = rule.spec.limits.max_event_ids
        self.by_key: dict[str, list[OpenIncident]] = {}
        self.by_id: dict[str, OpenIncident] = {}  # open and recently closed (final versions kept for diffs)
        self.out: list[Incident] = []
        self.raised: list[tuple[str, float]] = []  # (id, time) of incidents opened by the running operation

    # --- matches ---------------------------------------------------------------------------------
    def context(self, m: Match) -> dict[str, Any]:
        ctx: dict[str, Any] = {s.name: None for s in self.rule.selections}
        ctx.update(m.bindings)
        ctx["count"] = m.count
        ctx["distinct"] = m.distinct
        ctx["sum"] = m.total
        ctx["group"] = m.group
        if m.full is not None:
            ctx[FULL] = m.full
        if m.hit is not None:
            ctx[self.rule.spec.correlate.as_] = m.hit  # type: ignore[union-attr]
            ctx["distance"] = m.hit_distance
        return ctx

    def _find(self, key: str, m: Match) -> OpenIncident | None:
        best: tuple[float, tuple[Any, ...], OpenIncident] | None = None
        for inc in self.by_key.get(key, ()):
            if inc.closed or m.time - inc.updated > self.merge_window:
                continue
            d = 0.0
            if self.merge_within is not None:
                if inc.lat is None or m.anchor.lat is None:
                    continue
                d = distance_m(inc.lat, inc.lon, m.anchor.lat, m.anchor.lon)  # type: ignore[arg-type]
                if d > self.merge_within:
                    continue
            if best is None or (d, inc.opened) < (best[0], best[1]):  # nearest; ties: the first opened
                best = (d, inc.opened, inc)
        return best[2] if best else None

    def on_match(self, m: Match) -> None:
        rule = self.rule
        ctx = self.context(m)
        key = rule.key_template(ctx) if rule.key_template else m.group
        inc = self._find(key, m)
        if inc is None:
            inc = OpenIncident(incident_id(rule, key, [e.ev.id for e in m.evidence]), key, not m.trigger.replica, m.key)
            if inc.id in self.by_id:  # the same opening match again (a replay): cannot happen, say so if it does
                raise AssertionError(f"incident {inc.id} opened twice")
            self.by_key.setdefault(key, []).append(inc)
            self.by_id[inc.id] = inc
            self._record(("open", inc))
            self.raised.append((inc.id, m.time))
            fresh = True
        else:
            self._record(("fields", inc, inc.fields()))
            fresh = False
            if inc.pending and m.time > inc.made_at + self.update_every:
                self._version(inc, IncidentStatus.UPDATED, inc.made_at + self.update_every)  # the flush due first
        added = self._evidence(inc, m)
        if fresh or (self.follow and m.anchor.lat is not None):  # latest: the newest anchor that has a place
            inc.lat, inc.lon, inc.admin = m.anchor.lat, m.anchor.lon, m.anchor.ev.admin
        inc.updated = max(inc.updated, m.time)
        inc.group = m.group
        priority = min(5, max(1, self.base + sum(t.delta for t in rule.terms if t.when(ctx))))
        escalated = priority < inc.priority
        if escalated:
            inc.priority = priority
            inc.terms = tuple((t.name, t.delta) for t in rule.terms if t.when(ctx))
        changed = added or escalated or fresh or self._shows_differently(inc, ctx)
        inc.ctx = ctx
        if fresh:
            self._version(inc, IncidentStatus.OPEN, m.time)
        elif escalated:
            self._version(inc, IncidentStatus.ESCALATED, m.time)
        elif changed:
            if m.time >= inc.made_at + self.update_every:
                self._version(inc, IncidentStatus.UPDATED, m.time)
            elif not inc.pending:
                inc.pending = True
                self.schedule(inc.made_at + self.update_every, FLUSH, inc.id)
        if inc.alarm is None:  # one closing timer at a time; it moves itself when it finds the incident updated
            inc.alarm = inc.updated + self.merge_window
            self.schedule(inc.alarm, CLOSE, inc.id)

    def _evidence(self, inc: OpenIncident, m: Match) -> bool:
        new: list[str] = []
        seen = inc.seen
        listed = len(inc.event_ids)
        for e in m.evidence:
            eid = e.ev.id
            if eid not in seen:
                seen.add(eid)
                new.append(eid)
                if len(inc.event_ids) < self.limit:
                    inc.event_ids.append(eid)
                if e.ts < inc.first_ts:
                    inc.first_ts = e.ts
                if e.ts > inc.last_ts:
                    inc.last_ts = e.ts
        if not new:
            return False
        inc.event_count += len(new)
        self._record(("evidence", inc, new, listed))
        return True

    def _shows_differently(self, inc: OpenIncident, ctx: dict[str, Any]) -> bool:
        """Would a version made from this context read differently (title, labels, place) than the latest?"""
        state = inc.state
        if state is None:
            return True
        rule = self.rule
        ctx = shown(ctx)
        if rule.title(ctx) != state.title or rule.summary(ctx) != state.summary:
            return True
        if any(fn(ctx) != state.labels.get(name) for name, fn in rule.labels):
            return True
        loc = state.location
        return (loc.lat, loc.lon) != (inc.lat, inc.lon) if loc is not None else inc.lat is not None

    # --- versions --------------------------------------------------------------------------------
    def _version(
        self, inc: OpenIncident, status: IncidentStatus, at: float, reason: str | None = None, render: bool = True
    ) -> None:
        """Make a version of `inc` as it is now, at event time `at`. Templates are rendered when a match changed
        the context since the latest version; a closing or an arrival repeats the latest version's texts (the
        events a lazily counted `count` needs may be gone by then)."""
        rule = self.rule
        prev = inc.state
        if render or prev is None:
            ctx = shown(inc.ctx)
            title, summary = rule.title(ctx), rule.summary(ctx)
            labels = {name: fn(ctx) for name, fn in rule.labels}
        else:
            title, summary, labels = prev.title, prev.summary, dict(prev.labels)
        arrivals = list(inc.arrivals)
        state = Incident(
            id=inc.id,
            version=inc.version + 1,
            rule_id=rule.id,
            rule_version=rule.version,
            category=rule.category,
            status=status,
            priority=inc.priority,
            priority_base=self.base,
            priority_terms=[PriorityTerm(name=n, delta=d) for n, d in inc.terms],
            title=title,
            summary=summary,
            key=inc.key,
            group=inc.group,
            location=GeoPoint(lat=inc.lat, lon=inc.lon) if inc.lat is not None and inc.lon is not None else None,
            admin=_admin(inc.admin),
            first_time=utc(inc.first_ts),
            last_time=utc(inc.last_ts),
            updated_time=utc(at),
            event_ids=list(inc.event_ids),
            event_count=max(1, inc.event_count),
            labels=labels,
            playbook=list(rule.playbook),
            close_reason=reason,
            arrivals=arrivals,
            time_to_arrive_s=arrivals[0].time_to_arrive_s if arrivals else None,
            acknowledged_at=None if inc.acked is None else utc(inc.acked),
            internal=not rule.spec.emit,
        )
        inc.version += 1
        inc.state = state
        inc.made_at = at
        inc.pending = False
        if inc.owned:
            self.out.append(state)

    # --- timers and lifecycle inputs -------------------------------------------------------------
    def on_timer(self, kind: str, ref: str, ts: float) -> None:
        inc = self.by_id.get(ref)
        if inc is None or inc.closed:
            return
        if kind == FLUSH:
            # a flush due at or after the closing time is left to the closing version, which includes it
            if inc.pending and inc.made_at + self.update_every == ts and ts < inc.updated + self.merge_window:
                self._record(("fields", inc, inc.fields()))
                self._version(inc, IncidentStatus.UPDATED, ts)
        elif kind == CLOSE and inc.alarm == ts:
            close_at = inc.updated + self.merge_window
            self._record(("fields", inc, inc.fields()))
            if close_at == ts:
                inc.alarm = None
                self._close(inc, NO_NEW_EVENTS, ts)
            else:  # updated since it was set: wait for the new closing time
                inc.alarm = close_at
                self.schedule(close_at, CLOSE, inc.id)

    def _catch_up(self, inc: OpenIncident, ts: float) -> bool:
        """Before an input at `ts` that is not a match: what time passing did to `inc` by then (its timers may
        not have fired yet: they wait for the watermark). Returns False when it closed before `ts`."""
        close_at = inc.updated + self.merge_window
        if inc.pending and inc.made_at + self.update_every < min(ts, close_at):
            self._record(("fields", inc, inc.fields()))
            self._version(inc, IncidentStatus.UPDATED, inc.made_at + self.update_every)
        if ts > close_at:
            self._close(inc, NO_NEW_EVENTS, close_at)
            return False
        return True

    def close(self, inc_id: str, ts: float) -> bool:
        """A dispatcher closed the incident at `ts`; False when the book has no open incident of that id."""
        inc = self.by_id.get(inc_id)
        if inc is None or inc.closed or inc.state is None or not self._catch_up(inc, ts):
            return False
        self._close(inc, BY_DISPATCHER, max(ts, inc.made_at))
        return True

    def _close(self, inc: OpenIncident, reason: str, at: float) -> None:
        self._record(("fields", inc, inc.fields()))
        inc.closed = True
        self._version(inc, IncidentStatus.CLOSED, at, reason, render=inc.pending)

    def ack(self, inc_id: str, ts: float) -> bool:
        """A dispatcher acknowledged (or assigned) the incident at `ts`: the earliest such time is kept and goes
        out with the incident's next version (an acknowledgement alone makes none: the dispatch system that sent
        it knows; the closing version always carries it). Order-free: the earliest wins whatever the arrival."""
        inc = self.by_id.get(inc_id)
        if inc is None or inc.closed or inc.state is None or (inc.acked is not None and inc.acked <= ts):
            return False
        if not self._catch_up(inc, ts):
            return False
        self._record(("fields", inc, inc.fields()))
        inc.acked = ts
        return True

    def arrive(self, inc_id: str, unit_id: str, unit_type: str, ts: float) -> bool:
        """A unit reported on_scene for an open incident: a version records it (once per unit)."""
        inc = self.by_id.get(inc_id)
        if inc is None or inc.closed or inc.state is None or any(a.unit_id == unit_id for a in inc.arrivals):
            return False
        if not self._catch_up(inc, ts):
            return False
        self._record(("fields", inc, inc.fields()))
        arrival = UnitArrival(
            unit_id=unit_id,
            unit_type=UnitType(unit_type),
            arrived_time=utc(ts),
            time_to_arrive_s=max(0.0, ts - inc.first_ts),
        )
        inc.arrivals = tuple(sorted([*inc.arrivals, arrival], key=lambda a: (a.arrived_time, a.unit_id)))
        self._version(inc, IncidentStatus.UPDATED, max(ts, inc.made_at), render=inc.pending)
        return True

    # --- journal ---------------------------------------------------------------------------------
    def _record(self, op: tuple[Any, ...]) -> None:
        op[1].touched = self.journal.mark()
        self.journal.add(op)

    def undo(self, op: tuple[Any, ...]) -> None:
        code = op[0]
        if code == "fields":
            op[1].set_fields(op[2])
        elif code == "evidence":
            inc: OpenIncident = op[1]
            inc.seen.difference_update(op[2])
            del inc.event_ids[op[3] :]
        elif code == "open":
            inc = op[1]
            self.by_id.pop(inc.id, None)
            peers = self.by_key.get(inc.key)
            if peers is not None:
                peers.remove(inc)
                if not peers:
                    del self.by_key[inc.key]
        else:
            raise AssertionError(f"unknown journal record {code!r}")

    def take_raised(self) -> list[tuple[str, float]]:
        raised, self.raised = self.raised, []
        return raised

    def latest(self, inc_id: str) -> Incident | None:
        inc = self.by_id.get(inc_id)
        return inc.state if inc is not None else None

    def owns(self, inc_id: str) -> bool:
        return inc_id in self.by_id

    def forget_closed(self) -> None:
        """Drop closed incidents that no record left in the journal refers to: no rollback can reach them."""
        base = self.journal.base
        for inc_id in [i for i, inc in self.by_id.items() if inc.closed and inc.touched < base]:
            inc = self.by_id.pop(inc_id)
            peers = self.by_key.get(inc.key)
            if peers is not None and inc in peers:
                peers.remove(inc)
                if not peers:
                    del self.by_key[inc.key]

    def size(self) -> int:
        return sum(1 for inc in self.by_id.values() if not inc.closed)
