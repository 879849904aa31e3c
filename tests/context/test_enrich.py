"""Enrichment end to end through ContextCorrelator: admin path, cameras, units, arrivals, history, snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from rules.context import ContextCorrelator, ContextError, EnricherSettings
from rules.context.scopes import scope_ids, scoped_topics
from rules.privacy import PrivacySettings
from schemas import AdminPath
from tests.context.support import call_rules, feed
from tests.support import event

SQUARE = [[76.90, 43.20], [76.95, 43.20], [76.95, 43.25], [76.90, 43.25], [76.90, 43.20]]
WEST = [[76.85, 43.20], [76.90, 43.20], [76.90, 43.25], [76.85, 43.25], [76.85, 43.20]]
CITY = [[76.85, 43.20], [76.95, 43.20], [76.95, 43.25], [76.85, 43.25], [76.85, 43.20]]


def areas() -> list[Any]:
    def area(area_id: str, name: str, level: str, parent: str | None, ring: list[list[float]]) -> Any:
        data = {
            "area_id": area_id,
            "name": name,
            "level": level,
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
        if parent:
            data["parent_id"] = parent
        return event("ref.admin_area", 0, data, eid=f"area-{area_id}")

    big = [[40.0, 40.0], [90.0, 40.0], [90.0, 56.0], [40.0, 56.0], [40.0, 40.0]]
    return [
        area("kz", "Kazakhstan", "republic", None, big),
        area("reg", "Almaty Region", "region", "kz", CITY),
        area("city", "Alatau", "city", "reg", CITY),
        area("east", "Medeu district", "district", "city", SQUARE),
        area("west", "Auezov district", "district", "city", WEST),
    ]


def gps(at: float, unit: str, utype: str, lat: float, lon: float, status: str = "available", **kw: Any) -> Any:
    return event("unit.gps", at, {"unit_id": unit, "unit_type": utype, "status": status, **kw}, loc=(lat, lon))


def call(at: float, cid: str, lat: float, lon: float, **kw: Any) -> Any:
    return event("call.112", at, {"call_id": cid, "category": "fire", **kw}, loc=(lat, lon), eid=f"call-{cid}")


def test_admin_path_cameras_units_and_scopes(tmp_path: Path) -> None:
    core = ContextCorrelator(call_rules(tmp_path))
    fov = {
        "type": "Polygon",
        "coordinates": [[[76.919, 43.219], [76.921, 43.219], [76.921, 43.221], [76.919, 43.221], [76.919, 43.219]]],
    }
    refs = [
        *areas(),
        event("ref.camera", 0, {"camera_id": "near", "location": {"lat": 43.2201, "lon": 76.9201}, "owner": "police"}),
        event("ref.camera", 0, {"camera_id": "fov", "location": {"lat": 43.2189, "lon": 76.9189}, "fov": fov}),
        event("ref.camera", 0, {"camera_id": "far", "location": {"lat": 43.2300, "lon": 76.9300}}),
        event("ref.camera", 0, {"camera_id": "off", "location": {"lat": 43.2200, "lon": 76.9200}, "status": "offline"}),
    ]
    units = [
        gps(10, "f-near", "fire", 43.2210, 76.9210),
        gps(10, "f-mid", "fire", 43.2250, 76.9250),
        gps(10, "f-far", "fire", 43.2400, 76.9400),
        gps(10, "f-busy", "fire", 43.2201, 76.9201, status="busy"),
        gps(-400, "f-stale", "fire", 43.2200, 76.9200),  # last fix 7 min before the call: not a position
        gps(10, "a-1", "ambulance", 43.2300, 76.9000),
    ]
    out = feed(core, [*refs, *units, call(60, "c1", 43.2200, 76.9200)])
    inc = out[0]
    ctx = inc.context
    assert ctx is not None
    assert inc.admin == AdminPath(
        republic="Kazakhstan", region="Almaty Region", city="Alatau", district="Medeu district"
    )
    assert ctx.admin_ids == ["kz", "reg", "city", "east"]
    assert [c.camera_id for c in ctx.cameras] == ["near", "fov"]  # offline excluded, far does not cover it
    assert ctx.cameras[0].distance_m < ctx.cameras[1].distance_m
    assert [u.unit_id for u in ctx.units] == ["a-1", "f-near", "f-mid"]
    near = ctx.units[1]
    assert 100 < near.distance_m < 200 and near.eta_s == pytest.approx(near.distance_m * 1.35 / (35 / 3.6), rel=1e-3)
    assert ctx.shortfall == []
    assert ctx.agencies == ["ambulance", "fire service"]
    assert ctx.checklist[-1] == "Put the cameras on the wall"
    assert ctx.scopes == scope_ids(inc.admin)
    assert scoped_topics(inc) == [
        "saqshy.incidents.scope.kazakhstan",
        "saqshy.incidents.scope.kazakhstan.almaty-region",
        "saqshy.incidents.scope.kazakhstan.almaty-region.alatau",
        "saqshy.incidents.scope.kazakhstan.almaty-region.alatau.medeu-district",
    ]


def test_shortfall_when_too_few_fresh_units(tmp_path: Path) -> None:
    core = ContextCorrelator(call_rules(tmp_path), settings=EnricherSettings(unit_stale_s=60))
    out = feed(
        core, [gps(0, "f1", "fire", 43.22, 76.92), gps(-120, "f2", "fire", 43.22, 76.92), call(30, "c", 43.22, 76.92)]
    )
    ctx = out[0].context
    assert ctx is not None
    assert [u.unit_id for u in ctx.units] == ["f1"]
    assert {(s.unit_type.value, s.needed, s.found) for s in ctx.shortfall} == {("fire", 2, 1), ("ambulance", 1, 0)}


def test_a_later_fix_moves_a_unit_and_an_older_one_does_not(tmp_path: Path) -> None:
    core = ContextCorrelator(call_rules(tmp_path))
    evs = [
        gps(0, "f1", "fire", 43.30, 76.92),
        gps(20, "f1", "fire", 43.221, 76.92),
        gps(10, "f1", "fire", 43.40, 76.92),
    ]
    ctx = feed(core, [*evs, call(30, "c", 43.22, 76.92)], ooo=60)[0].context
    assert ctx is not None and ctx.units[0].location.lat == pytest.approx(43.221)


def test_unit_on_scene_updates_the_incident_once_per_unit(tmp_path: Path) -> None:
    core = ContextCorrelator(call_rules(tmp_path))
    first = feed(core, [gps(0, "f1", "fire", 43.21, 76.92), call(30, "c", 43.22, 76.92)], flush=False)
    inc_id = first[0].id
    out = feed(
        core,
        [
            gps(100, "f1", "fire", 43.215, 76.92, status="en_route", assigned_incident=inc_id),
            gps(330, "f1", "fire", 43.22, 76.92, status="on_scene", assigned_incident=inc_id),
            gps(350, "f1", "fire", 43.22, 76.92, status="on_scene", assigned_incident=inc_id),  # no new version
            gps(400, "a1", "ambulance", 43.22, 76.92, status="on_scene", assigned_incident=inc_id),
            gps(410, "x", "police", 43.22, 76.92, status="on_scene", assigned_incident="inc-unknown"),
        ],
        flush=False,
    )
    assert [(u.version, [a.unit_id for a in u.arrivals]) for u in out] == [(2, ["f1"]), (3, ["f1", "a1"])]
    assert out[-1].time_to_arrive_s == pytest.approx(300.0)
    assert out[-1].arrivals[1].time_to_arrive_s == pytest.approx(370.0)
    ctx = out[-1].context
    assert ctx is not None  # the arrived units are no longer needed: one more fire engine, no ambulance
    assert {(s.unit_type.value, s.needed) for s in ctx.shortfall} == {("fire", 1)}


def test_history_by_address_phone_and_area(tmp_path: Path) -> None:
    secret = PrivacySettings(b"k" * 32)
    core = ContextCorrelator(call_rules(tmp_path), settings=EnricherSettings(privacy=secret))
    day = 86_400.0
    evs = [
        call(0, "a", 43.2200, 76.9200, address="Abai ave 10", phone="+7 701 111 22 33"),
        call(1 * day, "b", 43.2201, 76.9201, address="ABAI AVE, 10", phone="+77011112233"),
        call(2 * day, "c", 43.2500, 76.9500, address="Elsewhere 1", phone="+77011112233"),
        call(3 * day, "d", 43.2210, 76.9200, address="Abai ave 10"),  # ~110 m from a and b
        call(40 * day, "e", 43.2200, 76.9200, address="Abai ave 10"),  # a, b and d are over 30 days old
    ]
    latest = {i.labels.get("phone", "") + i.title: i for i in feed(core, evs)}
    hist = {
        inc.title: {(h.by, h.count, tuple(h.last_ids)) for h in inc.context.history}  # type: ignore[union-attr]
        for inc in latest.values()
    }
    ids = {inc.title: inc.id for inc in latest.values()}
    assert ("address", 1, (ids["Call a"],)) in hist["Call b"]
    assert ("phone", 1, (ids["Call a"],)) in hist["Call b"]
    assert ("phone", 2, (ids["Call b"], ids["Call a"])) in hist["Call c"]
    assert ("area", 0, ()) in hist["Call c"]
    assert ("address", 2, (ids["Call b"], ids["Call a"])) in hist["Call d"]
    assert ("area", 2, (ids["Call b"], ids["Call a"])) in hist["Call d"]
    assert ("address", 0, ()) in hist["Call e"] and ("area", 0, ()) in hist["Call e"]
    phone_keys = {h.key for i in latest.values() for h in i.context.history if h.by == "phone"}  # type: ignore[union-attr]
    assert phone_keys == {secret.pseudonymise_phone("+77011112233")}  # never the phone itself


def _stream() -> list[Any]:
    evs: list[Any] = [*areas()]
    for i in range(40):
        if i % 10 == 3:  # reference changes before and after the snapshot, superseding each other
            cam = {"camera_id": "cam-x", "location": {"lat": 43.22 + 0.0003 * (i % 7), "lon": 76.92}}
            evs.append(event("ref.camera", i * 30, cam, eid=f"cam-x-{i}"))
        evs.append(gps(i * 30, f"f{i % 5}", "fire", 43.21 + 0.001 * i, 76.91 + 0.0005 * i))
        evs.append(gps(i * 30 + 5, f"a{i % 3}", "ambulance", 43.22, 76.90 + 0.001 * i))
        evs.append(
            call(i * 30 + 10, f"c{i}", 43.22 + 0.0003 * (i % 7), 76.92, address=f"street {i % 4}", phone=f"+7{i % 3}")
        )
    return evs


def _dump(updates: list[Any]) -> list[bytes]:
    return [orjson.dumps(u.model_dump(mode="json")) for u in updates]


def test_deterministic_and_snapshot_restore_gives_the_same_output(tmp_path: Path) -> None:
    evs = _stream()
    whole = feed(ContextCorrelator(call_rules(tmp_path)), evs, ooo=5)
    assert _dump(whole) == _dump(feed(ContextCorrelator(call_rules(tmp_path / "b")), evs, ooo=5))
    cut = len(evs) // 2
    first = ContextCorrelator(call_rules(tmp_path / "c"))
    part1 = feed(first, evs[:cut], ooo=5, flush=False)
    snap = first.snapshot()
    second = ContextCorrelator(call_rules(tmp_path / "d"))
    second.restore(snap)
    high = max(e.time.timestamp() for e in evs[:cut])
    second.on_watermark(high - 5)
    part2 = feed(second, evs[cut:], ooo=5)
    assert _dump(part1 + part2) == _dump(whole)
    assert any(h.count > 0 for u in whole for h in u.context.history)  # type: ignore[union-attr]


def test_bad_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    core = ContextCorrelator(call_rules(tmp_path))
    with pytest.raises(ContextError, match="snapshot"):
        core.restore(b"{}")
    with pytest.raises(ContextError, match="snapshot"):
        core.enricher.restore(b"not json")


def test_scope_topics_from_admin_areas() -> None:
    from rules.context.scopes import admin_paths, scope_topics

    records = [a.data for a in areas()]
    topics = scope_topics(admin_paths(records))
    assert topics == [
        "saqshy.incidents.scope.kazakhstan",
        "saqshy.incidents.scope.kazakhstan.almaty-region",
        "saqshy.incidents.scope.kazakhstan.almaty-region.alatau",
        "saqshy.incidents.scope.kazakhstan.almaty-region.alatau.auezov-district",
        "saqshy.incidents.scope.kazakhstan.almaty-region.alatau.medeu-district",
    ]
    assert scope_ids(None) == ["unassigned"]
    assert scope_ids(AdminPath(republic="Қазақстан", region="Алматы облысы")) == [
        "qazaqstan",
        "qazaqstan/almaty-oblysy",
    ]
    one, two = scope_ids(AdminPath(republic="東京")), scope_ids(AdminPath(republic="大阪"))
    assert one != two and one[0].startswith("n")


ROSTER_CSV = (
    "unit_id,unit_type,callsign,agency,base_id\nf1,fire,Olimp-1,fire service,fs-1\nf2,fire,,fire service,fs-1\n"
)


def test_roster_is_authoritative(tmp_path: Path) -> None:
    from rules.context.roster import load_roster

    (tmp_path / "units.csv").write_text(ROSTER_CSV)
    roster = load_roster(tmp_path / "units.csv")
    core = ContextCorrelator(call_rules(tmp_path), settings=EnricherSettings(roster=roster))
    evs = [
        gps(0, "f1", "police", 43.2201, 76.92, callsign="tracker-name"),  # the roster says fire, Olimp-1
        gps(0, "f2", "fire", 43.2202, 76.92, callsign="F-2"),
        gps(0, "ghost", "fire", 43.2200, 76.92),  # not on the roster: never recommended
        call(30, "c", 43.22, 76.92),
    ]
    ctx = feed(core, evs)[0].context
    assert ctx is not None
    assert [(u.unit_id, u.unit_type.value, u.callsign) for u in ctx.units] == [
        ("f1", "fire", "Olimp-1"),
        ("f2", "fire", "F-2"),
    ]
    assert core.enricher.units.unknown == 1


def test_the_alatau_roster_matches_the_simulated_fleet() -> None:
    import random

    from rules.context.roster import load_roster
    from streams.sim.city import load_city
    from streams.sim.units import Fleet

    alatau = Path(__file__).resolve().parents[2] / "streams" / "sim" / "cities" / "alatau"
    roster = load_roster(alatau / "units.csv")
    fleet = Fleet(load_city(alatau), random.Random(0), 0.0).units
    assert {(u.unit_id, u.unit_type.value, u.callsign) for u in fleet} == {
        (u.unit_id, u.unit_type, u.callsign) for u in roster.values()
    }


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("r.csv", "unit_id,unit_type\nu1,tank\n", "line 2: unit_type 'tank'"),
        ("r.csv", "unit_id\nu1\n", "missing 'unit_type'"),
        ("r.csv", "unit_id,unit_type\nu1,fire\nu1,police\n", "listed twice"),
        ("r.yaml", "units: {}\n", "expected"),
        ("r.txt", "", ".csv or .yaml"),
    ],
)
def test_bad_rosters(tmp_path: Path, name: str, text: str, message: str) -> None:
    from rules.context.roster import load_roster

    (tmp_path / name).write_text(text)
    with pytest.raises(ContextError, match=message):
        load_roster(tmp_path / name)


def test_an_incident_without_a_location_still_gets_history_and_a_checklist(tmp_path: Path) -> None:
    core = ContextCorrelator(call_rules(tmp_path))
    evs = [
        event("call.112", 0, {"call_id": "a", "category": "fire", "address": "Abai ave 10"}, eid="call-a"),
        event("call.112", 60, {"call_id": "b", "category": "fire", "address": "abai ave 10"}, eid="call-b"),
    ]
    out = feed(core, evs)
    last = next(u for u in out if u.title == "Call b")
    ctx = last.context
    assert ctx is not None and last.location is None
    assert ctx.cameras == [] and ctx.units == [] and ctx.scopes == ["unassigned"]
    assert [(h.by, h.count) for h in ctx.history] == [("address", 1)]
    assert ctx.checklist and scoped_topics(last) == ["saqshy.incidents.scope.unassigned"]


def test_a_snapshot_from_before_unit_fixes_were_kept_restores_each_units_latest_fix(tmp_path: Path) -> None:
    """Context snapshots of version 2 held one fix per unit (no event id): they restore as each unit's only fix, so a
    restored runtime recommends what it did before the upgrade for incidents after those fixes."""
    core = ContextCorrelator(call_rules(tmp_path))
    fixes = [gps(t, unit, "fire", 43.21 + 0.001 * t / 30, 76.91) for t in (0, 30, 60) for unit in ("f1", "f2", "f3")]
    for ev in fixes:
        core.on_event(ev)
    doc = orjson.loads(core.enricher.snapshot())
    assert doc["version"] == 3 and len(doc["units"]) == 9 and all(len(row) == 8 for row in doc["units"])
    latest = {row[0]: row[:7] for row in sorted(doc["units"], key=lambda r: r[5])}
    old = {**doc, "version": 2, "units": sorted(latest.values())}
    restored = ContextCorrelator(call_rules(tmp_path / "b"))
    restored.enricher.restore(orjson.dumps(old))
    for at in (60.0, 100.0):
        t = fixes[0].time.timestamp() + at
        want = core.enricher.units.nearest(43.22, 76.91, "fire", 2, t, 180.0, set())
        got = restored.enricher.units.nearest(43.22, 76.91, "fire", 2, t, 180.0, set())
        assert [(c.fix.unit_id, c.distance_m) for c in got] == [(c.fix.unit_id, c.distance_m) for c in want] != []
    before = fixes[0].time.timestamp() + 30  # as of a time before the kept fix: the old snapshot has none then
    assert core.enricher.units.nearest(43.22, 76.91, "fire", 3, before, 180.0, set())
    assert restored.enricher.units.nearest(43.22, 76.91, "fire", 3, before, 180.0, set()) == []
