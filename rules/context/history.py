"""Incident history by address, by caller phone (pseudonymised) and by 200 m area, over a sliding window.

Keys hold (first time, incident id) pairs in arrival order; `counts` looks back from an incident's first
time, so a later incident never shows in an earlier one's history. Phones are stored only as pseudonyms.

The area history holds one place per incident: where it was when first registered with a location, at its
first registration's time. The places are a `PointSet` (rules/core/spatial.py): a grid of radius-sized
cells (the default) or an R-tree, which give the same answers (docs/spatial.md: which is faster, measured).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from rules.core.spatial import PointSet, point_set

_SPACES = re.compile(r"[\s,.;]+")
# A grid cell id ("c200:21502:34421"): version 1 snapshots listed the area's cells among an incident's keys.
_CELL_KEY = re.compile(r"^c[^:]*:-?\d+:-?\d+$")
DEFAULT_HISTORY_INDEX = "grid"
HISTORY_PAD_M = 0.0  # R-tree boxes: places never move, so points


def normalise_address(address: str) -> str:
    """Case, punctuation and spacing differences must not split an address's history."""
    return _SPACES.sub(" ", address.upper()).strip()


@dataclass(slots=True)
class Seen:
    ts: float
    incident_id: str
    lat: float = 0.0
    lon: float = 0.0


class History:
    def __init__(self, window_s: float, radius_m: float, keep_ids: int, index: str = DEFAULT_HISTORY_INDEX) -> None:
        self.window_s = window_s
        self.radius_m = radius_m
        self.keep_ids = keep_ids
        self._keys: dict[str, deque[Seen]] = {}  # "address:<norm>" / "phone:<pseudonym>"
        self._known: dict[str, set[str]] = {}  # incident id -> keys it is registered under
        self._first: dict[str, float] = {}  # incident id -> time of its first registration
        self._order: deque[tuple[float, str]] = deque()  # (first time, incident id) for eviction
        self._places: dict[str, Seen] = {}  # incident id -> its place (the area history)
        self._area: PointSet = point_set(index, cell_m=radius_m, pad_m=HISTORY_PAD_M)

    def __len__(self) -> int:
        return len(self._known)

    def register(self, incident_id: str, ts: float, keys: list[str], lat: float | None, lon: float | None) -> None:
        known = self._known.get(incident_id)
        if known is None:
            known = self._known[incident_id] = set()
            self._first[incident_id] = ts
            self._order.append((ts, incident_id))
        if lat is not None and lon is not None and incident_id not in self._places:
            self._place(incident_id, self._first[incident_id], lat, lon)
        for key in keys:
            if key in known:
                continue
            known.add(key)
            self._keys.setdefault(key, deque()).append(Seen(ts, incident_id))

    def _place(self, incident_id: str, ts: float, lat: float, lon: float) -> None:
        self._places[incident_id] = Seen(ts, incident_id, lat, lon)
        self._area.put(incident_id, lat, lon)

    def _before(self, key: str, incident_id: str, ts: float) -> list[Seen]:
        lo = ts - self.window_s
        return [s for s in self._keys.get(key, ()) if lo <= s.ts <= ts and s.incident_id != incident_id]

    def lookup(self, key: str, incident_id: str, ts: float) -> tuple[int, list[str]]:
        found = self._before(key, incident_id, ts)
        found.sort(key=lambda s: (s.ts, s.incident_id))
        return len(found), [s.incident_id for s in found[-self.keep_ids :]][::-1]

    def area(self, incident_id: str, ts: float, lat: float, lon: float) -> tuple[int, list[str]]:
        """Incidents placed within radius_m (by `distance_m`) whose first time is in the window before ts."""
        lo = ts - self.window_s
        places = self._places
        found = []
        for key in self._area.keys_within(lat, lon, self.radius_m):
            s = places[key]
            if lo <= s.ts <= ts and key != incident_id:
                found.append((s.ts, key))
        found.sort()
        return len(found), [k for _, k in found[-self.keep_ids :]][::-1]

    def evict(self, now: float) -> None:
        """Forget incidents older than the window (event time)."""
        cutoff = now - self.window_s
        while self._order and self._order[0][0] < cutoff:
            _, inc_id = self._order.popleft()
            self._first.pop(inc_id, None)
            if self._places.pop(inc_id, None) is not None:
                self._area.discard(inc_id)
            for key in self._known.pop(inc_id, ()):
                seen = self._keys.get(key)
                if seen is None:
                    continue
                kept = deque(s for s in seen if s.incident_id != inc_id)
                if kept:
                    self._keys[key] = kept
                else:
                    del self._keys[key]

    def dump(self) -> list[Any]:
        """One row per incident: [first time, id, keys, lat, lon] (lat, lon: its place, None without one)."""
        rows = []
        for ts, inc_id in self._order:
            place = self._places.get(inc_id)
            keys = sorted(self._known.get(inc_id, ()))
            rows.append([ts, inc_id, keys, place.lat if place else None, place.lon if place else None])
        return rows

    def load(self, rows: list[Any], version: int = 2) -> None:
        """Rows of `dump`. Version 1 rows listed the area's cells among the keys, and an incident had a place
        only if it had such a cell (its lat/lon were 0.0 without one)."""
        self._keys.clear()
        self._known.clear()
        self._first.clear()
        self._order.clear()
        self._places.clear()
        placed: list[tuple[str, float, float]] = []
        for ts, inc_id, keys, lat, lon in rows:
            t = float(ts)
            known = self._known[inc_id] = set()
            self._first[inc_id] = t
            self._order.append((t, inc_id))
            cells = [k for k in keys if _CELL_KEY.match(k)] if version < 2 else []
            for key in keys:
                if key in cells:
                    continue
                known.add(key)
                self._keys.setdefault(key, deque()).append(Seen(t, inc_id))
            if lat is not None and lon is not None and (version >= 2 or cells):
                self._places[inc_id] = Seen(t, inc_id, float(lat), float(lon))
                placed.append((inc_id, float(lat), float(lon)))
        self._area.load(placed)  # rebuilt from the places (an R-tree is not part of any snapshot)
