"""Spatial indexes over reference tables: admin areas (point-in-polygon) and camera fields of view.

Both are STRtrees rebuilt lazily after a change (reference data changes rarely, queries are per incident),
so a lookup is a bounding-box query plus an exact test on the few candidates, fast for many thousands of
polygons. Coordinates are (x=lon, y=lat) as in GeoJSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import shapely
import shapely.affinity

from rules.geo import haversine_m
from schemas import AdminLevel, AdminPath


def to_shape(geometry: Any) -> shapely.Geometry:
    """A GeoJSON (lon, lat) Polygon/MultiPolygon record as a shapely geometry in (x=lon, y=lat)."""
    if geometry.type == "Polygon":
        return shapely.Polygon(geometry.coordinates[0], geometry.coordinates[1:])
    return shapely.MultiPolygon([shapely.Polygon(p[0], p[1:]) for p in geometry.coordinates])


_LEVELS = (AdminLevel.REPUBLIC, AdminLevel.REGION, AdminLevel.CITY, AdminLevel.DISTRICT)
_M_PER_DEG_LAT = 111_195.0
# A camera without a field-of-view polygon covers a circle of this radius (metres) by kind.
DEFAULT_REACH_M = {"overview": 150.0, "anpr": 40.0, "ptz": 300.0, "doorbell": 25.0, "body": 30.0}


def circle(lat: float, lon: float, radius_m: float) -> shapely.Geometry:
    """A small circle in degrees, stretched in longitude so it is round on the ground."""
    dlat = radius_m / _M_PER_DEG_LAT
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return shapely.affinity.scale(shapely.Point(lon, lat).buffer(dlat, 16), xfact=dlon / dlat, yfact=1.0)


@dataclass(frozen=True, slots=True)
class AdminHit:
    area_id: str
    name: str
    level: AdminLevel


class AdminIndex:
    """Admin areas by level; `path_at` answers Republic > Region > City > District for a point."""

    def __init__(self) -> None:
        self._records: dict[str, Any] = {}
        self._tree: shapely.STRtree | None = None
        self._ids: list[str] = []
        self._shapes: list[shapely.Geometry] = []

    def __len__(self) -> int:
        return len(self._records)

    def apply(self, record: Any, deleted: bool) -> None:
        if deleted:
            self._records.pop(record.area_id, None)
        else:
            self._records[record.area_id] = record
        self._tree = None

    def _build(self) -> shapely.STRtree:
        self._ids = sorted(self._records)
        self._shapes = [to_shape(self._records[i].geometry) for i in self._ids]
        shapely.prepare(self._shapes)
        self._tree = shapely.STRtree(self._shapes)
        return self._tree

    def hits(self, lat: float, lon: float) -> list[AdminHit]:
        """Areas containing the point, one per level (the smallest when areas of a level overlap)."""
        tree = self._tree if self._tree is not None else self._build()
        point = shapely.Point(lon, lat)
        best: dict[AdminLevel, tuple[float, str]] = {}
        for i in tree.query(point, predicate="intersects"):
            area_id = self._ids[int(i)]
            rec = self._records[area_id]
            level = AdminLevel(rec.level)
            size = float(self._shapes[int(i)].area)
            if level not in best or (size, area_id) < best[level]:
                best[level] = (size, area_id)
        return [AdminHit(best[lv][1], self._records[best[lv][1]].name, lv) for lv in _LEVELS if lv in best]

    def path_at(self, lat: float, lon: float) -> tuple[AdminPath | None, list[str]]:
        hits = self.hits(lat, lon)
        if not hits:
            return None, []
        names = {h.level: h.name for h in hits}
        path = AdminPath(
            republic=names.get(AdminLevel.REPUBLIC),
            region=names.get(AdminLevel.REGION),
            city=names.get(AdminLevel.CITY),
            district=names.get(AdminLevel.DISTRICT),
        )
        return path, [h.area_id for h in hits]


@dataclass(frozen=True, slots=True)
class CameraCover:
    camera_id: str
    distance_m: float
    record: Any


class CameraIndex:
    """Cameras by field of view; `covering` answers which cameras see a point, nearest first."""

    def __init__(self) -> None:
        self._records: dict[str, Any] = {}
        self._tree: shapely.STRtree | None = None
        self._ids: list[str] = []
        self._shapes: list[shapely.Geometry] = []

    def __len__(self) -> int:
        return len(self._records)

    def apply(self, record: Any, deleted: bool) -> None:
        if deleted:
            self._records.pop(record.camera_id, None)
        else:
            self._records[record.camera_id] = record
        self._tree = None

    def _shape(self, rec: Any) -> shapely.Geometry:
        if rec.fov is not None:
            return to_shape(rec.fov)
        return circle(rec.location.lat, rec.location.lon, DEFAULT_REACH_M.get(str(rec.kind), 100.0))

    def _build(self) -> shapely.STRtree:
        self._ids = sorted(self._records)
        self._shapes = [self._shape(self._records[i]) for i in self._ids]
        shapely.prepare(self._shapes)
        self._tree = shapely.STRtree(self._shapes)
        return self._tree

    def covering(self, lat: float, lon: float, limit: int, include_offline: bool = False) -> list[CameraCover]:
        tree = self._tree if self._tree is not None else self._build()
        found: list[CameraCover] = []
        for i in tree.query(shapely.Point(lon, lat), predicate="intersects"):
            cam_id = self._ids[int(i)]
            rec = self._records[cam_id]
            if not include_offline and str(rec.status) != "online":
                continue
            found.append(CameraCover(cam_id, haversine_m(lat, lon, rec.location.lat, rec.location.lon), rec))
        found.sort(key=lambda c: (c.distance_m, c.camera_id))
        return found[:limit]

    def records(self) -> list[Any]:
        return [self._records[k] for k in sorted(self._records)]
