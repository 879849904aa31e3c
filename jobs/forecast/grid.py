"""The study area: the H3 cells a forecast ranks, with their centres in local kilometres, sizes and admin areas.

Two definitions (state which one a figure used): `cells`, every cell with at least one point of the selection
anywhere in the archive (conservative: water, parks and empty land are not in the denominator, so PAI is not
inflated by them), and `hull`, every cell whose centre is inside the convex hull of the points, plus the
`cells` set (larger area, so higher PAI for the same ranking). H3 comes from ClickHouse's own functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from clickhouse_connect.driver.client import Client

from jobs.archive.errors import ArchiveError
from jobs.forecast.data import Array, Points, Selection
from rules.geo import metres_per_degree


@dataclass
class Grid:
    resolution: int
    cells: Array  # uint64, sorted
    lat: Array  # cell centres
    lon: Array
    area_km2: Array
    areas: list[str]  # admin area (district) most points of the cell carry; "" when unknown
    lat0: float
    lon0: float

    def __post_init__(self) -> None:
        self.x, self.y = self.project(self.lat, self.lon)

    def __len__(self) -> int:
        return int(self.cells.shape[0])

    @property
    def km_per_degree(self) -> tuple[float, float]:
        """(north, east) kilometres per degree of latitude and longitude at the centre (WGS84)."""
        north, east = metres_per_degree(self.lat0)
        return north / 1000.0, east / 1000.0

    def project(self, lat: Array, lon: Array) -> tuple[Array, Array]:
        """Equirectangular kilometres around the grid's centre, on WGS84's radii of curvature there: exact
        north-south; east-west off by about tan(lat0) x the latitude difference in radians (0.3% 20 km north
        or south of a centre at 43°)."""
        ky, kx = self.km_per_degree
        return (lon - self.lon0) * kx, (lat - self.lat0) * ky

    def index(self, cells: Array) -> Array:
        """Grid index of each cell, -1 where the cell is outside the study area."""
        if len(self) == 0:
            return np.full(cells.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self.cells, cells).clip(0, len(self) - 1)
        return np.where(self.cells[pos] == cells, pos, -1).astype(np.int64)

    def locate(self, pts: Points) -> Points:
        """The points with their grid index and local coordinates filled in."""
        x, y = self.project(pts.lat, pts.lon)
        return Points(pts.t, pts.lat, pts.lon, pts.cell, self.index(pts.cell), x, y)

    def counts(self, pts: Points) -> Array:
        inside = pts.idx[pts.idx >= 0]
        return np.bincount(inside, minlength=len(self)).astype(np.float64)


def build_grid(client: Client, db: str, sel: Selection) -> Grid:
    """The study area of a selection from everything the archive holds for it."""
    table, _, where, params = sel.where()
    area_col = "district"
    rows = client.query(
        f"SELECT geoToH3(assumeNotNull(lat), assumeNotNull(lon), {int(sel.resolution)}) AS c, "
        f"topK(1)({area_col})[1] FROM {db}.{table} WHERE {where} GROUP BY c",
        parameters=params,
    ).result_rows
    if not rows:
        raise ArchiveError(f"no located {sel.layer} in the archive for this selection: nothing to forecast")
    areas = {int(c): str(a or "") for c, a in rows}
    if sel.study_area == "hull":
        for c in hull_cells(client, list(areas), sel.resolution):
            areas.setdefault(c, "")
    return grid_from_cells(client, sel.resolution, areas)


def grid_from_cells(client: Client, resolution: int, areas: dict[int, str]) -> Grid:
    cells = np.array(sorted(areas), dtype=np.uint64)
    info = client.query(
        "SELECT c, h3ToGeo(c) AS g, h3CellAreaM2(c) FROM (SELECT arrayJoin({cells:Array(UInt64)}) AS c) ORDER BY c",
        parameters={"cells": [int(c) for c in cells]},
    ).result_rows
    lat = np.array([_lat_lon(r[1])[0] for r in info])
    lon = np.array([_lat_lon(r[1])[1] for r in info])
    area = np.array([float(r[2]) / 1e6 for r in info])
    return Grid(resolution, cells, lat, lon, area, [areas[int(c)] for c in cells], float(lat.mean()), float(lon.mean()))


def _lat_lon(g: object) -> tuple[float, float]:
    if isinstance(g, dict):
        return float(g["latitude"]), float(g["longitude"])
    seq = list(g)  # type: ignore[call-overload]
    return float(seq[0]), float(seq[1])


def hull_cells(client: Client, cells: list[int], resolution: int) -> list[int]:
    """Cells whose centres lie in the convex hull of the given cells' centres."""
    centres = client.query(
        "SELECT h3ToGeo(c) FROM (SELECT arrayJoin({cells:Array(UInt64)}) AS c)", parameters={"cells": cells}
    ).result_rows
    pts = np.array([_lat_lon(r[0]) for r in centres])
    ring = convex_hull(pts)
    if len(ring) < 3:
        return []
    ring_lon_lat = [(float(p[1]), float(p[0])) for p in [*ring, ring[0]]]  # h3PolygonToCells reads (lon, lat)
    row = client.query(
        f"SELECT h3PolygonToCells({{ring:Array(Tuple(Float64, Float64))}}, {int(resolution)})",
        parameters={"ring": ring_lon_lat},
    ).result_rows[0][0]
    return [int(c) for c in row]


def convex_hull(pts: Array) -> list[tuple[float, float]]:
    """Andrew's monotone chain over (a, b) pairs; counter-clockwise, first point not repeated."""
    uniq = sorted({(float(a), float(b)) for a, b in pts})
    if len(uniq) < 3:
        return uniq

    def half(seq: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for p in seq:
            while len(out) >= 2:
                (ax, ay), (bx, by) = out[-2], out[-1]
                if (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax) > 0:
                    break
                out.pop()
            out.append(p)
        return out

    lower, upper = half(uniq), half(uniq[::-1])
    return lower[:-1] + upper[:-1]
