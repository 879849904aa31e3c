"""Event buffers kept in canonical order (docs/semantics.md, section 1), with a grid index for radius queries.

Every buffer is a list sorted by event key `(time, id)`. The engine only ever appends in key order: an event
that arrives out of order is inserted by rolling the rule back (removing every entry after its place, newest
first) and redoing what followed. So adds are appends, removals are pops from the tail, and expiry moves a
start index forward; no operation is ever more than O(1) amortised, and queries scan from the newest entry
backwards, stopping at the window's lower time bound.
"""

from __future__ import annotations

import heapq
import math
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from rules.geo import distance_m, within_of, within_params

Key = tuple[float, str]
# Degrees of latitude per metre, rounded so that a cell is at least as tall as the radius anywhere on Earth
# (a degree of latitude is 110,574 m at the equator and 111,694 m at the poles).
_M_PER_DEG_LAT = 110_000.0
_COMPACT_AT = 512


class Entry:
    """One selected event as the core keeps it: the record, its key, place and flags."""

    __slots__ = ("ev", "group", "key", "lat", "lon", "replica", "sel", "ts")

    def __init__(self, ev: Any, ts: float, sel: int, replica: bool, group: str = ""):
        self.ev = ev
        self.ts = ts
        self.key: Key = (ts, ev.id)
        self.sel = sel
        self.replica = replica
        self.group = group
        loc = ev.location
        self.lat: float | None = loc.lat if loc is not None else None
        self.lon: float | None = loc.lon if loc is not None else None

    def __repr__(self) -> str:
        return f"Entry({self.ev.id}@{self.ts}, sel={self.sel})"


def near(a: Entry, b: Entry, radius: float | None) -> bool:
    """d(a, b) <= radius (closed); no radius: always; an entry without a location is near nothing."""
    if radius is None:
        return True
    if a.lat is None or b.lat is None:
        return False
    return distance_m(a.lat, a.lon, b.lat, b.lon) <= radius  # type: ignore[arg-type]


def _offsets(span: int) -> list[tuple[int, int]]:
    """Neighbour cell offsets for a radius query, (0, 0) first."""
    return [(0, 0)] + [(dr, dc) for dr in (-1, 0, 1) for dc in range(-span, span + 1) if (dr, dc) != (0, 0)]


_OFFSETS = _offsets(1)


class _Cells:
    """Entries bucketed in cells at least `radius` wide, each bucket sorted by key like the buffer, with the
    bucket's latitudes, longitudes and times in parallel arrays, so counting a disk is vectorised."""

    __slots__ = ("_dlat", "_dlon", "cells", "coords")

    def __init__(self, radius: float):
        self._dlat = radius / _M_PER_DEG_LAT
        # as wide as tall at 60 degrees, so wider nearer the equator; beyond 60 degrees queries span more columns
        self._dlon = self._dlat / 0.5
        self.cells: dict[tuple[int, int], list[Entry]] = {}
        self.coords: dict[tuple[int, int], tuple[array[float], array[float], array[float]]] = {}

    def insert(self, key: tuple[int, int], entry: Entry) -> None:
        bucket = self.cells.get(key)
        if bucket is None:
            bucket = self.cells[key] = []
            self.coords[key] = (array("d"), array("d"), array("d"))
        lats, lons, tss = self.coords[key]
        if bucket and bucket[-1].key > entry.key:
            i = bisect_left(bucket, entry.key, key=_key)
            bucket.insert(i, entry)
            lats.insert(i, entry.lat)  # type: ignore[arg-type]
            lons.insert(i, entry.lon)  # type: ignore[arg-type]
            tss.insert(i, entry.ts)
        else:
            bucket.append(entry)
            lats.append(entry.lat)  # type: ignore[arg-type]
            lons.append(entry.lon)  # type: ignore[arg-type]
            tss.append(entry.ts)

    def remove(self, key: tuple[int, int], entry: Entry) -> None:
        bucket = self.cells[key]
        i = len(bucket) - 1 if bucket[-1] is entry else bisect_left(bucket, entry.key, key=_key)
        del bucket[i]
        for arr in self.coords[key]:
            del arr[i]
        if not bucket:
            del self.cells[key]
            del self.coords[key]

    def trim(self, key: tuple[int, int], n: int) -> None:
        """Forget the first n entries of a bucket (expired)."""
        bucket = self.cells[key]
        if n >= len(bucket):
            del self.cells[key]
            del self.coords[key]
            return
        del bucket[:n]
        for arr in self.coords[key]:
            del arr[:n]

    def keys_around(self, lat: float, lon: float) -> list[tuple[int, int]]:
        """The cells a radius query around (lat, lon) looks at, its own first."""
        row = math.floor(lat / self._dlat)
        col = math.floor(lon / self._dlon)
        cells = self.cells
        offsets = _OFFSETS if abs(lat) <= 60.0 else _offsets(self.span(lat))
        return [k for dr, dc in offsets if (k := (row + dr, col + dc)) in cells]

    def cell(self, lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / self._dlat), math.floor(lon / self._dlon))

    def span(self, lat: float) -> int:
        if abs(lat) <= 60.0:
            return 1
        return math.ceil(0.5 / max(math.cos(math.radians(min(89.9, abs(lat) + 1.0))), 1e-6))

    def around(self, lat: float, lon: float) -> Iterator[list[Entry]]:
        cells = self.cells
        for key in self.keys_around(lat, lon):
            yield cells[key]


