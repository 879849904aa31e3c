"""`make bench BENCH=enrich`: incident enrichment against a large city's reference data.

10,000 cameras (half with a field-of-view polygon), 1,000 zones, 400 districts under a republic, a region
and a city, 500 units with fresh GPS fixes, 30 days of history. Each enrichment does the admin path
(point-in-polygon via STRtree), covering cameras ranked by distance, zones, history by address/phone/200 m
area, the nearest units per playbook need with ETA, and the public-alert decision.

Prints one JSON line: {"bench": "enrich", "incidents_per_s", ...}. BENCH_INCIDENTS sets the count.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from rules.alerts import load_alert_policy
from rules.context.enricher import Enricher
from rules.core.reference import ReferenceStore
from rules.records import record_from_model
from schemas import (
    AdminAreaEvent,
    AdminAreaRecord,
    AdminLevel,
    CameraEvent,
    CameraRecord,
    EmergencyCall,
    EmergencyCallEvent,
    GeoPoint,
    GeoPolygon,
    Incident,
    IncidentStatus,
    PlaybookStep,
    UnitGps,
    UnitGpsEvent,
    UnitType,
    ZoneEvent,
    ZoneKind,
    ZoneRecord,
)

T0 = datetime(2026, 1, 5, tzinfo=UTC)
LAT0, LON0, SPAN = 43.18, 76.82, 0.15  # a 17 x 12 km city centre: ~50 cameras per km²
KINDS = list(ZoneKind)
PLAYBOOK = [
    PlaybookStep(action="fire engines", agency="fire", unit_type=UnitType.FIRE, units=2),
    PlaybookStep(action="ambulance", agency="ambulance", unit_type=UnitType.AMBULANCE, units=1),
    PlaybookStep(action="police", agency="police", unit_type=UnitType.POLICE, units=1),
]


def square(lat: float, lon: float, d: float) -> GeoPolygon:
    return GeoPolygon(coordinates=[[(lon, lat), (lon + d, lat), (lon + d, lat + d), (lon, lat + d), (lon, lat)]])


def fov(lat: float, lon: float, rng: random.Random) -> GeoPolygon:
    a = rng.uniform(0, 2 * math.pi)
    r = 0.0015
    pts = [(lon, lat)]
    for da in (-0.4, 0.0, 0.4):
        pts.append((lon + r * math.cos(a + da) / 0.73, lat + r * math.sin(a + da)))
    return GeoPolygon(coordinates=[[*pts, (lon, lat)]])


def world(rng: random.Random) -> tuple[ReferenceStore, list[Any]]:
    store = ReferenceStore()
    evs: list[Any] = []
    big = GeoPolygon(coordinates=[[(46.0, 40.0), (88.0, 40.0), (88.0, 56.0), (46.0, 56.0), (46.0, 40.0)]])
    box = square(LAT0, LON0, SPAN)
    areas = [
        AdminAreaRecord(area_id="kz", name="Kazakhstan", level=AdminLevel.REPUBLIC, geometry=big),
        AdminAreaRecord(area_id="reg", name="Region", level=AdminLevel.REGION, parent_id="kz", geometry=box),
        AdminAreaRecord(area_id="city", name="City", level=AdminLevel.CITY, parent_id="reg", geometry=box),
    ]
    step = SPAN / 20
    for i in range(20):
        for j in range(20):
            areas.append(
                AdminAreaRecord(
                    area_id=f"d-{i}-{j}", name=f"District {i}-{j}", level=AdminLevel.DISTRICT, parent_id="city",
                    geometry=square(LAT0 + i * step, LON0 + j * step, step),
                )
            )  # fmt: skip
    evs += [AdminAreaEvent(id=f"a-{a.area_id}", source="b", time=T0, data=a) for a in areas]
    for i in range(1000):
        lat, lon = LAT0 + rng.uniform(0, SPAN), LON0 + rng.uniform(0, SPAN)
        z = ZoneRecord(zone_id=f"z{i}", name=f"Zone {i}", kind=rng.choice(KINDS), geometry=square(lat, lon, 0.003))
        evs.append(ZoneEvent(id=f"z-{i}", source="b", time=T0, data=z))
    for i in range(10_000):
        lat, lon = LAT0 + rng.uniform(0, SPAN), LON0 + rng.uniform(0, SPAN)
        cam = CameraRecord(
            camera_id=f"cam{i}", location=GeoPoint(lat=lat, lon=lon), fov=fov(lat, lon, rng) if i % 2 else None
        )
        evs.append(CameraEvent(id=f"c-{i}", source="b", time=T0, data=cam))
    for ev in evs:
        store.apply(record_from_model(ev), ev.time.timestamp())
    return store, evs


def main() -> None:
    n = int(os.environ.get("BENCH_INCIDENTS", "5000"))
    rng = random.Random(11)
    store, _ = world(rng)
    enricher = Enricher(store, alerts=load_alert_policy())
    days = 30
    t_end = T0 + timedelta(days=days)
    types = [UnitType.POLICE] * 250 + [UnitType.AMBULANCE] * 150 + [UnitType.FIRE] * 100
    incidents: list[Incident] = []
    streets = [f"Street {k} {h}" for k in range(300) for h in range(1, 40)]
    for k in range(n):
        t = T0 + timedelta(seconds=days * 86_400 * k / n)
        lat, lon = LAT0 + rng.uniform(0, SPAN), LON0 + rng.uniform(0, SPAN)
        call = EmergencyCallEvent(
            id=f"call-{k}", source="b", time=t, location=GeoPoint(lat=lat, lon=lon),
            data=EmergencyCall(call_id=f"k{k}", category="fire", address=rng.choice(streets),
                               phone=f"+7701{rng.randrange(3000):07d}"),
        )  # fmt: skip
        enricher.on_event(record_from_model(call))
        if k % 10 == 0:  # units report every ~9 minutes of this compressed month: keep every fix fresh
            for u, ut in enumerate(types):
                fix = UnitGpsEvent(
                    id=f"g-{k}-{u}", source="b", time=t, location=GeoPoint(
                        lat=LAT0 + rng.uniform(0, SPAN), lon=LON0 + rng.uniform(0, SPAN)),
                    data=UnitGps(unit_id=f"u{u}", unit_type=ut, status="available"),
                )  # fmt: skip
                enricher.units.observe(record_from_model(fix), t.timestamp())
        incidents.append(
            Incident(
                id=f"inc-{k}", version=1, rule_id="bench", rule_version=1, category=rng.choice(["fire", "crime"]),
                status=IncidentStatus.OPEN, priority=rng.choice([1, 2, 3]), priority_base=3, title="bench",
                key=str(k), location=GeoPoint(lat=lat, lon=lon), first_time=t, last_time=t, updated_time=t,
                event_ids=[call.id], event_count=1, playbook=PLAYBOOK,
            )
        )  # fmt: skip
    assert incidents[-1].first_time < t_end
    started = time.perf_counter()
    enricher.enrich(incidents[0])  # builds the lazy spatial indexes
    build_s = time.perf_counter() - started
    lat_us: list[float] = []
    cams = hist = 0
    started = time.perf_counter()
    for inc in incidents[1:]:
        t0 = time.perf_counter()
        out = enricher.enrich(inc)
        lat_us.append((time.perf_counter() - t0) * 1e6)
        ctx = out.context
        assert ctx is not None
        cams += len(ctx.cameras)
        hist += sum(h.count for h in ctx.history)
    seconds = time.perf_counter() - started
    lat_us.sort()
    result = {
        "bench": "enrich",
        "incidents_per_s": round((n - 1) / seconds),
        "incidents": n - 1,
        "cameras": 10_000,
        "zones": 1_000,
        "admin_areas": 403,
        "units": len(types),
        "p50_us": round(lat_us[len(lat_us) // 2]),
        "p99_us": round(lat_us[int(len(lat_us) * 0.99)]),
        "index_build_s": round(build_s, 3),
        "avg_cameras_per_incident": round(cams / (n - 1), 2),
        "avg_history_hits": round(hist / (n - 1), 2),
        "alerts": len(enricher.take_alerts()),
    }
    print(f"enriched {n - 1} incidents in {seconds:.2f} s", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
