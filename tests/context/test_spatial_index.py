"""Point sets (rules/core/spatial.py) against a brute force written from docs/spatial.md, and the sets that
use them (nearest units, area history) with either structure: same answers, same order, after any inserts,
moves and deletes, and after a restore.

The brute force: `within(p, r)` is every point q with distance_m(p, q) <= r, ordered by (distance, key);
`nearest(p, k, accept)` the first k accepted points in that order; `keys_within` the same keys as `within`.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.context import ContextCorrelator, EnricherSettings
from rules.context.history import History
from rules.context.units import UnitBoard
from rules.core.spatial import POINT_SETS, GridPoints, PointSet, RtreePoints, ScanPoints, point_set
from rules.geo import cell_ij, distance_m, metres_per_degree
from tests.context.support import call_rules, feed
from tests.support import event

CELL_M = 300.0
_CELL_DLAT = CELL_M / (math.pi * 6_371_008.8 / 180.0)  # rules.geo._steps: cell height in degrees
_CELL_DLON = 2 * _CELL_DLAT
# Kazakhstan and Uzbekistan; each example works around one centre, so that points meet in the queries
CENTRES = st.tuples(st.floats(35.0, 56.0), st.floats(45.0, 90.0))
KEYS = [f"k{i:02d}" for i in range(12)]


def _sets() -> list[PointSet]:
    return [ScanPoints(), GridPoints(CELL_M), RtreePoints(), RtreePoints(pad_m=150.0), GridPoints(50.0)]


class Brute:
    def __init__(self) -> None:
        self.at: dict[str, tuple[float, float]] = {}

    def ranked(self, lat: float, lon: float) -> list[tuple[float, str]]:
        return sorted((distance_m(lat, lon, a, b), k) for k, (a, b) in self.at.items())

    def within(self, lat: float, lon: float, r: float) -> list[tuple[float, str]]:
        return [x for x in self.ranked(lat, lon) if x[0] <= r]

    def nearest(self, lat: float, lon: float, count: int, accept: Any) -> list[tuple[float, str]]:
        return [x for x in self.ranked(lat, lon) if accept(x[1])][: max(count, 0)]


@st.composite
def place(draw: st.DrawFn, centre: tuple[float, float]) -> tuple[float, float]:
    """A point near the centre: anywhere within ~3 km, on a 100 m lattice (ties, the same place twice), on
    or next to a grid cell's edge, or the centre itself."""
    lat0, lon0 = centre
    north, east = metres_per_degree(lat0)
    how = draw(st.sampled_from(["free", "lattice", "edge", "centre"]))
    if how == "centre":
        return lat0, lon0
    if how == "lattice":
        i, j = draw(st.integers(-20, 20)), draw(st.integers(-20, 20))
        return lat0 + 100.0 * i / north, lon0 + 100.0 * j / east
    if how == "edge":  # a cell boundary of GridPoints(CELL_M), exactly or a hair either side
        ci, cj = cell_ij(lat0, lon0, CELL_M)
        i, j = ci + draw(st.integers(-6, 6)), cj + draw(st.integers(-3, 3))
        nudge = draw(st.sampled_from([0.0, 1e-9, -1e-9, 1e-12]))
        if draw(st.booleans()):
            return i * _CELL_DLAT + nudge, lon0 + draw(st.floats(-3000, 3000)) / east
        return lat0 + draw(st.floats(-3000, 3000)) / north, j * _CELL_DLON + nudge
    return lat0 + draw(st.floats(-3000, 3000)) / north, lon0 + draw(st.floats(-3000, 3000)) / east


@st.composite
def scripts(draw: st.DrawFn) -> tuple[tuple[float, float], list[tuple[Any, ...]]]:
    centre = draw(CENTRES)
    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 60))):
        kind = draw(st.sampled_from(["put", "put", "put", "discard", "query"]))
        if kind == "put":
            ops.append(("put", draw(st.sampled_from(KEYS)), *draw(place(centre))))
        elif kind == "discard":
            ops.append(("discard", draw(st.sampled_from(KEYS))))
        else:
            radius = draw(st.sampled_from([0.0, 1.0, 100.0, 299.9, 300.0, 1000.0, 5000.0, -1.0]))
            count = draw(st.integers(0, 6))
            ops.append(("query", *draw(place(centre)), radius, count, draw(st.integers(1, 4))))
    return centre, ops


