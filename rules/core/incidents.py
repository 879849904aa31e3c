"""Matches become incidents: merged by key (and place) within a merge window, prioritised by named
terms, emitted as full-state versioned updates of a deterministic id, and closed in event time.

Spatial partitions (streams/partitioning.py) also see replicas of their neighbours' events near the border.
Matches those replicas complete build *shadow* incidents: kept and merged like any other, never emitted.
An incident belongs to the partition whose own event completed the match that opened it; that partition
emits every version, including the ones that later matches completed by replicas add. Every partition near
the border thus holds the same incident, and exactly one emits it, as the embedded runner would.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from rules.compiler import CRule
from rules.core.match import Match
from rules.core.timers import Timers
from rules.geo import haversine_m as distance_m
from schemas import AdminPath, GeoPoint, Incident, IncidentStatus, PriorityTerm, UnitArrival, UnitType


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def incident_id(rule: CRule, key: str, first_event_id: str) -> str:
    raw = f"{rule.id}\x1f{rule.version}\x1f{key}\x1f{first_event_id}".encode()
    return "inc-" + hashlib.blake2b(raw, digest_size=10).hexdigest()


class OpenIncident:
    __slots__ = (
        "admin", "event_count", "event_ids", "first_ts", "id", "key", "lat", "loc_ts", "lon", "owned", "seen", "state"
    )  # fmt: skip

    def __init__(self, inc_id: str, key: str, lat: float | None, lon: float | None, admin: Any, owned: bool = True):
        self.id = inc_id
        self.key = key
        self.lat = lat
        self.lon = lon
        self.admin = admin
        self.event_ids: list[str] = []
        self.seen: set[str] = set()
        self.event_count = 0
        self.first_ts = float("inf")
        self.loc_ts = float("-inf")
        self.state: Incident | None = None
        self.owned = owned  # False: a shadow of a neighbour partition's incident


def _admin(record: Any) -> AdminPath | None:
    if record is None:
        return None
    return AdminPath(republic=record.republic, region=record.region, city=record.city, district=record.district)


class IncidentBook:
    """The open incidents of one rule."""

    def __init__(self, rule: CRule, timers: Timers):
        self.rule = rule
        self.timers = timers
        inc = rule.spec.incident
        self.merge_window = inc.merge_window
        self.merge_within = inc.merge_within
        self.follow = inc.location == "latest"
        if self.merge_within is None and inc.key is None and rule.spec.correlate.within is not None:
            # Spatial rule without a key: nearby matches are the same incident.
            self.merge_within = rule.spec.correlate.within
        self.by_key: dict[str, list[OpenIncident]] = {}
        self.by_id: dict[str, OpenIncident] = {}
        self.emitted = 0

    def context(self, m: Match) -> dict[str, Any]:
        ctx: dict[str, Any] = {s.name: None for s in self.rule.selections}
        ctx.update(m.bindings)
        ctx["count"] = m.count
        ctx["distinct"] = m.distinct
        ctx["sum"] = m.total
        ctx["group"] = m.group
        if m.hit is not None:
            ctx[self.rule.spec.correlate.as_] = m.hit  # type: ignore[union-attr]
            ctx["distance"] = m.hit_distance
        return ctx

    def _find(self, key: str, m: Match) -> OpenIncident | None:
        best: tuple[float, OpenIncident] | None = None
        for inc in self.by_key.get(key, ()):
            assert inc.state is not None
            if m.time - inc.state.last_time.timestamp() > self.merge_window:
                continue
            d = 0.0
            if self.merge_within is not None:
                if inc.lat is None or m.anchor.lat is None:
                    continue
                d = distance_m(inc.lat, inc.lon, m.anchor.lat, m.anchor.lon)  # type: ignore[arg-type]
                if d > self.merge_within:
                    continue
            if best is None or d < best[0]:
                best = (d, inc)
        return best[1] if best else None

    def on_match(self, m: Match) -> Incident | None:
        rule = self.rule
        ctx = self.context(m)
        key = rule.key_template(ctx) if rule.key_template else m.group
        inc = self._find(key, m)
        if inc is None:
            inc = OpenIncident(
                incident_id(rule, key, m.trigger.ev.id),
                key,
                m.anchor.lat,
                m.anchor.lon,
                m.anchor.ev.admin,
                owned=not m.trigger.replica,
            )
            inc.loc_ts = m.anchor.ts
            self.by_key.setdefault(key, []).append(inc)
            self.by_id[inc.id] = inc
        elif self.follow and m.anchor.lat is not None and m.anchor.ts >= inc.loc_ts:
            inc.lat, inc.lon, inc.admin, inc.loc_ts = m.anchor.lat, m.anchor.lon, m.anchor.ev.admin, m.anchor.ts
        added = False
        limit = rule.spec.limits.max_event_ids
        for e in m.entries:
            eid = e.ev.id
            if eid not in inc.seen:
                inc.seen.add(eid)
                inc.event_count += 1
                if len(inc.event_ids) < limit:
                    inc.event_ids.append(eid)
                added = True
        terms = [t for t in rule.terms if t.when(ctx)]
        base = rule.spec.incident.priority.base
        priority = min(5, max(1, base + sum(t.delta for t in terms)))
        prev = inc.state
        if prev is not None:
            if not added and priority >= prev.priority:
                return None  # a duplicate or a re-match of the same events changes nothing
            escalated = priority < prev.priority
            status = IncidentStatus.ESCALATED if escalated else IncidentStatus.UPDATED
            priority = min(priority, prev.priority)
            if not escalated:
                terms_out = prev.priority_terms
            else:
                terms_out = [PriorityTerm(name=t.name, delta=t.delta) for t in terms]
        else:
            status = IncidentStatus.OPEN
            terms_out = [PriorityTerm(name=t.name, delta=t.delta) for t in terms]
        times = [e.ts for e in m.entries]
        first = min(min(times), prev.first_time.timestamp()) if prev else min(times)
        last = max(max(times), prev.last_time.timestamp()) if prev else max(times)
        state = Incident(
            id=inc.id,
            version=1 if prev is None else prev.version + 1,
            rule_id=rule.id,
            rule_version=rule.version,
            category=rule.category,
            status=status,
            priority=priority,
            priority_base=base,
            priority_terms=terms_out,
            title=rule.title(ctx),
            summary=rule.summary(ctx),
            key=key,
            group=m.group,
            location=GeoPoint(lat=inc.lat, lon=inc.lon) if inc.lat is not None and inc.lon is not None else None,
            admin=_admin(inc.admin),
            first_time=utc(first),
            last_time=utc(last),
            updated_time=utc(max(m.time, prev.updated_time.timestamp()) if prev else m.time),
            event_ids=list(inc.event_ids),
            event_count=max(1, inc.event_count),
            labels={name: fn(ctx) for name, fn in rule.labels},
            playbook=list(rule.playbook),
            arrivals=prev.arrivals if prev else [],
            time_to_arrive_s=prev.time_to_arrive_s if prev else None,
        )
        inc.state = state
        self.timers.register(last + self.merge_window, rule.state_key, "close", inc.id)
        if not inc.owned:
            return None
        self.emitted += 1
        return state

    def on_timer(self, ts: float, inc_id: str, watermark: float) -> Incident | None:
        inc = self.by_id.get(inc_id)
        if inc is None or inc.state is None:
            return None
        if inc.state.last_time.timestamp() + self.merge_window > ts:
            return None  # it was updated since this timer was set; a later timer closes it
        return self.close(
            inc_id, "no new events within the merge window", inc.state.last_time.timestamp() + self.merge_window
        )

    def close(self, inc_id: str, reason: str, ts: float) -> Incident | None:
        inc = self.by_id.pop(inc_id, None)
        if inc is None or inc.state is None:
            return None
        peers = self.by_key.get(inc.key, [])
        if inc in peers:
            peers.remove(inc)
        if not peers:
            self.by_key.pop(inc.key, None)
        prev = inc.state
        if not inc.owned:
            return None
        self.emitted += 1
        return prev.model_copy(
            update={
                "version": prev.version + 1,
                "status": IncidentStatus.CLOSED,
                "close_reason": reason,
                "updated_time": utc(max(ts, prev.updated_time.timestamp())),
            }
        )

    def arrive(self, inc_id: str, unit_id: str, unit_type: str, ts: float) -> Incident | None:
        """A unit reported on_scene for an open incident: a new version records it (once per unit)."""
        inc = self.by_id.get(inc_id)
        if inc is None or inc.state is None:
            return None
        prev = inc.state
        if any(a.unit_id == unit_id for a in prev.arrivals):
            return None
        first = prev.first_time.timestamp()
        arrival = UnitArrival(
            unit_id=unit_id, unit_type=UnitType(unit_type), arrived_time=utc(ts), time_to_arrive_s=max(0.0, ts - first)
        )
        arrivals = sorted([*prev.arrivals, arrival], key=lambda a: (a.arrived_time, a.unit_id))
        state = prev.model_copy(
            update={
                "version": prev.version + 1,
                "status": IncidentStatus.UPDATED,
                "arrivals": arrivals,
                "time_to_arrive_s": arrivals[0].time_to_arrive_s,
                "updated_time": utc(max(ts, prev.updated_time.timestamp())),
            }
        )
        inc.state = state
        if not inc.owned:
            return None
        self.emitted += 1
        return state

    def size(self) -> int:
        return len(self.by_id)

    def dump(self) -> list[Any]:
        return [
            [
                inc.id,
                inc.key,
                inc.lat,
                inc.lon,
                sorted(inc.seen),
                inc.event_count,
                inc.state.model_dump(mode="json") if inc.state else None,
                inc.loc_ts if inc.loc_ts != float("-inf") else None,
                inc.owned,
            ]
            for inc in self.by_id.values()
        ]

    def load(self, rows: list[Any]) -> None:
        for row in rows:
            inc_id, key, lat, lon, seen, count, state = row[:7]
            model = Incident.model_validate(state) if state else None
            inc = OpenIncident(inc_id, key, lat, lon, None)
            if len(row) > 7 and row[7] is not None:
                inc.loc_ts = float(row[7])
            inc.owned = bool(row[8]) if len(row) > 8 else True
            inc.seen = set(seen)
            inc.event_count = count
            if model is not None:
                inc.state = model
                inc.event_ids = list(model.event_ids)
                inc.admin = model.admin
                self.timers.register(
                    model.last_time.timestamp() + self.merge_window, self.rule.state_key, "close", inc.id
                )
            self.by_key.setdefault(key, []).append(inc)
            self.by_id[inc_id] = inc
