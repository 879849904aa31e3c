"""Pure geodesy helpers: great-circle distance and a stable grid of cells for spatial keys."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG_LAT = math.pi * EARTH_RADIUS_M / 180.0  # ≈ 111 195 m
# Cells are size_m tall and size_m wide at 60° latitude, so at least size_m wide anywhere nearer the
# equator: a radius query of size_m never needs more than the 3x3 neighbourhood.
_LON_SHRINK = math.cos(math.radians(60.0))


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres on the mean Earth radius."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _steps(size_m: float) -> tuple[float, float]:
    if not size_m > 0:
        raise ValueError("cell size must be positive")
    dlat = size_m / _M_PER_DEG_LAT
    return dlat, dlat / _LON_SHRINK


def _name(size_m: float, i: int, j: int) -> str:
    return f"c{size_m:g}:{i}:{j}"


def cell_id(lat: float, lon: float, size_m: float) -> str:
    """Id of the grid cell holding (lat, lon), e.g. "c500:9634:15328"; the same inputs give the same id."""
    dlat, dlon = _steps(size_m)
    return _name(size_m, math.floor(lat / dlat), math.floor(lon / dlon))


def cells_within(lat: float, lon: float, radius_m: float, size_m: float) -> list[str]:
    """Ids of every cell some point of which lies within radius_m of (lat, lon); the own cell first."""
    dlat, dlon = _steps(size_m)
    own = (math.floor(lat / dlat), math.floor(lon / dlon))
    rlat = radius_m / _M_PER_DEG_LAT
    worst = min(89.9, abs(lat) + rlat)  # the longitude span is widest at the poleward edge of the circle
    rlon = rlat / max(math.cos(math.radians(worst)), 1e-9)
    out = [_name(size_m, *own)]
    for i in range(math.floor((lat - rlat) / dlat), math.floor((lat + rlat) / dlat) + 1):
        for j in range(math.floor((lon - rlon) / dlon), math.floor((lon + rlon) / dlon) + 1):
            if (i, j) == own:
                continue
            # nearest point of the cell to (lat, lon)
            near_lat = min(max(lat, i * dlat), (i + 1) * dlat)
            near_lon = min(max(lon, j * dlon), (j + 1) * dlon)
            if haversine_m(lat, lon, near_lat, near_lon) <= radius_m:
                out.append(_name(size_m, i, j))
    return out