def _check(sets: list[PointSet], brute: Brute, lat: float, lon: float, radius: float, count: int, mod: int) -> None:
    if radius < 0:  # exactly the distance to the nearest point: the boundary is inside
        ranked = brute.ranked(lat, lon)
        radius = ranked[0][0] if ranked else 10.0
    within = brute.within(lat, lon, radius)

    def accept(key: str) -> bool:
        return int(key[1:]) % mod != 1

    nearest = brute.nearest(lat, lon, count, accept)
    for s in sets:
        assert s.within(lat, lon, radius) == within, (s.kind, radius)
        assert sorted(s.keys_within(lat, lon, radius)) == sorted(k for _, k in within), s.kind
        for start in (1.0, 250.0, 20_000.0):
            assert s.nearest(lat, lon, count, accept, start) == nearest, (s.kind, count, start)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts(), st.randoms(use_true_random=False))
def test_point_sets_agree_with_brute_force(script: tuple[Any, list[tuple[Any, ...]]], rnd: random.Random) -> None:
    _, ops = script
    sets = _sets()
    brute = Brute()
    for op in ops:
        if op[0] == "put":
            _, key, lat, lon = op
            brute.at[key] = (lat, lon)
            for s in sets:
                s.put(key, lat, lon)
        elif op[0] == "discard":
            brute.at.pop(op[1], None)
            for s in sets:
                s.discard(op[1])
        else:
            _check(sets, brute, *op[1:])
        assert all(len(s) == len(brute.at) for s in sets)
    # a restore in any order (an R-tree bulk-built from the stored points) answers the same
    items = [(k, a, b) for k, (a, b) in brute.at.items()]
    rnd.shuffle(items)
    restored = _sets()
    for s in restored:
        s.load(items)
    for op in ops:
        if op[0] == "query":
            _check(restored, brute, *op[1:])


def test_ties_are_broken_by_key_whatever_the_insertion_order() -> None:
    lat, lon = 43.25, 76.95
    north, east = metres_per_degree(lat)
    same_place = [("b", lat + 50 / north, lon), ("a", lat + 50 / north, lon)]
    east_west = [("d", lat, lon + 80 / east), ("c", lat, lon - 80 / east)]  # mirror images: equal distances
    points = [*same_place, *east_west, ("e", lat, lon)]
    for order in (points, points[::-1]):
        for kind in POINT_SETS:
            s = point_set(kind, cell_m=CELL_M)
            for key, a, b in order:
                s.put(key, a, b)
            assert [k for _, k in s.within(lat, lon, 100.0)] == ["e", "a", "b", "c", "d"], kind
            assert [k for _, k in s.nearest(lat, lon, 3)] == ["e", "a", "b"], kind
            assert [k for _, k in s.nearest(lat, lon, 2, lambda k: k in "cd")] == ["c", "d"], kind


def test_unknown_point_set_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown point set"):
        point_set("kdtree")
    with pytest.raises(ValueError, match="unknown point set"):
        UnitBoard(index="kdtree")


def test_a_point_moving_inside_and_out_of_its_rtree_box() -> None:
    s = RtreePoints(pad_m=150.0)
    s.put("u", 43.25, 76.95)
    north, _ = metres_per_degree(43.25)
    s.put("u", 43.25 + 100 / north, 76.95)  # within its box: only the position changes
    assert [k for _, k in s.within(43.25 + 100 / north, 76.95, 1.0)] == ["u"]
    assert s.within(43.25, 76.95, 50.0) == []
    s.put("u", 43.25 + 1000 / north, 76.95)  # out of it: reindexed
    assert [k for _, k in s.within(43.25 + 1000 / north, 76.95, 1.0)] == ["u"]
    s.discard("u")
    assert len(s) == 0 and s.within(43.25, 76.95, 5000.0) == []
    s.load([])
    assert s.nearest(43.25, 76.95, 3) == []


# --- nearest units ---------------------------------------------------------------------------------------


class _Loc:
    def __init__(self, lat: float, lon: float) -> None:
        self.lat, self.lon = lat, lon


class _Data:
    def __init__(self, unit_id: str, unit_type: str, status: str) -> None:
        self.unit_id, self.unit_type, self.status, self.callsign = unit_id, unit_type, status, None


class _Fix:
    """What UnitBoard.observe reads of a unit.gps record."""

    def __init__(self, eid: str, unit_id: str, unit_type: str, status: str, lat: float, lon: float) -> None:
        self.id = eid
        self.location = _Loc(lat, lon)
        self.data = _Data(unit_id, unit_type, status)


