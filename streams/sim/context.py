"""What the background and the planted scenarios share: the city, seeded RNGs, event builders and the
delivery buffer that reorders and duplicates a little, as at-least-once sources do."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas import (
    AccidentRecord,
    AccidentRecordEvent,
    Analytic,
    AnprRead,
    AnprReadEvent,
    BBox,
    CallCategory,
    EmergencyCall,
    EmergencyCallEvent,
    EventBase,
    GeoPoint,
    Phase,
    Severity,
    SosPress,
    SosPressEvent,
    UnitType,
    VideoDetection,
    VideoDetectionEvent,
    encode_event,
)
from streams.sim.city import Camera, City

GEOCODE_ACCURACY_M = {"exact": 15.0, "street": 80.0, "district": 1500.0, "cell_tower": 1200.0, "none": 5000.0}


def to_dt(ts: float) -> datetime:
    return datetime.fromtimestamp(round(ts, 3), tz=UTC)


@dataclass(frozen=True)
class Request:
    """A unit is needed at a place: processed in time order before the hour's GPS fixes are made."""

    t: float
    unit_type: UnitType
    lat: float
    lon: float
    ref: str
    arrive_s: float | None = None  # forced travel time (SOS tests), else from distance
    scene_s: tuple[float, float] | None = None


@dataclass
class Emitter:
    """Buffers encoded events by delivery time. A small fraction is delivered late (1-20 s), and a rare
    one twice; events at or after `end` are dropped, since they are outside the simulated period."""

    rng: random.Random
    end: float
    late_fraction: float = 0.015
    dup_fraction: float = 0.001
    buf: list[tuple[float, int, bytes]] = field(default_factory=list)
    seq: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    late: int = 0
    duplicates: int = 0

    def emit(self, event: EventBase, ts: float) -> None:
        if ts >= self.end:
            return
        data = encode_event(event)
        key = ts
        if self.rng.random() < self.late_fraction:
            key += self.rng.uniform(1.0, 20.0)
            self.late += 1
        self.buf.append((key, self.seq, data))
        self.seq += 1
        self.counts[getattr(event, "type", "?")] += 1
        if self.rng.random() < self.dup_fraction:
            self.buf.append((ts + self.rng.uniform(0.2, 15.0), self.seq, data))
            self.seq += 1
            self.duplicates += 1

    def flush(self, horizon: float) -> list[bytes]:
        """Everything due before `horizon`, in delivery order; the rest stays buffered."""
        self.buf.sort()
        cut = len(self.buf)
        for i, item in enumerate(self.buf):
            if item[0] >= horizon:
                cut = i
                break
        out = [data for _, _, data in self.buf[:cut]]
        del self.buf[:cut]
        return out


