"""Reference tables as inputs of the core: hotlists (as-of correct), zones and cameras.

They change through ref.* events (from files or compacted topics); the core never reads them itself.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

import shapely
import shapely.affinity
import shapely.ops

from rules.core.plates import FuzzyIndex, normalize_plate
from rules.core.spatial import AdminIndex, CameraIndex, to_shape
from rules.geo import degree_box, distance_m, metres_per_degree


@dataclass(slots=True)
class HotlistVersion:
    changed_ts: float  # event time of the reference update
    entry: Any | None  # a HotlistEntry record; None = deleted
    valid_from: float = 0.0
    valid_to: float = float("inf")
    event_id: str = ""  # at equal times versions apply in id order, whatever order they arrived in

    def __lt__(self, other: HotlistVersion) -> bool:
        return (self.changed_ts, self.event_id) < (other.changed_ts, other.event_id)


class Hotlist:
    """Wanted plates. A read at time t matches the entry version in force at t (as-of join)."""

    def __init__(self) -> None:
        self._versions: dict[str, list[HotlistVersion]] = {}
        self._fuzzy: dict[int, FuzzyIndex] = {}
        self._candidates: dict[int, dict[str, list[tuple[int, str]]]] = {}

    def __len__(self) -> int:
        return len(self._versions)

    def apply(self, entry: Any, changed_ts: float, deleted: bool, event_id: str = "") -> None:
        key = normalize_plate(entry.plate)
        if key not in self._versions:
            self._versions[key] = []
            for index in self._fuzzy.values():
                index.add(key)
            self._candidates.clear()
        version = HotlistVersion(
            changed_ts,
            None if deleted else entry,
            entry.valid_from.timestamp(),
            entry.valid_to.timestamp() if entry.valid_to is not None else float("inf"),
            event_id,
        )
        versions = self._versions[key]
        at = bisect_left(versions, version)
        if at < len(versions) and not (version < versions[at]):  # the same (time, id) again: the later copy
            versions[at] = version  # wins, as a lookup takes the last of equal versions; one version per id
        else:
            versions.insert(at, version)

    def _entry_at(self, key: str, ts: float, before: str = "\U0010ffff") -> Any | None:
        """The entry in force for a read at (ts, before): set by the latest version before it in canonical
        order (time, then event id), valid at ts."""
        current = None
        for version in self._versions.get(key, ()):
            if (version.changed_ts, version.event_id) > (ts, before):
                break
            current = version
        if current is None or current.entry is None:
            return None
        return current.entry if current.valid_from <= ts < current.valid_to else None

    CACHE_SIZE = 200_000

    def candidates(self, plate: str, fuzzy: int) -> list[tuple[int, str]]:
        """(distance, listed plate) pairs a read could be, whatever the time; cached per raw plate text,
        because reads repeat and almost all of them are of no listed plate."""
        cache = self._candidates.get(fuzzy)
        if cache is None:
            cache = self._candidates[fuzzy] = {}
        found = cache.get(plate)
        if found is not None:
            return found
        key = normalize_plate(plate)
        found = [(0, key)] if key in self._versions else []
        if fuzzy and key:  # an empty key (a read of only spaces and dashes) is no plate
            index = self._fuzzy.get(fuzzy)
            if index is None:
                index = self._fuzzy[fuzzy] = FuzzyIndex(fuzzy)
                index.bulk(self._versions)
            found += [(d, p) for d, p in index.search(key) if d > 0]
        if len(cache) >= self.CACHE_SIZE:
            cache.clear()
        cache[plate] = found
        return found

    def lookup(self, plate: str, ts: float, fuzzy: int, read_id: str = "\U0010ffff") -> tuple[Any, int] | None:
        """The best entry valid at ts for the plate: (entry, edit distance), nearest and most urgent first."""
        found = self.candidates(plate, fuzzy)
        if not found:
            return None
        best: tuple[int, int, str] | None = None  # (edit distance, hotlist priority, listed plate): smallest wins
        hit = None
        for distance, candidate in found:
            entry = self._entry_at(candidate, ts, read_id)
            if entry is not None and (best is None or (distance, entry.priority, candidate) < best):
                best = (distance, entry.priority, candidate)
                hit = entry
        return None if best is None else (hit, best[0])

    def versions(self) -> list[tuple[Any, float, bool]]:
        return [(v.entry, v.changed_ts, v.entry is None) for vs in self._versions.values() for v in vs]


@dataclass
class _Zone:
    zone_id: str
    name: str
    kind: str
    geometry: shapely.Geometry


@dataclass
class ZoneIndex:
    """Named zones; `contains(lat, lon, name)` matches a zone id, a zone name or a zone kind."""

    _zones: dict[str, _Zone] = field(default_factory=dict)
    _by_label: dict[str, list[shapely.Geometry]] = field(default_factory=dict)
    _records: dict[str, Any] = field(default_factory=dict)
    _tree: shapely.STRtree | None = None
    _tree_ids: list[str] = field(default_factory=list)

    def apply(self, record: Any, deleted: bool) -> None:
        if deleted:
            self._zones.pop(record.zone_id, None)
            self._records.pop(record.zone_id, None)
        else:
            geom = to_shape(record.geometry)
            shapely.prepare(geom)
            self._zones[record.zone_id] = _Zone(record.zone_id, record.name, str(record.kind), geom)
            self._records[record.zone_id] = record
        self._by_label = {}
        self._tree = None

    def _shapes(self, label: str) -> list[shapely.Geometry]:
        shapes = self._by_label.get(label)
        if shapes is None:
            shapes = [z.geometry for z in self._zones.values() if label in (z.zone_id, z.name, z.kind)]
            self._by_label[label] = shapes
        return shapes

    def contains(self, lat: float, lon: float, name: str) -> bool:
        return any(shapely.contains_xy(g, lon, lat) for g in self._shapes(name))

    def zones_at(self, lat: float, lon: float) -> list[str]:
        """Ids of the zones containing the point, through an STRtree rebuilt lazily after a change."""
        if self._tree is None:
            self._tree_ids = sorted(self._zones)
            self._tree = shapely.STRtree([self._zones[z].geometry for z in self._tree_ids])
        hits = self._tree.query(shapely.Point(lon, lat), predicate="intersects")
        return sorted(self._tree_ids[int(i)] for i in hits)

    def zones_near(self, lat: float, lon: float, radius_m: float) -> list[tuple[str, float]]:
        """(zone id, distance in metres to its edge, 0 inside) of zones within radius_m; for enrichment."""
        self.zones_at(lat, lon)  # builds the tree
        assert self._tree is not None
        dlat, dlon = degree_box(lat, radius_m)
        point = shapely.Point(lon, lat)
        box = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        # nearest points in degrees stretched to metres' proportions at the point (a degree of longitude
        # is cos(lat) shorter): the nearest point on the ground, not the nearest in raw degrees
        north, east = metres_per_degree(lat)
        k = max(east / north, 1e-6)
        out = []
        for i in self._tree.query(box, predicate="intersects"):
            zid = self._tree_ids[int(i)]
            geom = self._zones[zid].geometry
            if shapely.contains_xy(geom, lon, lat):
                out.append((zid, 0.0))
                continue
            stretched = shapely.affinity.scale(geom, xfact=k, yfact=1.0, origin=(lon, lat))
            near = shapely.ops.nearest_points(stretched, point)[0]
            d = distance_m(lat, lon, near.y, lon + (near.x - lon) / k)
            if d <= radius_m:
                out.append((zid, round(d, 1)))
        return sorted(out, key=lambda x: (x[1], x[0]))

    def records(self) -> list[Any]:
        return list(self._records.values())

    def record(self, zone_id: str) -> Any | None:
        return self._records.get(zone_id)


class ReferenceStore:
    """Every reference table the core joins against, updated only through `apply`."""

    def __init__(self) -> None:
        self.hotlist = Hotlist()
        self.zones = ZoneIndex()
        self.cameras: dict[str, Any] = {}
        self.admin_areas: dict[str, Any] = {}
        # Spatial indexes for enrichment (rules.context); rebuilt lazily on the first query after a change,
        # so applying a reference event costs no more than a dict update.
        self.camera_index = CameraIndex()
        self.admin_index = AdminIndex()
        self.changes = 0
        self.latest_ts = 0.0  # event time of the newest change (restores to the same value, unlike `changes`)
        self._log = ReferenceLog()  # the reference events a restore needs, for snapshots

    def applied(self) -> list[tuple[float, Any]]:
        """Every reference event still in force, in the order to re-apply them."""
        return self._log.records()

    def reset(self) -> None:
        """Forget every table but keep the objects, since compiled rules hold the zone index."""
        self.hotlist = Hotlist()
        self.zones._zones.clear()
        self.zones._records.clear()
        self.zones._by_label = {}
        self.zones._tree = None
        self.cameras.clear()
        self.admin_areas.clear()
        self.camera_index = CameraIndex()
        self.admin_index = AdminIndex()
        self._log = ReferenceLog()
        self.latest_ts = 0.0

    def apply(self, event: Any, ts: float) -> None:
        deleted = bool(getattr(event, "deleted", False))
        data = event.data
        etype = event.type
        self._log.add(event, ts)
        if etype == "ref.hotlist":
            self.hotlist.apply(data, ts, deleted, event.id)
        elif etype == "ref.zone":
            self.zones.apply(data, deleted)
        elif etype == "ref.camera":
            if deleted:
                self.cameras.pop(data.camera_id, None)
            else:
                self.cameras[data.camera_id] = data
            self.camera_index.apply(data, deleted)
        elif etype == "ref.admin_area":
            if deleted:
                self.admin_areas.pop(data.area_id, None)
            else:
                self.admin_areas[data.area_id] = data
            self.admin_index.apply(data, deleted)
        self.changes += 1
        if ts > self.latest_ts:
            self.latest_ts = ts


class ReferenceLog:
    """The reference records a core can still need, bounded, in arrival order: replayed into an empty store
    (a new partition, a restored snapshot) they give the tables, the hotlist's as-of answers and `latest_ts`
    that every record replayed would (docs/kafka.md, Reference tables).

    Kept: per key of a zone, camera or admin area its latest record, a deletion included (it must still delete
    the key from a snapshot taken before it); every hotlist version, since a lookup at time t needs the version
    in force at t and a partition may read any t (a new one, a replay of old events); and the record with the
    newest time, even when superseded, since `latest_ts` (an incident's `reference_time`) is the newest time
    applied. A second record with an id already added is a copy and is dropped, as the core drops it: the ids
    of superseded records stay (an id, not the record), so that a re-sent file cannot bring an old version back.
    """

    def __init__(self) -> None:
        self._kept: dict[int, tuple[float, Any]] = {}  # arrival number -> (time, record); dicts keep the order
        self._latest: dict[tuple[str, str], int] = {}  # table key (not the hotlist) -> arrival number in force
        self._ids: set[str] = set()  # every id added: copies are dropped
        self._newest: int | None = None  # arrival number of the record with the newest time
        self._arrivals = 0

    def __len__(self) -> int:
        return len(self._kept)

    def add(self, record: Any, ts: float) -> tuple[int | None, list[int]]:
        """Keep the record; returns its arrival number (None: a copy, dropped) and the arrival numbers of the
        records it made unneeded (so that a holder of raw copies, Flink's broadcast state, can drop them too)."""
        if record.id in self._ids:
            return None, []
        n = self._arrivals
        self._arrivals += 1
        self._kept[n] = (ts, record)
        self._ids.add(record.id)
        forgotten: list[int] = []
        if record.type != "ref.hotlist":
            key = (record.type, _table_key(record.type, record.data))
            old = self._latest.get(key)
            self._latest[key] = n
            if old is not None and old != self._newest:
                forgotten.append(self._forget(old))
        newest = self._newest
        if newest is None or ts > self._kept[newest][0]:
            self._newest = n
            if newest is not None and self._superseded(newest):
                forgotten.append(self._forget(newest))
        return n, forgotten

    def records(self) -> list[tuple[float, Any]]:
        """(time, record) in arrival order: the order to re-apply them."""
        return list(self._kept.values())

    def _superseded(self, n: int) -> bool:
        record = self._kept[n][1]
        if record.type == "ref.hotlist":
            return False
        return self._latest[(record.type, _table_key(record.type, record.data))] != n

    def _forget(self, n: int) -> int:
        del self._kept[n]
        return n


def _table_key(etype: str, data: Any) -> str:
    if etype == "ref.hotlist":
        return normalize_plate(data.plate)
    if etype == "ref.zone":
        return str(data.zone_id)
    if etype == "ref.camera":
        return str(data.camera_id)
    return str(data.area_id)
