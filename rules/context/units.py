"""Unit state from GPS: the latest fix per unit, and the nearest available units for an incident.

Staleness is judged in event time (the incident's time), never by the clock, so every runtime recommends
the same units for the same input. The nearest units come from a linear scan of the type's units (the
default) or from a `PointSet` per type (rules/core/spatial.py); both rank by (distance, unit id), so they
recommend the same units (docs/spatial.md: which is faster, measured).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rules.context.roster import RosterUnit
from rules.core.spatial import PointSet, point_set
from rules.geo import distance_m

# Average straight-line-to-road factor and city speeds (km/h) by unit type: a GUESS for a dense grid city;
# deployments override both in EnricherSettings.
DEFAULT_SPEEDS_KMH: Mapping[str, float] = {"police": 40.0, "ambulance": 45.0, "fire": 35.0, "rescue": 40.0, "gas": 35.0}
AVAILABLE = "available"
# "scan": every unit of the type is measured per query (updates are a field assignment); "rtree"/"grid":
# a point set per type. docs/spatial.md has the measurements behind the default.
DEFAULT_UNIT_INDEX = "scan"
UNIT_CELL_M = 1000.0  # grid cells (the "grid" index)
UNIT_PAD_M = 150.0  # R-tree boxes: a unit moving less than this from where it was indexed is not reindexed
UNIT_SEARCH_M = 1500.0  # the first radius the indexed search tries


@dataclass(slots=True)
class UnitFix:
    unit_id: str
    unit_type: str
    status: str
    lat: float
    lon: float
    ts: float
    callsign: str | None

    def row(self) -> list[Any]:
        return [self.unit_id, self.unit_type, self.status, self.lat, self.lon, self.ts, self.callsign]


@dataclass(frozen=True, slots=True)
class Candidate:
    fix: UnitFix
    distance_m: float
    eta_s: float


class UnitBoard:
    """Latest fix per unit; a fix older than the one held (late delivery) is ignored."""

    def __init__(
        self,
        speeds_kmh: Mapping[str, float] | None = None,
        road_factor: float = 1.35,
        roster: Mapping[str, RosterUnit] | None = None,
        index: str = DEFAULT_UNIT_INDEX,
    ) -> None:
        self.speeds = dict(DEFAULT_SPEEDS_KMH if speeds_kmh is None else speeds_kmh)
        self.road_factor = road_factor
        self.roster = roster
        self.index = index
        self.unknown = 0  # fixes of units not on the roster (ignored)
        self._units: dict[str, UnitFix] = {}
        self._by_type: dict[str, dict[str, UnitFix]] = {}
        # unit type -> positions, when indexed; None: the linear scan
        self._points: dict[str, PointSet] | None = None if index == "scan" else {}
        if index != "scan":
            self._new_points()  # an unknown name fails here, not at the first fix

    def __len__(self) -> int:
        return len(self._units)

    def observe(self, event: Any, ts: float) -> None:
        loc = event.location
        if loc is None:
            return
        data = event.data
        if self.roster is not None:
            listed = self.roster.get(data.unit_id)
            if listed is None:
                self.unknown += 1
                return
            unit_type, callsign = listed.unit_type, listed.callsign or data.callsign
        else:
            unit_type, callsign = str(data.unit_type), data.callsign
        held = self._units.get(data.unit_id)
        if held is not None:
            if held.ts > ts:
                return
            if held.unit_type == unit_type:  # the common case: update in place, no allocation
                held.status, held.lat, held.lon, held.ts = str(data.status), loc.lat, loc.lon, ts
                if callsign is not None:
                    held.callsign = callsign
                if self._points is not None:
                    self._points[unit_type].put(held.unit_id, loc.lat, loc.lon)
                return
        fix = UnitFix(data.unit_id, unit_type, str(data.status), loc.lat, loc.lon, ts, callsign)
        self._put(fix)

    def _new_points(self) -> PointSet:
        return point_set(self.index, cell_m=UNIT_CELL_M, pad_m=UNIT_PAD_M)

    def _put(self, fix: UnitFix) -> None:
        old = self._units.get(fix.unit_id)
        if old is not None and old.unit_type != fix.unit_type:
            self._by_type.get(old.unit_type, {}).pop(fix.unit_id, None)
            if self._points is not None:
                self._points[old.unit_type].discard(fix.unit_id)
        self._units[fix.unit_id] = fix
        self._by_type.setdefault(fix.unit_type, {})[fix.unit_id] = fix
        if self._points is not None:
            points = self._points.get(fix.unit_type)
            if points is None:
                points = self._points[fix.unit_type] = self._new_points()
            points.put(fix.unit_id, fix.lat, fix.lon)

    def eta_s(self, unit_type: str, distance_m: float) -> float:
        speed = self.speeds.get(unit_type, 35.0) / 3.6
        return distance_m * self.road_factor / speed

    def nearest(
        self, lat: float, lon: float, unit_type: str, count: int, at_ts: float, stale_s: float, exclude: set[str]
    ) -> list[Candidate]:
        """The `count` nearest available units of the type with a fix within stale_s of at_ts."""
        if count <= 0:
            return []
        if self._points is not None:
            return self._nearest_indexed(lat, lon, unit_type, count, at_ts, stale_s, exclude)
        ranked: list[tuple[float, str, UnitFix]] = []
        for fix in self._by_type.get(unit_type, {}).values():
            if fix.status != AVAILABLE or abs(at_ts - fix.ts) > stale_s or fix.unit_id in exclude:
                continue
            ranked.append((distance_m(lat, lon, fix.lat, fix.lon), fix.unit_id, fix))
        ranked.sort(key=lambda r: (r[0], r[1]))
        out = []
        for d, _, fix in ranked[:count]:
            out.append(Candidate(fix, d, self.eta_s(fix.unit_type, d)))
        return out

    def _nearest_indexed(
        self, lat: float, lon: float, unit_type: str, count: int, at_ts: float, stale_s: float, exclude: set[str]
    ) -> list[Candidate]:
        assert self._points is not None
        points = self._points.get(unit_type)
        if points is None:
            return []
        fixes = self._by_type[unit_type]

        def accept(unit_id: str) -> bool:
            fix = fixes[unit_id]
            return fix.status == AVAILABLE and abs(at_ts - fix.ts) <= stale_s and unit_id not in exclude

        ranked = points.nearest(lat, lon, count, accept, UNIT_SEARCH_M)
        return [Candidate(fixes[k], d, self.eta_s(unit_type, d)) for d, k in ranked]

    def dump(self) -> list[list[Any]]:
        return [self._units[k].row() for k in sorted(self._units)]

    def load(self, rows: list[list[Any]]) -> None:
        self._units.clear()
        self._by_type.clear()
        points, self._points = self._points, None  # rebuilt below, one load per type
        for unit_id, unit_type, status, lat, lon, ts, callsign in rows:
            self._put(UnitFix(unit_id, unit_type, status, float(lat), float(lon), float(ts), callsign))
        if points is not None:
            self._points = {}
            for unit_type in sorted(self._by_type):
                fixes = self._by_type[unit_type]
                self._points[unit_type] = self._new_points()
                self._points[unit_type].load((f.unit_id, f.lat, f.lon) for f in fixes.values())