@st.composite
def fleets(draw: st.DrawFn) -> tuple[list[tuple[float, _Fix]], list[tuple[Any, ...]]]:
    centre = draw(CENTRES)
    fixes = []
    t = 0.0
    for n in range(draw(st.integers(1, 50))):
        t += draw(st.sampled_from([0.0, 1.0, 30.0]))
        unit = draw(st.sampled_from(KEYS))
        utype = draw(st.sampled_from(["fire", "fire", "police"]))  # a unit may change type
        status = draw(st.sampled_from(["available", "available", "busy"]))
        at = t + draw(st.sampled_from([0.0, -200.0, -30.0]))  # late fixes, and ties in time
        fixes.append((at, _Fix(f"f{n:02d}", unit, utype, status, *draw(place(centre)))))
        if draw(st.integers(0, 9)) == 0:
            fixes.append(fixes[-1])  # the same fix again
    # asked as of the newest fix and after it, and before it (a version enriched after its time)
    asks = [
        (*draw(place(centre)), draw(st.sampled_from(["fire", "police"])), draw(st.integers(0, 5)),
         t + draw(st.sampled_from([0.0, 100.0, 400.0, -15.0, -100.0])),
         frozenset(draw(st.sets(st.sampled_from(KEYS), max_size=3))))
        for _ in range(draw(st.integers(1, 6)))
    ]  # fmt: skip
    return fixes, asks


def _nearest_brute(fixes: list[tuple[float, _Fix]], lat: float, lon: float, utype: str, count: int, at: float,
                   exclude: frozenset[str]) -> list[tuple[str, float]]:  # fmt: skip
    """docs/context.md: each unit at its latest fix at or before `at` (ties: the greater event id), when that
    fix is at most 180 s old, of the type and available; ranked by (distance, unit id)."""
    latest: dict[str, tuple[float, str, _Fix]] = {}
    for ts, fix in fixes:
        unit = fix.data.unit_id
        if ts <= at and (unit not in latest or (ts, fix.id) > latest[unit][:2]):
            latest[unit] = (ts, fix.id, fix)
    ranked = []
    for unit, (ts, _, fix) in latest.items():
        d = fix.data
        if d.unit_type == utype and d.status == "available" and at - ts <= 180.0 and unit not in exclude:
            ranked.append((distance_m(lat, lon, fix.location.lat, fix.location.lon), unit))
    return [(u, d) for d, u in sorted(ranked)[:count]]


@settings(max_examples=120, deadline=None)
@given(fleets())
def test_nearest_units_follow_the_docs_with_every_index(fleet: tuple[list[tuple[float, _Fix]], list[Any]]) -> None:
    fixes, asks = fleet
    boards = {kind: UnitBoard(index=kind) for kind in POINT_SETS}
    half = len(fixes) // 2
    for ts, fix in fixes[:half]:
        for board in boards.values():
            board.observe(fix, ts)
    restored = {kind: UnitBoard(index=kind) for kind in POINT_SETS}
    for board in restored.values():
        board.load(boards["scan"].dump())  # a restore mid-stream
    for ts, fix in fixes[half:]:
        for board in (*boards.values(), *restored.values()):
            board.observe(fix, ts)
    for lat, lon, utype, count, at, exclude in asks:
        want = [(c.fix.unit_id, c.distance_m, c.eta_s) for c in boards["scan"].nearest(lat, lon, utype, count, at,
                180.0, set(exclude))]  # fmt: skip
        assert [(u, d) for u, d, _ in want] == _nearest_brute(fixes, lat, lon, utype, count, at, exclude)
        for board in (*boards.values(), *restored.values()):
            got = board.nearest(lat, lon, utype, count, at, 180.0, set(exclude))
            assert [(c.fix.unit_id, c.distance_m, c.eta_s) for c in got] == want, board.index


# --- area history ----------------------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, float, float | None, float | None]]:
    centre = draw(CENTRES)
    out: list[tuple[str, float, float | None, float | None]] = []
    t = 0.0
    for _ in range(draw(st.integers(1, 40))):
        t += draw(st.sampled_from([0.0, 10.0, 400.0]))
        inc = draw(st.sampled_from([f"i{n}" for n in range(15)]))  # an incident registered again, moved
        lat, lon = draw(place(centre))
        if draw(st.integers(0, 9)) == 0:
            out.append((inc, t, None, None))
        else:
            out.append((inc, t, lat, lon))
    return out


