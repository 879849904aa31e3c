"""Time-ordered event buffers with an optional grid index, so radius queries never scan a whole window."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from typing import Any

from rules.geo import haversine_m as distance_m

_M_PER_DEG = 111_320.0


class Entry:
    """One buffered event: the record plus what the core reads often (time, place, flags)."""

    __slots__ = ("ev", "lat", "lon", "replica", "sel", "ts")

    def __init__(self, ev: Any, ts: float, sel: int, replica: bool):
        self.ev = ev
        self.ts = ts
        self.sel = sel
        self.replica = replica
        loc = ev.location
        self.lat: float | None = loc.lat if loc is not None else None
        self.lon: float | None = loc.lon if loc is not None else None


class Buffer:
    """Entries of one selection in one group, in arrival order (≈ event time order).

    With a radius the entries are also bucketed in a grid of cells at least `radius` wide (for latitudes
    up to 60°), so a radius query looks at 3x3 cells. Entries without a location are never near anything.
    """

    __slots__ = ("_dlat", "_dlon", "entries", "grid", "radius")

    def __init__(self, radius: float | None):
        self.entries: deque[Entry] = deque()
        self.radius = radius
        self.grid: dict[tuple[int, int], deque[Entry]] | None = {} if radius else None
        self._dlat = (radius or 1.0) / _M_PER_DEG
        self._dlon = (radius or 1.0) / (_M_PER_DEG * 0.5)

    def __len__(self) -> int:
        return len(self.entries)

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / self._dlat), math.floor(lon / self._dlon))

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)
        if self.grid is not None and entry.lat is not None and entry.lon is not None:
            self.grid.setdefault(self._cell(entry.lat, entry.lon), deque()).append(entry)

    def expire(self, cutoff: float) -> int:
        """Drop entries older than cutoff from the front (arrival order); returns how many."""
        dropped = 0
        entries = self.entries
        while entries and entries[0].ts < cutoff:
            self._unindex(entries.popleft())
            dropped += 1
        return dropped

    def pop_oldest(self) -> None:
        if self.entries:
            self._unindex(self.entries.popleft())

    def _unindex(self, old: Entry) -> None:
        if self.grid is not None and old.lat is not None and old.lon is not None:
            key = self._cell(old.lat, old.lon)
            bucket = self.grid.get(key)
            if bucket:
                if bucket[0] is old:
                    bucket.popleft()
                else:
                    bucket.remove(old)
                if not bucket:
                    del self.grid[key]

    def recent(self, lo: float, hi: float) -> Iterator[Entry]:
        """Entries with lo <= ts <= hi, newest arrival first."""
        for entry in reversed(self.entries):
            if lo <= entry.ts <= hi:
                yield entry

    def near(self, lat: float | None, lon: float | None, radius: float, lo: float, hi: float) -> Iterator[Entry]:
        """Entries within `radius` metres of (lat, lon) and lo <= ts <= hi; newest first per cell."""
        if lat is None or lon is None:
            return
        if self.grid is None or radius > (self.radius or 0.0):
            for entry in self.recent(lo, hi):
                if entry.lat is not None and distance_m(lat, lon, entry.lat, entry.lon) <= radius:  # type: ignore[arg-type]
                    yield entry
            return
        row, col = self._cell(lat, lon)
        span = 1 if abs(lat) <= 60.0 else math.ceil(0.5 / max(math.cos(math.radians(abs(lat) + 1)), 1e-6))
        found: list[Entry] = []
        for r in (row - 1, row, row + 1):
            for c in range(col - span, col + span + 1):
                bucket = self.grid.get((r, c))
                if bucket:
                    for entry in bucket:
                        if lo <= entry.ts <= hi and distance_m(lat, lon, entry.lat, entry.lon) <= radius:  # type: ignore[arg-type]
                            found.append(entry)
        found.sort(key=lambda e: e.ts, reverse=True)
        yield from found
