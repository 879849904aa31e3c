"""The simulator: deterministic, decodable, with truth that points at real events and at-least-once noise."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from shapely.geometry import box
from shapely.ops import unary_union

from schemas import CallCategory, EventBase, UnitStatus, UnitType, ZoneKind, decode_event
from streams.sim import SimConfig, default_truth_path, load_city, read_truth, simulate
from streams.sim.scenarios import SCENARIOS

CITY = Path(__file__).resolve().parents[2] / "streams" / "sim" / "cities" / "alatau"
START = datetime.fromisoformat("2026-11-22T00:00:00+05:00")


def kind(e: EventBase) -> str:
    return str(getattr(e, "type", ""))


RULES = {
    "fire.camera_and_call",
    "calls.mass_incident",
    "traffic.accident_confirmed",
    "anpr.wanted_vehicle",
    "anpr.wanted_route",
    "sos.no_unit_on_scene",
    "video.abandoned_object_crowded",
    "video.night_intrusion_critical",
    "calls.repeat_phone",
    "calls.gas_leak_cluster",
    "video.fight_with_call",
    "video.fall_medical",
    "video.crowd_in_zone",
    "anpr.cloned_plate",  # issue 20: planted before the rule existed, scored once it does
    "traffic.road_accident_cluster",
}


def _run(tmp: Path, name: str, seed: int, hours: float = 1.0, scale: float = 0.4) -> Path:
    out = tmp / f"{name}.jsonl"
    simulate(SimConfig(CITY, hours, seed, START, rate_scale=scale), out)
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("sim"), "a", seed=11)


@pytest.fixture(scope="module")
def lines(run: Path) -> list[bytes]:
    return run.read_bytes().splitlines()


def test_city_geometry_is_valid() -> None:
    city = load_city(CITY)
    assert 4 <= len(city.districts) <= 6
    assert all(d.shape.is_valid for d in city.districts)
    bbox = box(city.bbox[1], city.bbox[0], city.bbox[3], city.bbox[2])
    union = unary_union([d.shape for d in city.districts])
    assert union.symmetric_difference(bbox).area < 1e-9  # districts tile the bbox
    shapes = [d.shape for d in city.districts]
    assert sum(a.intersection(b).area for i, a in enumerate(shapes) for b in shapes[i + 1 :]) < 1e-12
    assert len(city.zones) >= 12 and all(z.shape.is_valid and bbox.contains(z.shape) for z in city.zones)
    assert {
        ZoneKind.SCHOOL,
        ZoneKind.MASS_GATHERING,
        ZoneKind.CRITICAL_INFRASTRUCTURE,
        ZoneKind.TRANSPORT_HUB,
        ZoneKind.MARKET,
        ZoneKind.PARK,
    } <= {z.kind for z in city.zones}
    assert len(city.cameras) >= 120 and len({c.camera_id for c in city.cameras}) == len(city.cameras)
    assert sum(c.anpr for c in city.cameras) >= 30
    units = {t: sum(b.units for b in city.bases if b.kind == t) for t in UnitType}
    assert (units[UnitType.POLICE], units[UnitType.AMBULANCE], units[UnitType.FIRE], units[UnitType.GAS]) == (
        40,
        15,
        8,
        4,
    )
    assert city.address(43.2320, 76.9000).startswith("Abai ave ")


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, run: Path) -> None:
    again = _run(tmp_path, "b", seed=11)
    assert again.read_bytes() == run.read_bytes()
    assert default_truth_path(again).read_bytes() == default_truth_path(run).read_bytes()
    other = _run(tmp_path, "c", seed=12)
    assert other.read_bytes() != run.read_bytes()


def test_every_line_decodes_and_references_come_first(lines: list[bytes]) -> None:
    events = [decode_event(line) for line in lines]
    kinds = [kind(e) for e in events]
    n_ref = sum(k.startswith("ref.") for k in kinds)
    assert all(k.startswith("ref.") for k in kinds[:n_ref])
    assert {"ref.zone", "ref.camera", "ref.admin_area", "ref.hotlist"} <= set(kinds[:n_ref])
    assert kinds.count("ref.hotlist") >= 45
    assert {"call.112", "anpr.read", "video.detection", "unit.gps", "sos.press"} <= set(kinds)
    assert all(e.time.utcoffset() is not None for e in events)
    cats = {e.data.category for e in events if kind(e) == "call.112"}  # type: ignore[attr-defined]
    assert {CallCategory.MEDICAL, CallCategory.FIRE, CallCategory.GAS, CallCategory.VIOLENCE} <= cats


def test_out_of_order_and_duplicates(lines: list[bytes]) -> None:
    events = [decode_event(line) for line in lines]
    live = [e for e in events if not kind(e).startswith("ref.")]
    newest, late = live[0].time, 0
    for e in live:
        if e.time < newest:
            late += 1
            assert (newest - e.time).total_seconds() <= 20.0 + 15.0  # late deliveries or duplicates
        newest = max(newest, e.time)
    assert 0.005 < late / len(live) < 0.03
    ids = [e.id for e in live]
    dups = len(ids) - len(set(ids))
    assert 0 < dups < 0.004 * len(ids)
    seen: dict[str, bytes] = {}
    for line, e in zip(lines, events, strict=True):
        assert seen.setdefault(e.id, line) == line  # a duplicate is the same event, byte for byte


def test_truth_points_at_events_and_covers_rules(run: Path, lines: list[bytes]) -> None:
    truth = read_truth(default_truth_path(run))
    ids = {json.loads(line)["id"] for line in lines}
    assert truth and all(set(t.event_ids) <= ids and t.event_ids for t in truth)
    assert {t.rule_id for t in truth} == RULES  # a 1 h run from midnight plants one of each
    assert len({s.name for s in SCENARIOS}) == len(SCENARIOS)
    for t in truth:
        assert t.start <= t.time


def test_planted_sos_gets_no_unit_in_time(run: Path, lines: list[bytes]) -> None:
    city = load_city(CITY)
    events = [decode_event(line) for line in lines]
    on_scene = [
        e
        for e in events
        if kind(e) == "unit.gps"
        and e.data.status == UnitStatus.ON_SCENE  # type: ignore[attr-defined]
        and e.data.unit_type == UnitType.POLICE  # type: ignore[attr-defined]
    ]
    by_id = {e.id: e for e in events}
    planted = {t.event_ids[0] for t in read_truth(default_truth_path(run)) if t.rule_id == "sos.no_unit_on_scene"}
    for e in events:
        if kind(e) != "sos.press":
            continue
        assert e.location is not None
        reached = any(
            0 <= (g.time - e.time).total_seconds() <= 480
            and g.location is not None
            and city.distance_m(g.location.lat, g.location.lon, e.location.lat, e.location.lon) <= 300
            for g in on_scene
        )
        assert reached == (e.id not in planted), by_id[e.id]


def test_gzip_output_and_cli(tmp_path: Path) -> None:
    from saqshy.commands.simulate_cmd import simulate as cmd

    out = tmp_path / "ev.jsonl.gz"
    res = CliRunner().invoke(
        cmd, ["--city", str(CITY), "--hours", "0.2", "--seed", "5", "--out", str(out), "--rate-scale", "0.1"]
    )
    assert res.exit_code == 0, res.output
    with gzip.open(out) as fh:
        first = fh.readline()
    assert decode_event(first).id.startswith("ref-")
    assert (tmp_path / "ev.truth.jsonl").exists()
