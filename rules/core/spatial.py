"""Spatial indexes: reference tables (admin areas, camera fields of view) and dynamic point sets.

Reference tables are STRtrees rebuilt lazily after a change (reference data changes rarely, queries are per
incident), so a lookup is a bounding-box query plus an exact test on the few candidates, fast for many
thousands of polygons. Coordinates are (x=lon, y=lat) as in GeoJSON.

Point sets (`PointSet`) hold what moves or comes and goes between queries: unit positions, the places of
past incidents. Three interchangeable implementations (a linear scan, a hash grid of `rules.geo` cells, an
R-tree from the `rtree` package) give identical answers: candidates come from the structure, and the answer
is decided by `distance_m` and ordered by (distance, key). docs/spatial.md has the measurements that chose
each set's default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import shapely
import shapely.affinity

from rules.geo import (
    cell_ij,
    cells_within_ij,
    degree_box,
    distance_m,
    lon_spans,
    metres_per_degree,
    within_of,
)
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


# --- point sets ------------------------------------------------------------------------------------------

Accept = Callable[[str], bool]
POINT_SETS = ("scan", "grid", "rtree")
_GROWTH = 3.0  # nearest: the search radius grows by this factor until it holds enough accepted points


class PointSet:
    """Points by key (a unit id, an incident id) for exact queries by `distance_m`.

    `put` inserts or moves a point, `discard` removes it, `load` replaces the whole set (a restore).
    `keys_within` / `within` give the points within a radius, `nearest` the `count` nearest points that
    `accept` lets through; `within` and `nearest` are ordered by (distance, key). Subclasses only choose the
    candidates (`_candidates`: a superset of the keys within a radius), so every implementation gives the
    same answers, whatever the order the points came in.
    """

    kind = ""

    def __init__(self) -> None:
        self._at: dict[str, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self._at)

    def __contains__(self, key: object) -> bool:
        return key in self._at

    def position(self, key: str) -> tuple[float, float] | None:
        return self._at.get(key)

    def put(self, key: str, lat: float, lon: float) -> None:
        raise NotImplementedError

    def discard(self, key: str) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def load(self, points: Iterable[tuple[str, float, float]]) -> None:
        self.clear()
        for key, lat, lon in points:
            self.put(key, lat, lon)

    def _candidates(self, lat: float, lon: float, radius_m: float) -> Iterable[str]:
        raise NotImplementedError

    def keys_within(self, lat: float, lon: float, radius_m: float) -> list[str]:
        """Keys of the points within radius_m (by `distance_m`), in no particular order."""
        test = within_of(lat, lon, radius_m)
        at = self._at
        return [k for k in self._candidates(lat, lon, radius_m) if test(*at[k])]

    def within(self, lat: float, lon: float, radius_m: float) -> list[tuple[float, str]]:
        """(distance, key) of the points within radius_m, nearest first (ties: by key)."""
        at = self._at
        out = []
        for k in self._candidates(lat, lon, radius_m):
            plat, plon = at[k]
            d = distance_m(lat, lon, plat, plon)
            if d <= radius_m:
                out.append((d, k))
        out.sort()
        return out

    def nearest(
        self, lat: float, lon: float, count: int, accept: Accept | None = None, start_m: float = 1000.0
    ) -> list[tuple[float, str]]:
        """(distance, key) of the `count` nearest accepted points, nearest first (ties: by key).

        Searches within start_m, then a radius _GROWTH times larger, until the count-th accepted point is
        within the radius searched (every point nearer is then among the candidates) or the candidates are
        the whole set."""
        total = len(self._at)
        if count <= 0 or total == 0:
            return []
        at = self._at
        radius = max(start_m, 1.0)
        while True:
            found = list(self._candidates(lat, lon, radius))
            ranked = []
            for k in found:
                if accept is None or accept(k):
                    plat, plon = at[k]
                    ranked.append((distance_m(lat, lon, plat, plon), k))
            ranked.sort()
            if len(found) >= total or (len(ranked) >= count and ranked[count - 1][0] <= radius):
                return ranked[:count]
            radius *= _GROWTH


class ScanPoints(PointSet):
    """A dict of positions: every query looks at every point; a move is a dict update."""

    kind = "scan"

    def put(self, key: str, lat: float, lon: float) -> None:
        self._at[key] = (lat, lon)

    def discard(self, key: str) -> None:
        self._at.pop(key, None)

    def clear(self) -> None:
        self._at.clear()

    def _candidates(self, lat: float, lon: float, radius_m: float) -> Iterable[str]:
        return self._at


class GridPoints(PointSet):
    """A hash grid of `rules.geo` cells of cell_m: a query visits the cells its radius touches
    (`cells_within`); a move within a cell is a dict update, across cells two."""

    kind = "grid"

    def __init__(self, cell_m: float) -> None:
        super().__init__()
        self.cell_m = cell_m
        self._cell_of: dict[str, tuple[int, int]] = {}
        self._cells: dict[tuple[int, int], dict[str, None]] = {}
        self._cell_lat = cell_m / 111_195.0  # a cell's height in degrees (rules.geo._steps), for the cost guess

    def put(self, key: str, lat: float, lon: float) -> None:
        self._at[key] = (lat, lon)
        cell = cell_ij(lat, lon, self.cell_m)
        old = self._cell_of.get(key)
        if old == cell:
            return
        if old is not None:
            self._unlink(key, old)
        self._cell_of[key] = cell
        self._cells.setdefault(cell, {})[key] = None

    def _unlink(self, key: str, cell: tuple[int, int]) -> None:
        members = self._cells[cell]
        del members[key]
        if not members:
            del self._cells[cell]

    def discard(self, key: str) -> None:
        cell = self._cell_of.pop(key, None)
        if cell is not None:
            self._unlink(key, cell)
            del self._at[key]

    def clear(self) -> None:
        self._at.clear()
        self._cell_of.clear()
        self._cells.clear()

    def _candidates(self, lat: float, lon: float, radius_m: float) -> Iterable[str]:
        dlat, dlon = degree_box(lat, radius_m)
        rows = 2.0 * dlat / self._cell_lat + 2.0
        cols = dlon / self._cell_lat + 2.0  # cells are twice as wide as tall in degrees
        if rows * cols > len(self._cells):  # more cells to visit than there are occupied: look at them all
            return self._at
        cells = self._cells
        out: list[str] = []
        for cell in cells_within_ij(lat, lon, radius_m, self.cell_m):
            members = cells.get(cell)
            if members:
                out.extend(members)
        return out


def _rtree() -> Any:
    """rtree's index module, imported on first use: loading libspatialindex takes ~0.1 s, which a process
    whose point sets are all scans and grids need not pay."""
    from rtree import index

    return index


def _rtree_properties() -> Any:
    rtree_index = _rtree()
    props = rtree_index.Property()
    # R* with small, loosely filled nodes: measured here on 100k points (docs/spatial.md), the package's
    # defaults (R*, 100 entries a node, fill 0.7) made a delete cost 0.2-2 ms (an underfull node's entries
    # are reinserted); these cost ~30 µs for a delete and an insert, and answer a 400 m box in ~50 µs.
    props.variant = rtree_index.RT_Star
    props.leaf_capacity = 16
    props.index_capacity = 16
    props.fill_factor = 0.4
    props.near_minimum_overlap_factor = 15  # must be below both capacities
    return props


class RtreePoints(PointSet):
    """An in-memory R-tree (libspatialindex through `rtree`) of boxes in degrees, (lon, lat) order.

    A point is stored as a box pad_m around it; a move that stays in its box changes only the position
    held here (the tree is not touched), a move out of it is a delete and an insert. A query asks the tree
    for the boxes meeting `degree_box` of its radius (split across the antimeridian), then measures. Not
    picklable: snapshots hold the positions, and `load` rebuilds the tree from them, point by point (a bulk
    load is 4x faster to build, but its nodes made every later delete and insert 40% slower)."""

    kind = "rtree"

    def __init__(self, pad_m: float = 0.0) -> None:
        super().__init__()
        self.pad_m = pad_m
        self._index = _rtree()
        self._props = _rtree_properties()
        self._tree = self._index.Index(properties=self._props)
        self._slot: dict[str, tuple[int, float, float, float, float]] = {}  # key -> (id, box)
        self._key_of: dict[int, str] = {}
        self._next = 0

    def _box(self, lat: float, lon: float) -> tuple[float, float, float, float]:
        if self.pad_m <= 0.0:
            return (lon, lat, lon, lat)
        dlat, dlon = degree_box(lat, self.pad_m)
        return (max(lon - dlon, -180.0), lat - dlat, min(lon + dlon, 180.0), lat + dlat)

    def put(self, key: str, lat: float, lon: float) -> None:
        slot = self._slot.get(key)
        if slot is not None:
            ident, x0, y0, x1, y1 = slot
            if x0 <= lon <= x1 and y0 <= lat <= y1:
                self._at[key] = (lat, lon)
                return
            self._tree.delete(ident, (x0, y0, x1, y1))
        else:
            ident = self._next
            self._next += 1
            self._key_of[ident] = key
        box = self._box(lat, lon)
        self._tree.insert(ident, box)
        self._slot[key] = (ident, *box)
        self._at[key] = (lat, lon)

    def discard(self, key: str) -> None:
        slot = self._slot.pop(key, None)
        if slot is None:
            return
        ident, x0, y0, x1, y1 = slot
        self._tree.delete(ident, (x0, y0, x1, y1))
        del self._key_of[ident]
        del self._at[key]

    def clear(self) -> None:
        self._tree = self._index.Index(properties=self._props)
        self._slot.clear()
        self._key_of.clear()
        self._at.clear()

    def _candidates(self, lat: float, lon: float, radius_m: float) -> Iterable[str]:
        dlat, dlon = degree_box(lat, radius_m)
        keys = self._key_of
        out: list[str] = []
        for lo, hi in lon_spans(lon, dlon):
            out.extend([keys[i] for i in self._tree.intersection((lo, lat - dlat, hi, lat + dlat))])
        return out


def point_set(kind: str, cell_m: float = 500.0, pad_m: float = 0.0) -> PointSet:
    """A PointSet by name: "scan", "grid" (cells of cell_m) or "rtree" (boxes of pad_m)."""
    if kind == "scan":
        return ScanPoints()
    if kind == "grid":
        return GridPoints(cell_m)
    if kind == "rtree":
        return RtreePoints(pad_m)
    raise ValueError(f"unknown point set {kind!r}: one of {', '.join(POINT_SETS)}")
