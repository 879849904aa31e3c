"""Incident history by address, by caller phone (pseudonymised) and by 200 m area, over a sliding window.

Keys hold (first time, incident id) pairs in arrival order; `counts` looks back from an incident's first
time, so a later incident never shows in an earlier one's history. Phones are stored only as pseudonyms.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from rules.geo import cell_id, cells_within, distance_m

_SPACES = re.compile(r"[\s,.;]+")


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
    def __init__(self, window_s: float, radius_m: float, keep_ids: int) -> None:
        self.window_s = window_s
        self.radius_m = radius_m
        self.keep_ids = keep_ids
        self._keys: dict[str, deque[Seen]] = {}  # "address:<norm>" / "phone:<pseudonym>" / cell id
        self._known: dict[str, set[str]] = {}  # incident id -> keys it is registered under
        self._order: deque[tuple[float, str]] = deque()  # (first time, incident id) for eviction

    def __len__(self) -> int:
        return len(self._known)

    def register(self, incident_id: str, ts: float, keys: list[str], lat: float | None, lon: float | None) -> None:
        known = self._known.get(incident_id)
        if known is None:
            known = self._known[incident_id] = set()
            self._order.append((ts, incident_id))
        if lat is not None and lon is not None:
            keys = [*keys, cell_id(lat, lon, self.radius_m)]
        for key in keys:
            if key in known:
                continue
            known.add(key)
            self._keys.setdefault(key, deque()).append(Seen(ts, incident_id, lat or 0.0, lon or 0.0))

    def _before(self, key: str, incident_id: str, ts: float) -> list[Seen]:
        lo = ts - self.window_s
        return [s for s in self._keys.get(key, ()) if lo <= s.ts <= ts and s.incident_id != incident_id]

    def lookup(self, key: str, incident_id: str, ts: float) -> tuple[int, list[str]]:
        found = self._before(key, incident_id, ts)
        found.sort(key=lambda s: (s.ts, s.incident_id))
        return len(found), [s.incident_id for s in found[-self.keep_ids :]][::-1]

    def area(self, incident_id: str, ts: float, lat: float, lon: float) -> tuple[int, list[str]]:
        found: dict[str, Seen] = {}
        for cell in cells_within(lat, lon, self.radius_m, self.radius_m):
            for s in self._before(cell, incident_id, ts):
                if distance_m(lat, lon, s.lat, s.lon) <= self.radius_m:
                    found[s.incident_id] = s
        ordered = sorted(found.values(), key=lambda s: (s.ts, s.incident_id))
        return len(ordered), [s.incident_id for s in ordered[-self.keep_ids :]][::-1]

    def evict(self, now: float) -> None:
        """Forget incidents older than the window (event time)."""
        cutoff = now - self.window_s
        while self._order and self._order[0][0] < cutoff:
            _, inc_id = self._order.popleft()
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
        rows = []
        for ts, inc_id in self._order:
            keys = sorted(self._known.get(inc_id, ()))
            seen = next((s for k in keys for s in self._keys.get(k, ()) if s.incident_id == inc_id), None)
            rows.append([ts, inc_id, keys, seen.lat if seen else None, seen.lon if seen else None])
        return rows

    def load(self, rows: list[Any]) -> None:
        self._keys.clear()
        self._known.clear()
        self._order.clear()
        for ts, inc_id, keys, lat, lon in rows:
            self._known[inc_id] = set()
            self._order.append((float(ts), inc_id))
            for key in keys:
                self._known[inc_id].add(key)
                self._keys.setdefault(key, deque()).append(Seen(float(ts), inc_id, lat or 0.0, lon or 0.0))
