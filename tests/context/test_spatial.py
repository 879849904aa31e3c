"""Spatial indexes against brute force: admin paths on the simulator's city, camera views, zones nearby."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely

from rules.core.reference import ReferenceStore
from rules.core.spatial import to_shape
from rules.records import record_from_model
from schemas import (
    AdminAreaEvent,
    AdminAreaRecord,
    AdminLevel,
    CameraEvent,
    CameraRecord,
    GeoPoint,
    GeoPolygon,
    ZoneEvent,
)
from streams.sim.city import load_city
from streams.sim.generator import reference_events

ALATAU = Path(__file__).resolve().parents[2] / "streams" / "sim" / "cities" / "alatau"
T = datetime(2026, 1, 5, tzinfo=UTC)


def _store(events: list[Any]) -> ReferenceStore:
    store = ReferenceStore()
    for ev in events:
        store.apply(record_from_model(ev), ev.time.timestamp())
    return store


def test_admin_path_matches_the_simulator_city() -> None:
    city = load_city(ALATAU)
    store = _store([e for e in reference_events(city, [], T) if isinstance(e, AdminAreaEvent | ZoneEvent)])
    rng = random.Random(5)
    checked = 0
    for _ in range(500):
        lat = rng.uniform(city.bbox[0], city.bbox[2])
        lon = rng.uniform(city.bbox[1], city.bbox[3])
        path, ids = store.admin_index.path_at(lat, lon)
        expected = city.admin_of(lat, lon)
        assert path is not None and path.district == expected.district, (lat, lon)
        assert ids[:3] == ["kz", "kz-alatau-region", "alatau"]
        zone = city.zone_of(lat, lon)
        assert store.zones.zones_at(lat, lon) == ([zone.zone_id] if zone else [])
        checked += 1
    assert checked == 500
    assert store.admin_index.path_at(10.0, 10.0) == (None, [])


def test_thousands_of_polygons_agree_with_brute_force() -> None:
    rng = random.Random(1)
    events = []
    shapes = {}
    for i in range(3000):
        lat, lon = rng.uniform(43.0, 43.5), rng.uniform(76.5, 77.2)
        size = rng.uniform(0.002, 0.03)
        ring = [
            (lon, lat),
            (lon + size, lat),
            (lon + size * 0.8, lat + size),
            (lon - size * 0.1, lat + size * 0.7),
            (lon, lat),
        ]
        rec = AdminAreaRecord(
            area_id=f"d{i:04d}", name=f"D{i}", level=AdminLevel.DISTRICT, geometry=GeoPolygon(coordinates=[ring])
        )
        events.append(AdminAreaEvent(id=f"a{i}", source="t", time=T, data=rec))
        shapes[rec.area_id] = to_shape(rec.geometry)
    store = _store(events)
    for _ in range(300):
        lat, lon = rng.uniform(43.0, 43.5), rng.uniform(76.5, 77.2)
        inside = sorted((s.area, k) for k, s in shapes.items() if shapely.contains_xy(s, lon, lat))
        _, ids = store.admin_index.path_at(lat, lon)
        assert ids == ([inside[0][1]] if inside else [])  # the smallest district containing the point


def test_camera_views_update_without_restart() -> None:
    fov = GeoPolygon(coordinates=[[(76.90, 43.20), (76.91, 43.20), (76.91, 43.21), (76.90, 43.20)]])
    cam = CameraRecord(camera_id="c1", location=GeoPoint(lat=43.20, lon=76.90), fov=fov)
    store = _store([CameraEvent(id="c1", source="t", time=T, data=cam)])
    assert [c.camera_id for c in store.camera_index.covering(43.203, 76.908, 5)] == ["c1"]
    assert store.camera_index.covering(43.209, 76.901, 5) == []  # outside the triangle
    moved = cam.model_copy(update={"fov": None, "location": GeoPoint(lat=43.209, lon=76.901)})  # 150 m circle
    store.apply(record_from_model(CameraEvent(id="c1b", source="t", time=T, data=moved)), T.timestamp())
    assert [c.camera_id for c in store.camera_index.covering(43.209, 76.9015, 5)] == ["c1"]
    gone = CameraEvent(id="c1c", source="t", time=T, data=moved, deleted=True)
    store.apply(record_from_model(gone), T.timestamp())
    assert store.camera_index.covering(43.209, 76.9015, 5) == []


def test_zones_near() -> None:
    city = load_city(ALATAU)
    store = _store([e for e in reference_events(city, [], T) if isinstance(e, ZoneEvent)])
    zone = city.zones[0]
    c = zone.shape.centroid
    assert store.zones.zones_near(c.y, c.x, 10)[0] == (zone.zone_id, 0.0)
    miny = zone.shape.bounds[1]
    near = dict(store.zones.zones_near(miny - 0.0018, c.x, 300))  # ~200 m south of the zone's edge
    assert zone.zone_id in near and 150 < near[zone.zone_id] < 250
    assert zone.zone_id not in dict(store.zones.zones_near(miny - 0.0018, c.x, 100))