class Buffer:
    """The entries of one selection in one group, sorted by key; with a radius, also a grid of cells."""

    __slots__ = ("entries", "gen", "grid", "memo", "radius", "start")

    def __init__(self, radius: float | None):
        self.entries: list[Entry] = []
        self.start = 0  # entries before this index have expired
        self.radius = radius
        self.grid: _Cells | None = _Cells(radius) if radius else None
        self.gen = 0  # counts changes other than appends and expiry (a pop, an insert): what a memo must check
        self.memo: Any = None  # a kind's incremental summary of the entries (SlidingDistinct); never persisted

    def __len__(self) -> int:
        return len(self.entries) - self.start

    def live(self) -> list[Entry]:
        return self.entries[self.start :]

    def add(self, entry: Entry) -> None:
        """Append in key order; an entry that no later entry can see may also be slotted into place (a quiet
        late insert, rules/core/rule.py), which keeps removals newest-first valid."""
        entries = self.entries
        if entries and entries[-1].key >= entry.key:
            i = bisect_left(entries, entry.key, lo=self.start, key=_key)
            if i < len(entries) and entries[i].key == entry.key:
                raise AssertionError(f"buffer add of a key it holds: {entry.key}")
            entries.insert(i, entry)
            self.gen += 1
        else:
            entries.append(entry)
        if self.grid is not None and entry.lat is not None:
            self.grid.insert(self.grid.cell(entry.lat, entry.lon), entry)  # type: ignore[arg-type]

    def pop(self, entry: Entry) -> None:
        """Remove `entry`: the newest one in a rollback (O(1)); anywhere when a quiet insert is taken back."""
        entries = self.entries
        self.gen += 1
        if entries and entries[-1] is entry:
            entries.pop()
        else:
            i = bisect_left(entries, entry.key, lo=self.start, key=_key)
            if i >= len(entries) or entries[i] is not entry:
                raise AssertionError(f"buffer pop of {entry!r}, which it does not hold")
            del entries[i]
        if len(entries) < self.start:
            self.start = len(entries)
        if self.grid is not None and entry.lat is not None:
            self.grid.remove(self.grid.cell(entry.lat, entry.lon), entry)  # type: ignore[arg-type]

    def find(self, key: Key) -> Entry | None:
        entries = self.entries
        i = bisect_left(entries, key, lo=self.start, key=_key)
        return entries[i] if i < len(entries) and entries[i].key == key else None

    def expire(self, cutoff: float) -> int:
        """Forget entries with time < cutoff; returns how many. No query or rollback can reach them any more."""
        entries = self.entries
        start = self.start
        n = len(entries)
        first = start
        while start < n and entries[start].ts < cutoff:
            start += 1
        dropped = start - first
        self.start = start
        if start >= _COMPACT_AT and start * 2 >= n:
            del entries[:start]
            self.start = 0
            if self.grid is not None:
                self._compact_grid(cutoff)
        return dropped

    def _compact_grid(self, cutoff: float) -> None:
        assert self.grid is not None
        grid = self.grid
        for key in list(grid.cells):
            n = bisect_left(grid.coords[key][2], cutoff)
            if n:
                grid.trim(key, n)

    def count(self, lo: float, before: Key) -> int:
        """How many entries have lo <= time and key < before (what `latest` yields), by bisection."""
        entries, start = self.entries, self.start
        first = bisect_left(entries, (lo, ""), lo=start, key=_key)
        return max(0, bisect_left(entries, before, lo=start, key=_key) - first)

    def latest(self, lo: float, before: Key) -> Iterator[Entry]:
        """Entries with lo <= time and key < before, newest first."""
        entries = self.entries
        i = len(entries) - 1
        stop = self.start
        while i >= stop:
            e = entries[i]
            if e.ts < lo:
                return
            if e.key < before:
                yield e
            i -= 1

    def latest_near(
        self, lat: float | None, lon: float | None, radius: float, lo: float, before: Key
    ) -> Iterator[Entry]:
        """Entries within `radius` of (lat, lon), lo <= time, key < before, newest first."""
        if lat is None or lon is None:
            return
        near_it = within_of(lat, lon, radius)
        if self.grid is None or radius > (self.radius or 0.0):
            for e in self.latest(lo, before):
                if e.lat is not None and near_it(e.lat, e.lon):  # type: ignore[arg-type]
                    yield e
            return
        iters = [_cell_latest(bucket, lo, before) for bucket in self.grid.around(lat, lon)]
        heads: list[tuple[Key, int, Entry]] = []
        for i, it in enumerate(iters):
            for e in it:
                if near_it(e.lat, e.lon):  # type: ignore[arg-type]
                    heads.append((e.key, i, e))
                    break
        # a k-way merge, newest first, pulling the next near entry of a cell only when its head is taken
        while heads:
            best = 0
            for j in range(1, len(heads)):
                if heads[j][0] > heads[best][0]:
                    best = j
            _, i, e = heads[best]
            yield e
            nxt = None
            for cand in iters[i]:
                if near_it(cand.lat, cand.lon):  # type: ignore[arg-type]
                    nxt = cand
                    break
            if nxt is None:
                heads.pop(best)
            else:
                heads[best] = (nxt.key, i, nxt)

    def newest_near(
        self, lat: float | None, lon: float | None, radius: float, lo: float, before: Key, k: int | None
    ) -> list[Entry]:
        """The newest `k` entries (all when k is None) within `radius` of (lat, lon) with lo <= time and
        key < before, newest first. Each cell gives its own newest k, then they are merged: O(cells * k)."""
        if lat is None or lon is None:
            return []
        near_it = within_of(lat, lon, radius)
        out: list[Entry] = []
        if self.grid is None or radius > (self.radius or 0.0):
            for e in self.latest(lo, before):
                if e.lat is not None and near_it(e.lat, e.lon):  # type: ignore[arg-type]
                    out.append(e)
                    if k is not None and len(out) >= k:
                        break
            return out
        if k is None:
            for bucket in self.grid.around(lat, lon):
                i = len(bucket) - 1
                while i >= 0:
                    e = bucket[i]
                    i -= 1
                    if e.ts < lo:
                        break
                    if e.key < before and near_it(e.lat, e.lon):  # type: ignore[arg-type]
                        out.append(e)
            out.sort(key=_key, reverse=True)
            return out
        if k <= 0:
            return out
        # First the buffer itself, newest first, for a few entries: in a dense place (a burst) the newest
        # entries are the near ones, and these are exactly the newest near ones.
        entries = self.entries
        i = len(entries) - 1
        stop = max(self.start, i - (4 * k + 16))
        while i >= stop:
            e = entries[i]
            i -= 1
            if e.ts < lo:
                return out  # the whole window looked at
            if e.key < before and e.lat is not None and near_it(e.lat, e.lon):  # type: ignore[arg-type]
                out.append(e)
                if len(out) >= k:
                    return out
        if i < self.start:
            return out
        out = []
        # the newest k so far in a min-heap: a cell is scanned back only while it can still beat the k-th
        best: list[tuple[Key, int, Entry]] = []
        n = 0
        for bucket in self.grid.around(lat, lon):
            i = len(bucket) - 1
            while i >= 0:
                e = bucket[i]
                i -= 1
                if e.ts < lo:
                    break
                key = e.key
                if len(best) >= k and key < best[0][0]:
                    break  # older than the k-th newest found: nothing older in this cell can make it
                if key < before and near_it(e.lat, e.lon):  # type: ignore[arg-type]
                    n += 1
                    if len(best) < k:
                        heapq.heappush(best, (key, n, e))
                    else:
                        heapq.heapreplace(best, (key, n, e))
        best.sort(reverse=True)
        return [e for _, _, e in best]

    def count_near(self, lat: float, lon: float, radius: float, lo: float, before: Key) -> int:
        """How many entries lie within `radius` of (lat, lon) with lo <= time and key < before: flat distances
        vectorised per cell, `distance_m` only for the few within the safety band of the radius (as within_of)."""
        near_it = within_of(lat, lon, radius)
        if self.grid is None or radius > (self.radius or 0.0):
            near = [e for e in self.latest(lo, before) if e.lat is not None and near_it(e.lat, e.lon)]  # type: ignore[arg-type]
            return len(near)
        north, east, inner, outer = within_params(lat, radius)
        grid = self.grid
        total = 0
        for key in grid.keys_around(lat, lon):
            bucket = grid.cells[key]
            lats, lons, tss = grid.coords[key]
            start = bisect_left(tss, lo)
            end = len(bucket)
            while end > start and bucket[end - 1].key >= before:
                end -= 1
            if end <= start:
                continue
            dy = (np.frombuffer(lats, dtype=np.float64)[start:end] - lat) * north
            dlon = np.frombuffer(lons, dtype=np.float64)[start:end] - lon
            dlon = np.where(dlon > 180.0, dlon - 360.0, np.where(dlon < -180.0, dlon + 360.0, dlon))
            dx = dlon * east
            d2 = dx * dx + dy * dy
            total += int(np.count_nonzero(d2 <= inner))
            for i in np.flatnonzero((d2 > inner) & (d2 <= outer)):
                e = bucket[start + int(i)]
                if distance_m(lat, lon, e.lat, e.lon) <= radius:  # type: ignore[arg-type]
                    total += 1
            del dy, dlon, dx, d2  # release the views before the arrays can grow again
        return total

    def candidates(self, lat: float | None, lon: float | None, lo: float, before: Key) -> Iterator[Entry]:
        """Everything a radius query around (lat, lon) could return (the 3x3 cells), unfiltered by distance:
        for callers that count rather than order."""
        if self.grid is None:
            yield from self.latest(lo, before)
            return
        if lat is None or lon is None:
            return
        for bucket in self.grid.around(lat, lon):
            yield from _cell_latest(bucket, lo, before)


