"""Pure geodesy helpers: distances on the WGS84 ellipsoid and a stable grid of cells for spatial keys.

`distance_m` is the distance of the rules (docs/semantics.md, Distances). tests/unit/test_geo_distance.py
checks it against pyproj's geodesic (Karney's algorithm) and the grid against it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from math import atan2, cos, sin, sqrt

# WGS84
WGS84_A = 6_378_137.0
WGS84_F = 1 / 298.257223563
WGS84_B = WGS84_A * (1 - WGS84_F)
_E2 = WGS84_F * (2 - WGS84_F)
_ONE_MINUS_E2 = 1.0 - _E2
_RAD = math.pi / 180.0
_A_RAD = WGS84_A * _RAD  # metres per radian-as-degree on the equator
# The flat formula overestimates or underestimates the geodesic by a term of third order in the distance d,
# measured (tests/unit/test_geo_distance.py) at 0.0103 + 0.046 tan²φ times d³/a² in the worst azimuth; the
# bound d³ (1 + 5 tan²φ) / (90 a²) covers it, and the flat formula is used while that bound is <= 1 cm.
_FLAT_TOL_M = 0.01
_FLAT_K = 90.0 * WGS84_A * WGS84_A * _FLAT_TOL_M
_VINCENTY_ITER = 200
_RECTIFYING_R = 6_367_449.145823  # quarter meridian / (π/2): the meridian arc per radian of latitude, averaged

# The mean Earth radius: haversine_m and the size of grid cells (cell ids must not change).
EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG_LAT = math.pi * EARTH_RADIUS_M / 180.0  # ≈ 111 195 m
# The fewest metres in a degree of latitude on WGS84 (at the equator): radius spans in degrees use it, so
# they are never too short anywhere.
_MIN_M_PER_DEG_LAT = WGS84_A * _ONE_MINUS_E2 * _RAD  # ≈ 110 574 m
# Cells are size_m / 111 195 m-per-degree tall (0.9944 to 1.0045 size_m on WGS84, shortest at the equator)
# and twice as wide in degrees (at least size_m wide up to 60° of latitude).
_LON_SHRINK = math.cos(math.radians(60.0))


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres on the mean Earth radius (a sphere: up to 0.5% off WGS84; 5.4 m short
    at 2 km east-west at 43° of latitude). The rules use `distance_m`."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def metres_per_degree(lat: float) -> tuple[float, float]:
    """(north, east): metres per degree of latitude and of longitude at `lat` on WGS84 (the meridian and the
    prime-vertical radii of curvature there, times cos(lat) for the east one)."""
    phi = lat * _RAD
    s = sin(phi)
    w2 = 1.0 - _E2 * s * s
    n = _A_RAD / sqrt(w2)
    return n * _ONE_MINUS_E2 / w2, n * cos(phi)


def degree_box(lat: float, radius_m: float) -> tuple[float, float]:
    """(dlat, dlon): half-sizes in degrees of a box around a point at `lat` that holds every point within
    radius_m of it (by `distance_m`); dlon is 180 when the circle reaches a pole."""
    dlat = radius_m / _MIN_M_PER_DEG_LAT
    worst = abs(lat) + dlat
    if worst >= 89.9:
        return dlat, 180.0
    return dlat, min(180.0, radius_m / (_A_RAD * math.cos(math.radians(worst))))  # N >= a: wide enough


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in metres on the WGS84 ellipsoid: the rules' distance (docs/semantics.md, Distances).

    A local flat-earth (equirectangular) projection at the pair's mean latitude, scaled by the WGS84
    meridian and prime-vertical radii of curvature there, while its error bound is under 1 cm (every pair
    up to 6 km below 80° of latitude, 19 km at 43°, 33 km at the equator); Vincenty's inverse formula otherwise.
    Longitudes may differ by more than 180° (across the antimeridian)."""
    dlon = lon2 - lon1
    if dlon > 180.0:
        dlon -= 360.0
    elif dlon < -180.0:
        dlon += 360.0
    phi = (lat1 + lat2) * (0.5 * _RAD)
    s = sin(phi)
    c = cos(phi)
    s2 = s * s
    w2 = 1.0 - _E2 * s2
    n = _A_RAD / sqrt(w2)
    dy = n * _ONE_MINUS_E2 / w2 * (lat2 - lat1)
    dx = n * c * dlon
    d2 = dx * dx + dy * dy
    d = sqrt(d2)
    c2 = c * c
    if d2 * d * (c2 + 5.0 * s2) <= _FLAT_K * c2:
        return d
    return vincenty_m(lat1, lon1, lat2, lon2)