@dataclass
class SimContext:
    city: City
    rng: random.Random
    emitter: Emitter
    requests: list[Request] = field(default_factory=list)
    ids: Counter[str] = field(default_factory=Counter)
    track: int = 0
    road_accidents: dict[str, list[float]] = field(default_factory=dict)  # road name -> accident times

    def would_cluster(self, road: str, t: float, window_s: float = 86_400.0) -> bool:
        """Whether an accident on `road` at `t` would make 3 on that road within one window (24 h): only
        the planted road-accident clusters may (scenarios.traffic_road_accident_cluster)."""
        near = sorted(x for x in self.road_accidents.get(road, ()) if abs(x - t) <= window_s)
        return any(
            max(near[j], t) - min(near[i], t) <= window_s for i in range(len(near)) for j in range(i + 1, len(near))
        )

    def new_id(self, prefix: str) -> str:
        self.ids[prefix] += 1
        return f"{prefix}-{self.ids[prefix]:07d}"

    def phone(self) -> str:
        return f"+77{self.rng.choice('0157')}{self.rng.randrange(10**8):08d}"

    # --- builders: each builds a validated event, emits it and returns its id ---------------------

    def call(
        self,
        ts: float,
        lat: float,
        lon: float,
        category: CallCategory,
        phone: str | None,
        *,
        geocode: str = "exact",
        description: str | None = None,
        injured: int | None = None,
        address: str | None = None,
        line: str = "112",
    ) -> str:
        eid = self.new_id("call")
        has_place = geocode in ("exact", "street")
        ev = EmergencyCallEvent(
            id=eid,
            source="sim/112",
            time=to_dt(ts),
            location=GeoPoint(lat=round(lat, 6), lon=round(lon, 6), accuracy_m=GEOCODE_ACCURACY_M[geocode]),
            admin=self.city.admin_of(lat, lon) if geocode != "cell_tower" else None,
            data=EmergencyCall(
                call_id=eid,
                line=line,  # type: ignore[arg-type]
                phone=phone,
                address=address or (self.city.address(lat, lon) if has_place else None),
                geocode=geocode,  # type: ignore[arg-type]
                category=category,
                description=description,
                operator=f"op-{self.rng.randint(1, 24):02d}",
                injured=injured,
            ),
        )
        self.emitter.emit(ev, ts)
        return eid

    def detection(
        self,
        ts: float,
        cam: Camera,
        analytic: Analytic,
        confidence: float,
        *,
        label: str | None = None,
        count: int | None = None,
        phase: Phase = Phase.NEW,
        track_id: int | None = None,
        dwell_s: float | None = None,
    ) -> str:
        eid = self.new_id("vid")
        if track_id is None:
            self.track += 1
            track_id = self.track
        r = self.rng
        w, h = r.uniform(0.03, 0.4), r.uniform(0.05, 0.5)
        ev = VideoDetectionEvent(
            id=eid,
            source=f"sim/video/{cam.camera_id}",
            time=to_dt(ts),
            location=GeoPoint(lat=cam.lat, lon=cam.lon, accuracy_m=10.0),
            data=VideoDetection(
                camera_id=cam.camera_id,
                analytic=analytic,
                label=label or analytic.value,
                confidence=round(confidence, 3),
                bbox=BBox(
                    x=round(r.uniform(0, 1 - w), 3),
                    y=round(r.uniform(0, 1 - h), 3),
                    w=round(w, 3),
                    h=round(h, 3),
                ),
                track_id=track_id,
                zone_id=cam.zone_id,
                phase=phase,
                count=count,
                dwell_s=dwell_s,
            ),
        )
        self.emitter.emit(ev, ts)
        return eid

    def anpr(
        self,
        ts: float,
        cam: Camera,
        plate: str,
        confidence: float,
        *,
        direction: str = "unknown",
        speed_kmh: float | None = None,
        lane: int | None = None,
        vehicle_class: str | None = None,
    ) -> str:
        eid = self.new_id("anpr")
        ev = AnprReadEvent(
            id=eid,
            source=f"sim/anpr/{cam.camera_id}",
            time=to_dt(ts),
            location=GeoPoint(lat=cam.lat, lon=cam.lon, accuracy_m=10.0),
            data=AnprRead(
                camera_id=cam.camera_id,
                plate=plate,
                country="KZ",
                confidence=round(confidence, 3),
                direction=direction,  # type: ignore[arg-type]
                speed_kmh=speed_kmh,
                lane=lane,
                vehicle_class=vehicle_class,
            ),
        )
        self.emitter.emit(ev, ts)
        return eid

    def sos(self, ts: float, device_id: str, lat: float, lon: float, message: str | None = None) -> str:
        eid = self.new_id("sos")
        ev = SosPressEvent(
            id=eid,
            source="sim/sos",
            time=to_dt(ts),
            location=GeoPoint(lat=lat, lon=lon, accuracy_m=5.0),
            admin=self.city.admin_of(lat, lon),
            data=SosPress(device_id=device_id, kind="fixed_button", message=message),
        )
        self.emitter.emit(ev, ts)
        return eid

    def accident(
        self,
        ts: float,
        lat: float,
        lon: float,
        severity: Severity,
        *,
        vehicles: int,
        injured: int = 0,
        killed: int = 0,
        factors: list[str] | None = None,
    ) -> str:
        eid = self.new_id("dtp")
        road = self.city.nearest_street(lat, lon)[0].name
        self.road_accidents.setdefault(road, []).append(ts)
        ev = AccidentRecordEvent(
            id=eid,
            source="sim/dtp",
            time=to_dt(ts),
            location=GeoPoint(lat=round(lat, 6), lon=round(lon, 6), accuracy_m=20.0),
            admin=self.city.admin_of(lat, lon),
            data=AccidentRecord(
                record_id=eid,
                severity=severity,
                vehicles=vehicles,
                injured=injured,
                killed=killed,
                road=road,
                factors=factors or [],
            ),
        )
        self.emitter.emit(ev, ts)
        return eid

    def request(self, req: Request) -> None:
        self.requests.append(req)