class SlidingDistinct:
    """The distinct values of a buffer's entries with lo <= time and key < upto, kept as the window slides
    forward: a query costs the entries that entered or left since the previous one, so a burst's versions each
    show their exact distinct count without a scan of the whole window. A query further back in time (a late
    event), or after a pop or an insert (gen), starts from scratch."""

    __slots__ = ("counts", "gen", "items", "lo", "upto")

    def __init__(self, gen: int):
        self.gen = gen
        self.lo = float("-inf")
        self.upto: Key = (float("-inf"), "")
        self.items: deque[tuple[Entry, Any]] = deque()  # (entry, its hashable value or None), key order
        self.counts: dict[Any, int] = {}

    @staticmethod
    def of(buf: Buffer, lo: float, before: Key) -> SlidingDistinct:
        memo = buf.memo
        if type(memo) is not SlidingDistinct or memo.gen != buf.gen or lo < memo.lo or before < memo.upto:
            memo = buf.memo = SlidingDistinct(buf.gen)
        return memo

    def advance(self, buf: Buffer, lo: float, before: Key, value: Callable[[Any], Any]) -> int:
        """Slide to the window (lo, before); returns how many entries it holds (the distinct values: counts)."""
        entries, start = buf.entries, buf.start
        items, counts = self.items, self.counts
        i = bisect_left(entries, self.upto, lo=start, key=_key)
        j = bisect_left(entries, before, lo=i, key=_key)
        for k in range(i, j):
            e = entries[k]
            v = value(e.ev)
            h = None if v is None else _hashable(v)
            items.append((e, h))
            if h is not None:
                counts[h] = counts.get(h, 0) + 1
        first = entries[start].key if start < len(entries) else before  # entries before it left (expiry, limits)
        while items and (items[0][0].ts < lo or items[0][0].key < first):
            _, h = items.popleft()
            if h is not None:
                n = counts[h] - 1
                if n:
                    counts[h] = n
                else:
                    del counts[h]
        self.lo, self.upto = lo, before
        return len(items)


def _hashable(v: Any) -> Any:
    """A value as a set member: unhashable values (lists, maps) by their repr."""
    if type(v) in (str, int, float):
        return v
    try:
        hash(v)
    except TypeError:
        return repr(v)
    return v


def _key(e: Entry) -> Key:
    return e.key


def _ts(e: Entry) -> float:
    return e.ts


def _cell_latest(bucket: list[Entry], lo: float, before: Key) -> Iterator[Entry]:
    i = len(bucket) - 1
    while i >= 0:
        e = bucket[i]
        if e.ts < lo:
            return
        if e.key < before:
            yield e
        i -= 1