def vincenty_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Vincenty's inverse formula on WGS84 (about 0.1 mm from the geodesic). Where it does not converge
    (points within about half a degree of antipodal), the meridian arc on the rectifying sphere."""
    big_l = math.remainder(lon2 - lon1, 360.0) * _RAD
    t1 = (1.0 - WGS84_F) * math.tan(lat1 * _RAD)
    t2 = (1.0 - WGS84_F) * math.tan(lat2 * _RAD)
    cu1 = 1.0 / sqrt(1.0 + t1 * t1)
    su1 = t1 * cu1
    cu2 = 1.0 / sqrt(1.0 + t2 * t2)
    su2 = t2 * cu2
    lam = big_l
    for _ in range(_VINCENTY_ITER):
        sl = sin(lam)
        cl = cos(lam)
        x = cu1 * su2 - su1 * cu2 * cl
        sin_sig = sqrt((cu2 * sl) ** 2 + x * x)
        if sin_sig == 0.0:
            return 0.0  # the same point
        cos_sig = su1 * su2 + cu1 * cu2 * cl
        sig = atan2(sin_sig, cos_sig)
        sin_alpha = cu1 * cu2 * sl / sin_sig
        cos2_alpha = 1.0 - sin_alpha * sin_alpha
        cos_2sm = cos_sig - 2.0 * su1 * su2 / cos2_alpha if cos2_alpha != 0.0 else 0.0
        cc = WGS84_F / 16.0 * cos2_alpha * (4.0 + WGS84_F * (4.0 - 3.0 * cos2_alpha))
        prev = lam
        lam = big_l + (1.0 - cc) * WGS84_F * sin_alpha * (
            sig + cc * sin_sig * (cos_2sm + cc * cos_sig * (-1.0 + 2.0 * cos_2sm * cos_2sm))
        )
        if abs(lam) > math.pi:
            break  # nearly antipodal: diverges
        if abs(lam - prev) < 1e-12:
            u2 = cos2_alpha * (WGS84_A * WGS84_A - WGS84_B * WGS84_B) / (WGS84_B * WGS84_B)
            ka = 1.0 + u2 / 16384.0 * (4096.0 + u2 * (-768.0 + u2 * (320.0 - 175.0 * u2)))
            kb = u2 / 1024.0 * (256.0 + u2 * (-128.0 + u2 * (74.0 - 47.0 * u2)))
            dsig = (
                kb
                * sin_sig
                * (
                    cos_2sm
                    + kb
                    / 4.0
                    * (
                        cos_sig * (-1.0 + 2.0 * cos_2sm * cos_2sm)
                        - kb / 6.0 * cos_2sm * (-3.0 + 4.0 * sin_sig * sin_sig) * (-3.0 + 4.0 * cos_2sm * cos_2sm)
                    )
                )
            )
            return WGS84_B * ka * (sig - dsig)
    return _RECTIFYING_R * haversine_m(lat1, lon1, lat2, lon2) / EARTH_RADIUS_M


def _steps(size_m: float) -> tuple[float, float]:
    if not size_m > 0:
        raise ValueError("cell size must be positive")
    dlat = size_m / _M_PER_DEG_LAT
    return dlat, dlat / _LON_SHRINK


def _name(size_m: float, i: int, j: int) -> str:
    return f"c{size_m:g}:{i}:{j}"


def cell_id(lat: float, lon: float, size_m: float) -> str:
    """Id of the grid cell holding (lat, lon), e.g. "c500:9634:15328"; the same inputs give the same id."""
    return _name(size_m, *cell_ij(lat, lon, size_m))


def cell_ij(lat: float, lon: float, size_m: float) -> tuple[int, int]:
    """(row, column) of the grid cell holding (lat, lon): the numbers in its `cell_id`."""
    dlat, dlon = _steps(size_m)
    return math.floor(lat / dlat), math.floor(lon / dlon)


def _nearest_lon(lon: float, lon_lo: float, width: float) -> float:
    """The longitude of [lon_lo, lon_lo + width] nearest to lon, as an offset from lon (across 180° too)."""
    a = math.remainder(lon_lo - lon, 360.0)
    b = a + width
    if a <= 0.0 <= b:
        return lon
    if a > 0.0:
        return lon + (a if a <= 360.0 - b else b - 360.0)
    return lon + b


def _nearest_lat(lat: float, dlon: float, lat_lo: float, lat_hi: float) -> float:
    """The latitude in [lat_lo, lat_hi] nearest to (lat, 0) along the meridian dlon degrees away: the foot of
    the perpendicular on the sphere (the pole when dlon is 90° or more), clamped to the band."""
    p = lat * _RAD
    foot = math.degrees(atan2(sin(p), cos(p) * cos(dlon * _RAD)))
    return min(max(min(max(foot, -90.0), 90.0), lat_lo), lat_hi)


def _spans(lon: float, half: float) -> list[tuple[float, float]]:
    """[lon - half, lon + half] as longitude intervals within [-180, 180] (split across the antimeridian)."""
    lo, hi = lon - half, lon + half
    if half >= 180.0:
        return [(-180.0, 180.0)]
    spans = [(max(lo, -180.0), min(hi, 180.0))]
    if lo < -180.0:
        spans.append((lo + 360.0, 180.0))
    if hi > 180.0:
        spans.append((-180.0, hi - 360.0))
    return spans


def lon_spans(lon: float, half: float) -> list[tuple[float, float]]:
    """[lon - half, lon + half] as longitude intervals within [-180, 180] (split across the antimeridian)."""
    return _spans(lon, half)


def _polar_half_width(lat: float, rho: float, lat_lo: float, lat_hi: float) -> float | None:
    """Near a pole: the widest longitude difference (degrees) from `lat` at which a point of the band
    [lat_lo, lat_hi] lies within the angle rho (radians) on the sphere; None when none does."""
    if rho >= math.pi / 2:
        return 180.0
    sp, cp, c_rho = sin(lat * _RAD), cos(lat * _RAD), cos(rho)
    band = [max(lat_lo, -90.0), min(lat_hi, 90.0)]
    if abs(sp / c_rho) <= 1.0:
        widest = math.degrees(math.asin(sp / c_rho))  # where the circle's longitude span is widest
        if band[0] < widest < band[1]:
            band.append(widest)
    best: float | None = None
    for phi in band:
        den = cp * cos(phi * _RAD)
        num = c_rho - sp * sin(phi * _RAD)
        if den <= 1e-15:
            if num <= 1e-15:
                return 180.0  # a pole within reach: every longitude
            continue
        q = num / den
        if q <= -1.0:
            return 180.0
        if q <= 1.0:
            best = max(best or 0.0, math.degrees(math.acos(q)))
    return best


def cells_within(lat: float, lon: float, radius_m: float, size_m: float) -> list[str]:
    """Ids of every cell some point of which lies within radius_m (by `distance_m`) of (lat, lon); the own
    cell first. Includes the cells across the antimeridian, and across a pole. A cell up to 2 cm + 10 ppm
    beyond the radius may be listed too."""
    return [_name(size_m, i, j) for i, j in cells_within_ij(lat, lon, radius_m, size_m)]


def cells_within_ij(lat: float, lon: float, radius_m: float, size_m: float) -> list[tuple[int, int]]:
    """`cells_within` as (row, column) pairs, in the same order."""
    dlat, dlon = _steps(size_m)
    own = (math.floor(lat / dlat), math.floor(lon / dlon))
    rlat = radius_m / _MIN_M_PER_DEG_LAT  # never shorter than the radius in latitude, on WGS84
    worst = abs(lat) + rlat  # the longitude span is widest at the poleward edge of the circle
    polar = worst >= 89.9
    rows = range(math.floor((lat - rlat) / dlat), math.floor((lat + rlat) / dlat) + 1)
    # per row near a pole, on a sphere of the smallest radius of curvature (so the angle is never too small)
    rho = radius_m / (_MIN_M_PER_DEG_LAT / _RAD) * 1.001
    # elsewhere one span: N >= a, so wide enough
    fixed = [] if polar else _spans(lon, rlat * _MIN_M_PER_DEG_LAT / (_A_RAD * math.cos(math.radians(worst))))
    reach = radius_m * (1.0 + 1e-5) + 2 * _FLAT_TOL_M
    out = [own]
    seen = {own}
    for i in rows:
        lat_lo, lat_hi = i * dlat, (i + 1) * dlat
        if lat_lo > 90.0 or lat_hi < -90.0:
            continue
        if polar:
            half = _polar_half_width(lat, rho, lat_lo, lat_hi)
            if half is None:
                continue
            spans = _spans(lon, half)
        else:
            spans = fixed
        for lo, hi in spans:
            for j in range(math.floor(lo / dlon), math.floor(hi / dlon) + 1):
                if (i, j) in seen:
                    continue
                near_lon = _nearest_lon(lon, j * dlon, dlon)
                near_lat = _nearest_lat(lat, near_lon - lon, lat_lo, lat_hi)
                if distance_m(lat, lon, near_lat, near_lon) <= reach:
                    seen.add((i, j))
                    out.append((i, j))
    return out


_PARAMS: dict[tuple[int, float], tuple[float, float, float, float]] = {}


def within_params(lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """(north, east, inner², outer²) for flat tests around a centre at `lat` (see within_of): metres per degree
    there, and the squared flat distances below which a point is surely within radius_m and above which it
    surely is not. Taken at the centre's latitude rounded to 0.01° (cached): the band covers that too."""
    slot = (round(lat * 100), radius_m)
    found = _PARAMS.get(slot)
    if found is None:
        at = slot[0] / 100.0
        north, east = metres_per_degree(at)
        # the flat shortcut's error for points within the radius, the rounding of the latitude (0.005° at
        # most moves east by tan·0.005° relatively) and a 2 cm floor
        tan = abs(math.tan(min(abs(at) + 0.01, 89.0) * _RAD))
        band = radius_m * (2.0 * tan + 1.0) * radius_m / 6_300_000.0 + radius_m * tan * 0.0001 + 0.02
        found = (north, east, max(0.0, radius_m - band) ** 2, (radius_m + band) ** 2)
        if len(_PARAMS) > 100_000:
            _PARAMS.clear()
        _PARAMS[slot] = found
    return found


def within_of(lat: float, lon: float, radius_m: float) -> Callable[[float, float], bool]:
    """A test `d(centre, point) <= radius_m` for many points around one centre, by `distance_m` exactly but
    mostly without computing it: distances are first taken flat with the centre's own metres per degree,
    and only points whose flat distance is within a safety band of the radius (the error of that shortcut
    for points that near: under 0.1 m for 400 m at 43°) are measured with `distance_m`."""
    north, east, inner, outer = within_params(lat, radius_m)

    def test(plat: float, plon: float) -> bool:
        dlon = plon - lon
        if dlon > 180.0:
            dlon -= 360.0
        elif dlon < -180.0:
            dlon += 360.0
        dy = (plat - lat) * north
        dx = dlon * east
        d2 = dx * dx + dy * dy
        if d2 <= inner:
            return True
        if d2 > outer:
            return False
        return distance_m(lat, lon, plat, plon) <= radius_m

    return test
