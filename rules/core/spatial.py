"""Spatial indexes over reference tables: admin areas (point-in-polygon) and camera fields of view.

Both are STRtrees rebuilt lazily after a change (reference data changes rarely, queries are per incident),
so a lookup is a bounding-box query plus an exact test on the few candidates, fast for many thousands of
polygons. Coordinates are (x=lon, y=lat) as in GeoJSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely
import shapely.affinity

from rules.geo import distance_m, metres_per_degree
from schemas import AdminLevel, AdminPath


def to_shape(geometry: Any) -> shapely.Geometry:
    """A GeoJSON (lon, lat) Polygon/MultiPolygon record as a shapely geometry in (x=lon, y=lat)."""
    if geometry.type == "Polygon":
        return shapely.Polygon(geometry.coordinates[0], geometry.coordinates[1:])
    return shapely.MultiPolygon([shapely.Polygon(p[0], p[1:]) for p in geometry.coordinates])


_LEVELS = (AdminLevel.REPUBLIC, AdminLevel.REGION, AdminLevel.CITY, AdminLevel.DISTRICT)
# A camera without a field-of-view polygon covers a circle of this radius (metres) by kind.
DEFAULT_REACH_M = {"overview": 150.0, "anpr": 40.0, "ptz": 300.0, "doorbell": 25.0, "body": 30.0}


def circle(lat: float, lon: float, radius_m: float) -> shapely.Geometry:
    """A small circle in degrees, stretched in longitude so it is round on the ground (WGS84 at `lat`)."""
    north, east = metres_per_degree(lat)
    dlat = radius_m / north
    dlon = radius_m / max(east, 1e-6 * north)
    return shapely.affinity.scale(shapely.Point(lon, lat).buffer(dlat, 16), xfact=dlon / dlat, yfact=1.0)


@dataclass(frozen=True, slots=True)
class AdminHit:
    area_id: str
    name: str
    level: AdminLevel


class _ShapeIndex:
    """Records by id with one shape each, behind an STRtree rebuilt lazily after a change."""

    def __init__(self) -> None:
        self._records: dict[str, Any] = {}
        self._tree: shapely.STRtree | None = None
        self._ids: list[str] = []
        self._shapes: list[shapely.Geometry] = []

    def __len__(self) -> int:
        return len(self._records)

    def _key(self, record: Any) -> str:
        raise NotImplementedError

    def _shape(self, record: Any) -> shapely.Geometry:
        raise NotImplementedError

    def apply(self, record: Any, deleted: bool) -> None:
        if deleted:
            self._records.pop(self._key(record), None)
        else:
            self._records[self._key(record)] = record
        self._tree = None

    def _query(self, lat: float, lon: float) -> list[int]:
        """Indexes (into _ids/_shapes) of the shapes that contain or touch the point."""
        if self._tree is None:
            self._ids = sorted(self._records)
            self._shapes = [self._shape(self._records[i]) for i in self._ids]
            shapely.prepare(self._shapes)
            self._tree = shapely.STRtree(self._shapes)
        return [int(i) for i in self._tree.query(shapely.Point(lon, lat), predicate="intersects")]

    def records(self) -> list[Any]:
        return [self._records[k] for k in sorted(self._records)]


class AdminIndex(_ShapeIndex):
    """Admin areas by level; `path_at` answers Republic > Region > City > District for a point."""

    def _key(self, record: Any) -> str:
        return str(record.area_id)

    def _shape(self, record: Any) -> shapely.Geometry:
        return to_shape(record.geometry)

    def hits(self, lat: float, lon: float) -> list[AdminHit]:
        """Areas containing the point, one per level (the smallest when areas of a level overlap)."""
        best: dict[AdminLevel, tuple[float, str]] = {}
        for i in self._query(lat, lon):
            area_id = self._ids[i]
            level = AdminLevel(self._records[area_id].level)
            size = float(self._shapes[i].area)
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


class CameraIndex(_ShapeIndex):
    """Cameras by field of view; `covering` answers which cameras see a point, nearest first."""

    def _key(self, record: Any) -> str:
        return str(record.camera_id)

    def _shape(self, rec: Any) -> shapely.Geometry:
        if rec.fov is not None:
            return to_shape(rec.fov)
        return circle(rec.location.lat, rec.location.lon, DEFAULT_REACH_M.get(str(rec.kind), 100.0))

    def covering(self, lat: float, lon: float, limit: int, include_offline: bool = False) -> list[CameraCover]:
        found: list[CameraCover] = []
        for i in self._query(lat, lon):
            cam_id = self._ids[i]
            rec = self._records[cam_id]
            if not include_offline and str(rec.status) != "online":
                continue
            found.append(CameraCover(cam_id, distance_m(lat, lon, rec.location.lat, rec.location.lon), rec))
        found.sort(key=lambda c: (c.distance_m, c.camera_id))
        return found[:limit]
