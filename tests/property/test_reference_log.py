"""The bounded reference log (rules.core.reference.ReferenceLog) against the brute force: every reference record
replayed. On shuffled, duplicated and deleted records, replaying what the log keeps, into an empty store or on
top of a snapshot taken part way, gives the same tables, hotlist answers (as of any time) and newest time."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.core.reference import ReferenceLog, ReferenceStore
from rules.records import decode_record

PLATES = ("123ABC02", "123ABD02", "777KZ01")
T0 = 1_767_614_400  # 2026-01-05T12:00:00Z
READ_TIMES = range(T0 - 20, T0 + 120, 5)


def _iso(ts: float) -> str:
    return f"2026-01-05T{12 + int(ts - T0) // 3600:02d}:{int(ts - T0) % 3600 // 60:02d}:{int(ts - T0) % 60:02d}Z"


def _square(dx: float) -> dict[str, Any]:
    lon, lat = 76.9 + dx, 43.2
    ring = [[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat + 0.01], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


@st.composite
def reference_record(draw: st.DrawFn, n: int) -> dict[str, Any]:
    """A hotlist, zone or camera record: few keys, so that records supersede one another; times on a coarse grid
    and out of order; one in five a deletion."""
    at = T0 + draw(st.integers(-4, 20)) * 5
    kind = draw(st.sampled_from(["ref.hotlist", "ref.hotlist", "ref.zone", "ref.camera"]))
    if kind == "ref.hotlist":
        start = T0 + draw(st.integers(-4, 20)) * 5
        data: dict[str, Any] = {
            "plate": draw(st.sampled_from(PLATES)),
            "reason": draw(st.sampled_from(["stolen", "wanted"])),
            "priority": draw(st.integers(1, 4)),
            "valid_from": _iso(start),
        }
        if draw(st.booleans()):
            data["valid_to"] = _iso(start + draw(st.integers(1, 10)) * 5)
    elif kind == "ref.zone":
        zone = draw(st.sampled_from(["z1", "z2"]))
        data = {
            "zone_id": zone,
            "name": f"zone {n}",
            "kind": "school",
            "geometry": _square(draw(st.integers(0, 2)) / 100),
        }
    else:
        data = {
            "camera_id": draw(st.sampled_from(["c1", "c2"])),
            "location": {"lat": 43.2, "lon": 76.9 + n / 1000},
            "name": f"c{n}",
        }
    record = {"id": f"r{n:03d}", "type": kind, "source": "test/ref", "time": _iso(at), "data": data}
    if draw(st.integers(0, 4)) == 0:
        record["deleted"] = True
    return record


@st.composite
def arrivals(draw: st.DrawFn) -> list[Any]:
    """Records in a shuffled order with copies (same id, same content) re-sent anywhere after the original."""
    records = [draw(reference_record(n)) for n in range(draw(st.integers(1, 40)))]
    order = draw(st.permutations(records))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(order) - 1))
        order.insert(draw(st.integers(at + 1, len(order))), order[at])
    return [decode_record(orjson.dumps(r)) for r in order]


def _apply(store: ReferenceStore, records: Iterable[Any], seen: set[str]) -> None:
    """As the core applies them: a record with an id already seen is a copy and is dropped."""
    for record in records:
        if record.id not in seen:
            seen.add(record.id)
            store.apply(record, record.time.timestamp())


def _answers(store: ReferenceStore) -> tuple[Any, ...]:
    hotlist = tuple(
        (plate, ts, fuzzy, repr(store.hotlist.lookup(plate, ts, fuzzy)))
        for plate in PLATES
        for ts in READ_TIMES
        for fuzzy in (0, 1)
    )
    zones = sorted((r.zone_id, r.name, repr(r.geometry)) for r in store.zones.records())
    cameras = sorted((k, v.name) for k, v in store.cameras.items())
    return hotlist, zones, cameras, store.latest_ts


def _kept(records: list[Any]) -> ReferenceLog:
    log = ReferenceLog()
    for record in records:
        log.add(record, record.time.timestamp())
    return log


@settings(max_examples=120, deadline=None)
@given(arrivals())
def test_replaying_the_kept_records_gives_what_replaying_all_gives(records: list[Any]) -> None:
    everything = ReferenceStore()
    _apply(everything, records, set())
    bounded = ReferenceStore()
    _apply(bounded, (r for _, r in _kept(records).records()), set())
    assert _answers(bounded) == _answers(everything)


@settings(max_examples=80, deadline=None)
@given(arrivals(), st.data())
def test_a_snapshot_then_the_kept_records_gives_what_the_full_replay_gives(records: list[Any], data: Any) -> None:
    """A restored partition: its snapshot's tables (the core's own log, as a restore applies it), then the worker
    replays what it keeps; the core drops the records the snapshot has seen."""
    cut = data.draw(st.integers(0, len(records)))
    before = ReferenceStore()
    seen: set[str] = set()
    _apply(before, records[:cut], seen)
    restored = ReferenceStore()
    _apply(restored, (r for _, r in before.applied()), set())
    _apply(restored, (r for _, r in _kept(records).records()), set(seen))
    everything = ReferenceStore()
    _apply(everything, records, set())
    assert _answers(restored) == _answers(everything)


def test_the_log_keeps_the_latest_record_per_key_and_every_hotlist_version() -> None:
    """Many updates of two zones and one plate: two zone records (a deletion kept as the key's latest) plus the
    record with the newest time, and every distinct hotlist version; copies add nothing."""
    lines: list[dict[str, Any]] = []
    for n in range(100):
        zone = {"zone_id": f"z{n % 2}", "name": f"v{n}", "kind": "school", "geometry": _square(0)}
        lines.append({"id": f"z{n}", "type": "ref.zone", "source": "s", "time": _iso(T0 + (50 - n) * 5), "data": zone})
    lines[-1]["deleted"] = True
    for n in range(5):
        plate = {"plate": "123ABC02", "reason": "stolen", "valid_from": _iso(T0)}
        lines.append({"id": f"h{n}", "type": "ref.hotlist", "source": "s", "time": _iso(T0 + n), "data": plate})
    records = [decode_record(orjson.dumps(line)) for line in lines]
    log = _kept(records + records[:10])
    kept = [r.id for _, r in log.records()]
    assert kept == ["z0", "z98", "z99", "h0", "h1", "h2", "h3", "h4"]  # z0 has the newest time
    assert len(log) == 8
    store = ReferenceStore()
    _apply(store, (r for _, r in log.records()), set())
    assert [r.name for r in store.zones.records()] == ["v98"] and store.latest_ts == T0 + 250
