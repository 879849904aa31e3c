"""Simulated dispatchers in the loop of a replay: they acknowledge the engine's incidents, assign the unit
already on its way, and close the incident when that unit clears (issue 19).

Why a feedback step and not the generator: a dispatcher acts on incident ids, and those are the engine's
(rules/core/book.py hashes rule, version, key and the opening match's evidence). The generator could
recompute them only by re-implementing every rule's matching; a CAD learns them from the engine. So
`saqshy simulate` stays pure and `saqshy replay --dispatch-sim SEED` wraps the input: incidents coming out
of the runner schedule `dispatch.action` events, which go back into the same runner at their event times,
merged into the stream in time order. The AVL of the unit assigned to an incident reports that incident
(as a CAD sets it): its `unit.gps` fixes after the assignment carry the incident id, so the engine sees
the arrival (`arrivals`, `time_to_arrive_s`).

Deterministic for a seed and an input: every draw is seeded from (seed, incident id).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from schemas import DispatchAction, DispatchActionEvent, GeoPoint, Incident, encode_event
from streams.sim.context import to_dt
from streams.sim.truth import TruthItem

ACK_DEADLINE_S = 180.0
MISS_SHARE = 0.1  # of priority 1-2 incidents: nobody acknowledges within 3 minutes


@dataclass
class Handling:
    incident: Incident
    acked: float | None = None  # event time of the ack, once sent
    unit: str | None = None
    assigned: float | None = None
    closing: bool = False


@dataclass
class DispatchSim:
    seed: int
    miss_share: float = MISS_SHARE
    truth: list[TruthItem] = field(default_factory=list)
    ack_s: list[float] = field(default_factory=list)  # acknowledgement delays sent, seconds after detection
    actions: int = 0
    _pending: list[tuple[float, int, bytes]] = field(default_factory=list)
    _seq: int = 0
    _seen: dict[str, Handling] = field(default_factory=dict)
    _by_evidence: dict[str, str] = field(default_factory=dict)  # evidence event id -> incident id
    _unit_ref: dict[str, tuple[str, float]] = field(default_factory=dict)  # event id -> (unit, first fix)
    _unit_task: dict[str, str] = field(default_factory=dict)  # unit -> incident id it is assigned to

    # --- what the runner's output tells the dispatchers ---------------------------------------------

    def on_incident(self, inc: Incident) -> None:
        if inc.internal or inc.status in ("closed", "retracted"):
            return
        h = self._seen.get(inc.id)
        for eid in inc.event_ids:
            self._by_evidence.setdefault(eid, inc.id)
        if h is not None:
            h.incident = inc
            if h.acked is not None and h.unit is None:
                self._assign_known_unit(h, inc.updated_time.timestamp())
            return
        h = self._seen[inc.id] = Handling(inc)
        r = random.Random(f"{self.seed}:{inc.id}")
        t = inc.updated_time.timestamp()
        # dispatch.unacknowledged watches every priority 1-2 incident; its own escalations are never missed
        watched = inc.priority <= 2 and not inc.rule_id.startswith("dispatch.")
        if watched and r.random() < self.miss_share:
            # a miss: the operator is busy elsewhere; someone acknowledges it 4-8 minutes later
            delay = r.uniform(240, 480)
            self.truth.append(
                TruthItem(
                    truth_id=f"truth-dispatch-{len(self.truth) + 1:04d}",
                    scenario="dispatch_miss",
                    rule_id="dispatch.unacknowledged",
                    time=to_dt(t + ACK_DEADLINE_S),
                    start=to_dt(t),
                    location=GeoPoint(lat=inc.location.lat, lon=inc.location.lon) if inc.location else None,
                    event_ids=list(inc.event_ids),
                    severity=1,
                    note=f"{inc.rule_id} {inc.id}",
                )
            )
        else:  # 20-90 s, most near 40 s
            delay = min(max(r.lognormvariate(math.log(40), 0.45), 20.0), 90.0)
        self._act(t + delay, inc, "ack", operator=f"disp-{r.randint(1, 6):02d}")

    # --- the merged stream ----------------------------------------------------------------------------

    def lines(self, source: Iterable[bytes]) -> Iterator[bytes]:
        """The input with the dispatchers' actions merged in at their event times; GPS fixes of assigned
        units name the incident."""
        for raw in source:
            t, gps = _peek(raw)
            while self._pending and t is not None and self._pending[0][0] <= t:
                yield self._pop()
            if gps is not None and t is not None:
                raw = self._gps(raw, gps, t)
            yield raw
        while self._pending:
            yield self._pop()

    def _pop(self) -> bytes:
        t, _, line = heapq.heappop(self._pending)
        if line.startswith(b"ack:"):  # sent now: the dispatcher acts when the time comes
            return self._send_ack(t, line[4:].decode())
        return line

    def _act(self, t: float, inc: Incident, action: str, **kw: str | None) -> None:
        if action == "ack":  # decided when it is due: the unit seen by then is the one assigned
            heapq.heappush(self._pending, (t, self._seq, b"ack:" + inc.id.encode()))
        else:
            heapq.heappush(self._pending, (t, self._seq, self._event(t, inc.id, action, **kw)))
        self._seq += 1

    def _event(self, t: float, incident_id: str, action: str, **kw: str | None) -> bytes:
        self.actions += 1
        ev = DispatchActionEvent(
            id=f"cad-{self.seed}-{self.actions:07d}",
            source="sim/cad",
            time=to_dt(t),
            data=DispatchAction(incident_id=incident_id, action=action, **kw),  # type: ignore[arg-type]
        )
        return encode_event(ev)

    def _send_ack(self, t: float, incident_id: str) -> bytes:
        h = self._seen[incident_id]
        h.acked = t
        self.ack_s.append(t - h.incident.updated_time.timestamp())
        line = self._event(t, incident_id, "ack", operator="disp")
        self._assign_known_unit(h, t)
        if h.unit is None:  # no unit sent for it (camera-only incidents): closed after a review
            r = random.Random(f"{self.seed}:{incident_id}:close")
            self._act(t + r.uniform(2700, 5400), h.incident, "close", note="reviewed, no unit needed")
            h.closing = True
        return line

    def _assign_known_unit(self, h: Handling, t: float) -> None:
        for eid in h.incident.event_ids:
            hit = self._unit_ref.get(eid)
            if hit is not None and hit[0] not in self._unit_task:
                self._assign(h, hit[0], t)
                return

    def _assign(self, h: Handling, unit: str, t: float) -> None:
        r = random.Random(f"{self.seed}:{h.incident.id}:assign")
        h.unit, h.assigned = unit, t + r.uniform(10, 45)
        self._unit_task[unit] = h.incident.id
        self._act(h.assigned, h.incident, "assign", unit_id=unit)

    def _gps(self, raw: bytes, gps: dict[str, object], t: float) -> bytes:
        unit, ref, status = str(gps["unit_id"]), gps.get("assigned_incident"), gps.get("status")
        task = self._unit_task.get(unit)
        if isinstance(ref, str):
            self._unit_ref.setdefault(ref, (unit, t))
            iid = self._by_evidence.get(ref)
            h = self._seen.get(iid) if iid else None
            if h is not None and h.acked is not None and h.unit is None and task is None:
                self._assign(h, unit, t)
                task = None  # takes effect from the assignment's time
        if task is None:
            return raw
        h = self._seen[task]
        if isinstance(ref, str) and h.assigned is not None and t >= h.assigned:
            doc = orjson.loads(raw)
            doc["data"]["assigned_incident"] = task
            return orjson.dumps(doc)
        if ref is None and status == "available" and h.assigned is not None and t >= h.assigned:
            del self._unit_task[unit]  # cleared the scene: the dispatcher closes the incident
            if not h.closing:
                h.closing = True
                r = random.Random(f"{self.seed}:{task}:close")
                self._act(t + r.uniform(30, 240), h.incident, "close", note="unit cleared")
        return raw


def _peek(raw: bytes) -> tuple[float | None, dict[str, object] | None]:
    """The event time, and the data of a unit.gps with an assignment (only those are decoded whole)."""
    i = raw.find(b'"time":"')
    if i < 0:
        return None, None
    j = raw.find(b'"', i + 8)
    try:
        t = datetime.fromisoformat(raw[i + 8 : j].decode()).timestamp()
    except ValueError:
        return None, None
    if b'"unit.gps"' in raw:
        doc = orjson.loads(raw)
        return t, doc["data"]
    return t, None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]