@settings(max_examples=120, deadline=None)
@given(histories())
def test_area_history_is_the_same_with_every_index(regs: list[tuple[str, float, float | None, float | None]]) -> None:
    window, radius = 1000.0, 300.0
    made = {kind: History(window, radius, 3, index=kind) for kind in POINT_SETS}
    # the brute force: an incident's place is its first location, its time its first registration's
    first: dict[str, float] = {}
    places: dict[str, tuple[float, float]] = {}
    high = -math.inf
    for k, (inc, ts, lat, lon) in enumerate(regs):
        if lat is not None and lon is not None:
            q = (lat, lon)
            live = {i: p for i, p in places.items() if first[i] >= high - window}
            near = [
                (first[i], i)
                for i, p in live.items()
                if i != inc and ts - window <= first[i] <= ts and distance_m(*q, *p) <= radius
            ]
            near.sort()
            want = (len(near), [i for _, i in near[-3:]][::-1])
            for kind, h in made.items():
                assert h.area(inc, ts, lat, lon) == want, kind
        first.setdefault(inc, ts)
        if lat is not None and lon is not None:
            places.setdefault(inc, (lat, lon))
        for h in made.values():
            h.register(inc, ts, [f"address:{k % 3}"], lat, lon)
            h.evict(ts)
        high = max(high, ts)
        for i in [i for i, t in first.items() if t < high - window]:
            del first[i]
            places.pop(i, None)
        if k % 7 == 3:  # a snapshot and restore, into a fresh History of each kind
            rows = made["scan"].dump()
            for kind in POINT_SETS:
                assert made[kind].dump() == rows
                made[kind] = History(window, radius, 3, index=kind)
                made[kind].load(rows)


def test_version_1_history_rows_are_read() -> None:
    """Version 1 listed the area's cell among the keys; lat/lon were 0.0 for an incident without a place."""
    rows = [
        [100.0, "a", ["address:X", "c200:21502:34421"], 43.25, 76.95],
        [200.0, "b", ["address:X"], 0.0, 0.0],
    ]
    for kind in POINT_SETS:
        h = History(1000.0, 200.0, 5, index=kind)
        h.load(rows, version=1)
        assert h.dump() == [[100.0, "a", ["address:X"], 43.25, 76.95], [200.0, "b", ["address:X"], None, None]]
        assert h.area("z", 300.0, 43.2501, 76.9501) == (1, ["a"])
        assert h.area("z", 300.0, 0.0, 0.0) == (0, [])
        assert h.lookup("address:X", "z", 300.0) == (2, ["b", "a"])


# --- the Enricher end to end -----------------------------------------------------------------------------


def _city_stream(seed: int) -> list[Any]:
    rng = random.Random(seed)
    evs: list[Any] = []
    for i in range(120):
        lat, lon = 43.20 + rng.uniform(0, 0.04), 76.90 + rng.uniform(0, 0.05)
        unit = f"u{rng.randrange(30)}"
        utype = ["fire", "ambulance", "police"][rng.randrange(3)]
        status = "available" if rng.random() < 0.8 else "busy"
        evs.append(event("unit.gps", i * 10, {"unit_id": unit, "unit_type": utype, "status": status}, loc=(lat, lon)))
        if i % 3 == 0:
            lat, lon = round(43.20 + rng.uniform(0, 0.04), 3), round(76.90 + rng.uniform(0, 0.05), 3)
            data = {"call_id": f"c{i}", "category": "fire", "address": f"street {rng.randrange(5)}"}
            evs.append(event("call.112", i * 10 + 5, data, loc=(lat, lon), eid=f"call-{i}"))
    return evs


def test_the_enricher_gives_the_same_incidents_with_rtrees(tmp_path: Path) -> None:
    evs = _city_stream(4)
    default = feed(ContextCorrelator(call_rules(tmp_path / "a")), evs, ooo=5)
    rtree = EnricherSettings(unit_index="rtree", history_index="rtree")
    other = feed(ContextCorrelator(call_rules(tmp_path / "b"), settings=rtree), evs, ooo=5)
    dump = [u.model_dump(mode="json") for u in default]
    assert dump == [u.model_dump(mode="json") for u in other]
    assert any(u.context and u.context.units for u in default)
    assert any(h.count for u in default if u.context for h in u.context.history if h.by == "area")
    # a snapshot taken with one structure restores into the other
    cut = len(evs) // 2
    first = ContextCorrelator(call_rules(tmp_path / "c"), settings=rtree)
    part1 = feed(first, evs[:cut], ooo=5, flush=False)
    second = ContextCorrelator(call_rules(tmp_path / "d"))
    second.restore(first.snapshot())
    second.on_watermark(max(e.time.timestamp() for e in evs[:cut]) - 5)
    part2 = feed(second, evs[cut:], ooo=5)
    assert [u.model_dump(mode="json") for u in part1 + part2] == dump
