"""Unit state from GPS: each unit's recent fixes, and the nearest available units for an incident.

Positions and staleness are judged as of the incident's event time, never by the clock or by what had arrived
when it was enriched, so every runtime recommends the same units for the same input. The nearest units come from
a linear scan of the type's units (the default) or from a `PointSet` per type (rules/core/spatial.py); both rank
by (distance, unit id), so they recommend the same units (docs/spatial.md: which is faster, measured).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
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
# Fixes kept behind the newest one seen: the 180 s staleness, and the ~30 s that a timer's version is enriched
# after its time (the watermark's lag), many times over (corrections of older versions).
UNIT_KEEP_S = 900.0
SWEEP_S = 60.0  # event time between sweeps of units gone quiet


@dataclass(slots=True)
class UnitFix:
    unit_id: str
    unit_type: str
    status: str
    lat: float
    lon: float
    ts: float
    callsign: str | None
    eid: str = ""  # the unit.gps event's id: orders two fixes at one time, and finds a fix seen again

    @property
    def key(self) -> tuple[float, str]:
        return (self.ts, self.eid)

    def row(self) -> list[Any]:
        return [self.unit_id, self.unit_type, self.status, self.lat, self.lon, self.ts, self.callsign, self.eid]


@dataclass(frozen=True, slots=True)
class Candidate:
    fix: UnitFix
    distance_m: float
    eta_s: float


class UnitBoard:
    """Each unit's recent fixes, and the nearest available units as of an event time.

    A unit's position at time `at` is its latest fix at or before `at` (ties in time: the greater event id), if
    that fix is at most `stale_s` before `at`. So the answer for an incident depends on the fixes up to its
    time alone, not on how many later fixes had arrived when it was enriched: a version that a timer makes
    after the watermark passed its time, or one made on a spatial partition that learns the city's fixes in
    another interleaving (streams/partitioning.py: unit fixes reach every partition), names the same units
    as the embedded runner. Fixes more than `keep_s` behind the newest fix seen are forgotten: a version
    enriched that far behind the fleet's newest fix sees the units that still have a fix before its time."""

    def __init__(
        self,
        speeds_kmh: Mapping[str, float] | None = None,
        road_factor: float = 1.35,
        roster: Mapping[str, RosterUnit] | None = None,
        index: str = DEFAULT_UNIT_INDEX,
        keep_s: float = UNIT_KEEP_S,
    ) -> None:
        self.speeds = dict(DEFAULT_SPEEDS_KMH if speeds_kmh is None else speeds_kmh)
        self.road_factor = road_factor
        self.roster = roster
        self.index = index
        self.keep_s = keep_s
        self.unknown = 0  # fixes of units not on the roster (ignored)
        self._tracks: dict[str, list[UnitFix]] = {}  # unit -> its fixes kept, in (time, id) order
        self._by_type: dict[str, dict[str, list[UnitFix]]] = {}  # type -> units with a kept fix of that type
        self._high = float("-inf")  # the newest fix time seen
        self._swept = float("-inf")
        # unit type -> each unit's latest position, indexed under its latest fix's type; None: the linear scan
        self._points: dict[str, PointSet] | None = None if index == "scan" else {}
        if index != "scan":
            self._new_points()  # an unknown name fails here, not at the first fix

    def __len__(self) -> int:
        return len(self._tracks)

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
        self._add(UnitFix(data.unit_id, unit_type, str(data.status), loc.lat, loc.lon, ts, callsign, event.id))

    def _add(self, fix: UnitFix) -> None:
        if fix.ts < self._high - self.keep_s:
            return  # behind what is kept: no query can use it
        track = self._tracks.get(fix.unit_id)
        if track is None:
            track = self._tracks[fix.unit_id] = []
        if not track or track[-1].key < fix.key:
            track.append(fix)  # the common case: the unit's newest fix
            latest = True
        else:
            i = bisect_left(track, fix.key, key=_fix_key)
            if i < len(track) and track[i].key == fix.key:
                return  # the same fix again (a duplicate, or one copy of it per route into this partition)
            track.insert(i, fix)
            latest = False
        self._by_type.setdefault(fix.unit_type, {})[fix.unit_id] = track
        if latest and self._points is not None:
            if len(track) > 1 and track[-2].unit_type != fix.unit_type:
                self._points[track[-2].unit_type].discard(fix.unit_id)
            points = self._points.get(fix.unit_type)
            if points is None:
                points = self._points[fix.unit_type] = self._new_points()
            points.put(fix.unit_id, fix.lat, fix.lon)
        if fix.ts > self._high:
            self._high = fix.ts
            if self._high - self._swept >= SWEEP_S:
                self._sweep()
        if track[0].ts < self._high - self.keep_s:
            self._trim(fix.unit_id, track)

    def _trim(self, unit_id: str, track: list[UnitFix]) -> None:
        """Forget the unit's fixes older than what is kept (all of them for a unit gone quiet)."""
        cutoff = self._high - self.keep_s
        n = 0
        while n < len(track) and track[n].ts < cutoff:
            n += 1
        if not n:
            return
        gone = {f.unit_type for f in track[:n]}
        latest_type = track[-1].unit_type
        del track[:n]
        left = {f.unit_type for f in track} if track else set()
        for unit_type in gone - left:
            self._by_type[unit_type].pop(unit_id, None)
        if not track:
            del self._tracks[unit_id]
            if self._points is not None:
                self._points[latest_type].discard(unit_id)

    def _sweep(self) -> None:
        self._swept = self._high
        cutoff = self._high - self.keep_s
        for unit_id in [u for u, t in self._tracks.items() if t[0].ts < cutoff]:
            self._trim(unit_id, self._tracks[unit_id])

    def _new_points(self) -> PointSet:
        return point_set(self.index, cell_m=UNIT_CELL_M, pad_m=UNIT_PAD_M)

    def eta_s(self, unit_type: str, distance_m: float) -> float:
        speed = self.speeds.get(unit_type, 35.0) / 3.6
        return distance_m * self.road_factor / speed

    def nearest(
        self, lat: float, lon: float, unit_type: str, count: int, at_ts: float, stale_s: float, exclude: set[str]
    ) -> list[Candidate]:
        """The `count` nearest units of the type that are available at `at_ts` by their position then (their
        latest fix at or before it, at most stale_s old), ranked by (distance, unit id)."""
        if count <= 0:
            return []
        units = self._by_type.get(unit_type)
        if not units:
            return []
        if self._points is not None:
            return self._nearest_indexed(lat, lon, unit_type, count, at_ts, stale_s, exclude, units)
        ranked: list[tuple[float, str, UnitFix]] = []
        for unit_id, track in units.items():
            fix = _as_of(track, at_ts)
            if fix is None or not _usable(fix, unit_type, at_ts, stale_s) or unit_id in exclude:
                continue
            ranked.append((distance_m(lat, lon, fix.lat, fix.lon), unit_id, fix))
        ranked.sort(key=lambda r: (r[0], r[1]))
        return [Candidate(fix, d, self.eta_s(fix.unit_type, d)) for d, _, fix in ranked[:count]]

    def _nearest_indexed(
        self,
        lat: float,
        lon: float,
        unit_type: str,
        count: int,
        at_ts: float,
        stale_s: float,
        exclude: set[str],
        units: dict[str, list[UnitFix]],
    ) -> list[Candidate]:
        """The index holds each unit's latest position: right for the units with no fix after `at_ts`; those
        that moved since are measured at their position then, one by one (few, for an incident enriched at its
        own time)."""
        assert self._points is not None
        tracks = self._tracks
        moved = [u for u, track in units.items() if track[-1].ts > at_ts]
        skip = set(moved)

        def accept(unit_id: str) -> bool:
            if unit_id in skip or unit_id in exclude:
                return False
            return _usable(tracks[unit_id][-1], unit_type, at_ts, stale_s)

        points = self._points.get(unit_type)
        ranked: list[tuple[float, str, UnitFix]] = []
        if points is not None:
            ranked = [(d, k, tracks[k][-1]) for d, k in points.nearest(lat, lon, count, accept, UNIT_SEARCH_M)]
        for unit_id in moved:
            fix = _as_of(units[unit_id], at_ts)
            if fix is None or not _usable(fix, unit_type, at_ts, stale_s) or unit_id in exclude:
                continue
            ranked.append((distance_m(lat, lon, fix.lat, fix.lon), unit_id, fix))
        ranked.sort(key=lambda r: (r[0], r[1]))
        return [Candidate(fix, d, self.eta_s(unit_type, d)) for d, _, fix in ranked[:count]]

    def dump(self) -> list[list[Any]]:
        return [f.row() for k in sorted(self._tracks) for f in self._tracks[k]]

    def load(self, rows: list[list[Any]]) -> None:
        """Rows of dump(); a row without an event id (a snapshot before fixes were kept) is a unit's latest."""
        self._tracks.clear()
        self._by_type.clear()
        # the newest time first, so each row is kept or dropped as the uninterrupted board's next sweep does
        self._high = self._swept = max((float(row[5]) for row in rows), default=float("-inf"))
        points, self._points = self._points, None  # rebuilt below, one load per type
        for row in rows:
            unit_id, unit_type, status, lat, lon, ts, callsign = row[:7]
            eid = str(row[7]) if len(row) > 7 else ""
            self._add(UnitFix(unit_id, unit_type, status, float(lat), float(lon), float(ts), callsign, eid))
        if points is not None:
            self._points = {}
            latest: dict[str, list[tuple[str, float, float]]] = {}
            for unit_id in sorted(self._tracks):
                f = self._tracks[unit_id][-1]
                latest.setdefault(f.unit_type, []).append((unit_id, f.lat, f.lon))
            for unit_type in sorted(latest):
                self._points[unit_type] = self._new_points()
                self._points[unit_type].load(latest[unit_type])


def _fix_key(f: UnitFix) -> tuple[float, str]:
    return f.key


def _as_of(track: list[UnitFix], at_ts: float) -> UnitFix | None:
    """The unit's latest fix at or before `at_ts`."""
    if track[-1].ts <= at_ts:
        return track[-1]
    i = bisect_right(track, at_ts, key=_fix_ts)
    return track[i - 1] if i else None


def _fix_ts(f: UnitFix) -> float:
    return f.ts


def _usable(fix: UnitFix, unit_type: str, at_ts: float, stale_s: float) -> bool:
    return fix.unit_type == unit_type and fix.status == AVAILABLE and at_ts - fix.ts <= stale_s
