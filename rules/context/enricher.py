"""The Enricher: adds context to every incident update on its way out of the core.

    on_event(event, ts)      every input event (unit GPS and 112 calls feed unit state and history;
                             reference events are applied to the shared ReferenceStore by the Correlator)
    enrich(incident)         -> the same incident with `context` (and `admin` when it had none)
    take_alerts()            -> public alerts (and cancellations) decided since the last call
    snapshot() / restore()   unit board, call index, history and alert state (the reference tables are
                             in the Correlator's snapshot)

Pure and deterministic: no clock, no I/O; every time is event time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from rules.alerts.policy import AlertPolicy, ZoneNear
from rules.context.errors import ContextError
from rules.context.history import DEFAULT_HISTORY_INDEX, History, normalise_address
from rules.context.roster import RosterUnit
from rules.context.scopes import scope_ids
from rules.context.units import DEFAULT_SPEEDS_KMH, DEFAULT_UNIT_INDEX, UNIT_KEEP_S, UnitBoard
from rules.core.reference import ReferenceStore
from rules.privacy import PrivacySettings, redact_incident
from schemas import (
    CameraHit,
    GeoPoint,
    HistoryCount,
    Incident,
    IncidentContext,
    IncidentStatus,
    PublicAlert,
    UnitRecommendation,
    UnitShortfall,
)

SNAPSHOT_FORMAT = "saqshy.context.snapshot"
# 2: history rows without the area's cell keys; 3: every unit fix kept, with its event id (1 and 2 are still read)
SNAPSHOT_VERSION = 3
DAY = 86_400.0


@dataclass(frozen=True)
class EnricherSettings:
    history_days: int = 30
    history_last_ids: int = 5
    area_radius_m: float = 200.0
    max_cameras: int = 5
    unit_stale_s: float = 180.0  # a GPS fix older than this (event time) is not a position
    unit_keep_s: float = UNIT_KEEP_S  # fixes kept behind the newest, for versions enriched after their time
    road_factor: float = 1.35  # road distance / straight-line distance, for the ETA
    speeds_kmh: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SPEEDS_KMH))
    call_horizon_s: float = 6 * 3600.0  # how long a call's address/phone is kept to key its incident's history
    zone_near_m: float = 300.0  # zones this close count for alert policies
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    roster: Mapping[str, RosterUnit] | None = None  # rules.context.roster.load_roster; None: units from GPS alone
    # the spatial structures (rules/core/spatial.py; same answers, docs/spatial.md measures the speed):
    unit_index: str = DEFAULT_UNIT_INDEX  # nearest units: "scan", "grid" or "rtree"
    history_index: str = DEFAULT_HISTORY_INDEX  # places of past incidents: "grid", "rtree" or "scan"


def unit_board(settings: EnricherSettings) -> UnitBoard:
    s = settings
    return UnitBoard(s.speeds_kmh, s.road_factor, s.roster, s.unit_index, s.unit_keep_s)


@dataclass(slots=True)
class _Call:
    ts: float
    address: str | None
    phone: str | None  # pseudonym


class Enricher:
    def __init__(
        self,
        reference: ReferenceStore,
        settings: EnricherSettings | None = None,
        alerts: AlertPolicy | None = None,
        units: UnitBoard | None = None,
    ) -> None:
        """`units`: a board shared with other enrichers (a Flink operator's keys, fed every fix of the city by
        its broadcast): this enricher then neither snapshots nor restores it."""
        self.reference = reference
        self.settings = s = settings or EnricherSettings()
        self.shared_units = units is not None
        self.units = units if units is not None else unit_board(s)
        self.history = History(s.history_days * DAY, s.area_radius_m, s.history_last_ids, s.history_index)
        self.alerts = alerts
        self._calls: dict[str, _Call] = {}
        self._call_order: deque[tuple[float, str]] = deque()
        self._alerted: dict[str, PublicAlert] = {}  # incident id -> the alert sent for it
        self._out: list[PublicAlert] = []
        self._high = float("-inf")

    # --- inputs ------------------------------------------------------------------------------
    def on_event(self, event: Any, ts: float | None = None) -> None:
        etype = event.type
        if etype == "unit.gps":
            self.units.observe(event, event.time.timestamp() if ts is None else ts)
        elif etype == "call.112":
            t = event.time.timestamp() if ts is None else ts
            data = event.data
            address = normalise_address(data.address) if data.address else None
            phone = self.settings.privacy.pseudonymise_phone(data.phone) if data.phone else None
            if (address or phone) and event.id not in self._calls:
                self._calls[event.id] = _Call(t, address, phone)
                self._call_order.append((t, event.id))
            if t > self._high:
                self._high = t
                self._evict(t)

    def _evict(self, now: float) -> None:
        cutoff = now - self.settings.call_horizon_s
        order = self._call_order
        while order and order[0][0] < cutoff:
            self._calls.pop(order.popleft()[1], None)

    # --- output ------------------------------------------------------------------------------
    def enrich(self, incident: Incident) -> Incident:
        s = self.settings
        ref = self.reference
        loc = incident.location
        at = incident.updated_time.timestamp()
        first = incident.first_time.timestamp()
        admin = incident.admin
        admin_ids: list[str] = []
        zones: list[str] = []
        cameras: list[CameraHit] = []
        if loc is not None:
            found, admin_ids = ref.admin_index.path_at(loc.lat, loc.lon)
            admin = admin or found
            zones = ref.zones.zones_at(loc.lat, loc.lon)
            cameras = [
                CameraHit(
                    camera_id=c.camera_id,
                    owner=str(c.record.owner),
                    kind=str(c.record.kind),
                    status=str(c.record.status),
                    distance_m=round(c.distance_m, 1),
                )
                for c in ref.camera_index.covering(loc.lat, loc.lon, s.max_cameras)
            ]
        # history keys: the addresses and phones of the incident's calls, and its 200 m area
        keys: list[tuple[str, str, str]] = []
        for eid in incident.event_ids:
            call = self._calls.get(eid)
            if call is None:
                continue
            if call.address:
                keys.append(("address", call.address, "address:" + call.address))
            if call.phone:
                keys.append(("phone", call.phone, "phone:" + call.phone))
        keys = sorted(set(keys))
        history = []
        for by, shown, key in keys:
            n, last = self.history.lookup(key, incident.id, first)
            history.append(HistoryCount(by=by, key=shown, count=n, window_days=s.history_days, last_ids=last))
        if loc is not None:
            n, last = self.history.area(incident.id, first, loc.lat, loc.lon)
            history.append(
                HistoryCount(by="area", key=f"{s.area_radius_m:g}m", count=n, window_days=s.history_days, last_ids=last)
            )
        lat, lon = (loc.lat, loc.lon) if loc is not None else (None, None)
        self.history.register(incident.id, first, [k for _, _, k in keys], lat, lon)
        self.history.evict(first)
        units, shortfall = self._units(incident, at)
        agencies = sorted({st.agency for st in incident.playbook if st.agency})
        context = IncidentContext(
            admin=admin,
            admin_ids=admin_ids,
            zones=zones,
            cameras=cameras,
            history=history,
            units=units,
            shortfall=shortfall,
            agencies=agencies,
            checklist=[st.action for st in incident.playbook],
            scopes=scope_ids(admin),
            reference_time=datetime.fromtimestamp(ref.latest_ts, tz=UTC) if ref.latest_ts > 0 else None,
        )
        out = incident.model_copy(update={"context": context, "admin": admin})
        if self.alerts is not None and loc is not None:
            self._alert(out, zones)
        return out

    def _units(self, incident: Incident, at: float) -> tuple[list[UnitRecommendation], list[UnitShortfall]]:
        loc = incident.location
        if loc is None or incident.status == IncidentStatus.CLOSED:
            return [], []
        need: dict[str, int] = {}
        for st in incident.playbook:
            if st.unit_type is not None and st.units:
                need[str(st.unit_type)] = need.get(str(st.unit_type), 0) + st.units
        arrived = {a.unit_id for a in incident.arrivals}
        for a in incident.arrivals:
            t = str(a.unit_type)
            if t in need:
                need[t] -= 1
        units: list[UnitRecommendation] = []
        shortfall: list[UnitShortfall] = []
        for unit_type in sorted(need):
            count = need[unit_type]
            if count <= 0:
                continue
            found = self.units.nearest(loc.lat, loc.lon, unit_type, count, at, self.settings.unit_stale_s, arrived)
            units += [
                UnitRecommendation(
                    unit_id=c.fix.unit_id,
                    unit_type=c.fix.unit_type,
                    callsign=c.fix.callsign,
                    distance_m=round(c.distance_m, 1),
                    eta_s=round(c.eta_s, 1),
                    location=GeoPoint(lat=c.fix.lat, lon=c.fix.lon),
                    fix_time=datetime.fromtimestamp(c.fix.ts, tz=UTC),
                )
                for c in found
            ]
            if len(found) < count:
                shortfall.append(UnitShortfall(unit_type=unit_type, needed=count, found=len(found)))
        return units, shortfall

    def _alert(self, incident: Incident, zones: list[str]) -> None:
        assert self.alerts is not None and incident.location is not None
        sent = self._alerted.get(incident.id)
        if incident.status == IncidentStatus.CLOSED:
            if sent is not None:
                del self._alerted[incident.id]
                self._out.append(self.alerts.cancel(sent, incident))  # all clear, in every language
            return
        if sent is not None or not self.alerts.may_apply(incident):
            return
        near = self._zones_near(incident.location, zones)
        spec = self.alerts.choose(incident, near)
        if spec is None:
            return
        district = incident.admin.district if incident.admin is not None else None
        place = near[0].name if near else (district or "")
        place = place or f"{incident.location.lat:.4f}, {incident.location.lon:.4f}"
        alert = self.alerts.build(spec, redact_incident(incident, self.settings.privacy), near, place)
        self._alerted[incident.id] = alert
        self._out.append(alert)

    def _zones_near(self, loc: GeoPoint, inside: list[str]) -> list[ZoneNear]:
        """Zones containing the point (distance 0) or within zone_near_m of it, nearest first."""
        near = self.reference.zones.zones_near(loc.lat, loc.lon, self.settings.zone_near_m)
        out = []
        for zid, d in near:
            rec = self.reference.zones.record(zid)
            if rec is not None:
                out.append(ZoneNear(zid, rec.name, str(rec.kind), 0.0 if zid in inside else d))
        return sorted(out, key=lambda z: (z.distance_m, z.zone_id))

    def take_alerts(self) -> list[PublicAlert]:
        out, self._out = self._out, []
        return out

    # --- snapshots ---------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        return orjson.dumps(
            {
                "format": SNAPSHOT_FORMAT,
                "version": SNAPSHOT_VERSION,
                "units": [] if self.shared_units else self.units.dump(),
                "calls": [[eid, c.ts, c.address, c.phone] for eid, c in self._calls.items()],
                "history": self.history.dump(),
                "alerted": [a.model_dump(mode="json") for a in self._alerted.values()],
                "high": self._high if self._high != float("-inf") else None,
            }
        )

    def restore(self, data: bytes) -> None:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ContextError(f"not a context snapshot: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
            raise ContextError("not a context snapshot (missing format marker)")
        version = doc.get("version")
        if version not in (1, 2, SNAPSHOT_VERSION):
            raise ContextError(f"context snapshot version {version} is not supported")
        if not self.shared_units:
            self.units.load(doc["units"])
        self._calls = {eid: _Call(float(ts), a, p) for eid, ts, a, p in doc["calls"]}
        self._call_order = deque(sorted((c.ts, eid) for eid, c in self._calls.items()))
        self.history.load(doc["history"], version)
        self._alerted = {}
        for row in doc["alerted"]:
            alert = PublicAlert.model_validate(row)
            self._alerted[alert.incident_id] = alert
        self._high = float(doc["high"]) if doc["high"] is not None else float("-inf")
