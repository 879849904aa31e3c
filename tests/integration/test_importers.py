"""Importers on the real public files in ../shared/data (skipped when they are absent)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from schemas import CallCategory, EventBase, Severity, UnitStatus, UnitType, decode_event
from streams.importers import ImportResult

pytestmark = pytest.mark.realdata

DATA = Path(os.environ.get("SAQSHY_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
SF_FIRE = DATA / "calls" / "sf_fire_calls_for_service_dec2016.csv"
NYC = DATA / "accidents" / "nyc_mv_collisions_crashes_sample.csv"
SF_POLICE = DATA / "crime" / "sf_police_incidents_dec2018.csv"


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"real data file {path} is absent (set SAQSHY_SHARED_DATA to the shared/data folder)")


def _roundtrip(res: ImportResult, tmp: Path) -> dict[str, EventBase]:
    out = tmp / "events.jsonl"
    n = res.write(out)
    events = [decode_event(line) for line in out.read_bytes().splitlines()]
    assert len(events) == n == len({e.id for e in events})  # ids are unique
    assert all(e.time.utcoffset() is not None and e.time.utcoffset().total_seconds() == 0 for e in events)  # type: ignore[union-attr]
    assert [e.time for e in events] == sorted(e.time for e in events)
    return {e.id: e for e in events}


def _utc(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


def test_sf_fire(tmp_path: Path) -> None:
    _need(SF_FIRE)
    from streams.importers.sf_fire import import_sf_fire

    res = import_sf_fire(SF_FIRE)
    assert res.rows == 7704 and res.counts["call.112"] == 3560 and res.counts["unit.gps"] > 20_000
    ev = _roundtrip(res, tmp_path)
    call = ev["sffire-163664050"]
    assert call.time == _utc("2017-01-01T07:57:56")  # 11:57:56 PM PST on 31 Dec
    assert call.data.category == CallCategory.INFO and call.location is not None  # type: ignore[attr-defined]
    assert abs(call.location.lat - 37.745858648581) < 1e-9
    on_scene = ev["sffire-163664050-E39-on_scene"]
    assert on_scene.time == _utc("2017-01-01T08:04:18") and on_scene.location == call.location
    assert on_scene.data.status == UnitStatus.ON_SCENE and on_scene.data.unit_type == UnitType.FIRE  # type: ignore[attr-defined]
    assert ev["sffire-163664050-E39-dispatched"].location is None


def test_nyc_collisions(tmp_path: Path) -> None:
    _need(NYC)
    from streams.importers.nyc_collisions import import_nyc_collisions

    res = import_nyc_collisions(NYC)
    assert res.rows == 9259
    assert res.counts["accident.record"] + sum(res.skipped.values()) == res.rows
    assert res.skipped["no location"] > 0
    ev = _roundtrip(res, tmp_path)
    rec = ev["nyc-4011580"]
    assert rec.time == _utc("2018-10-30T12:30:00")  # 8:30 EDT
    d = rec.data  # type: ignore[attr-defined]
    assert (d.severity, d.injured, d.vehicles, d.road) == (Severity.MINOR_INJURY, 1, 2, "EAST GUN HILL ROAD")
    assert d.factors == ["Obstruction/Debris", "Other Vehicular"]


def test_sf_police(tmp_path: Path) -> None:
    _need(SF_POLICE)
    from streams.importers.sf_police import import_sf_police

    res = import_sf_police(SF_POLICE)
    assert res.rows == 11884 and 8000 < res.counts["call.112"] < 9749
    ev = _roundtrip(res, tmp_path)
    call = ev["sfpd-743396"]
    assert call.time == _utc("2018-12-01T08:25:00")  # 00:25 PST
    assert call.data.category == CallCategory.VIOLENCE  # type: ignore[attr-defined]  # Robbery
    assert call.admin is not None and (call.admin.city, call.admin.district) == ("San Francisco", "Ingleside")


def test_cli(tmp_path: Path) -> None:
    _need(NYC)
    from saqshy.commands.import_cmd import import_

    out = tmp_path / "out.jsonl.gz"
    res = CliRunner().invoke(import_, ["nyc-collisions", "--input", str(NYC), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 0


def test_bad_rows_are_skipped_not_fatal(tmp_path: Path) -> None:
    from streams.importers.nyc_collisions import import_nyc_collisions

    header = "CRASH_DATE,CRASH_TIME,LATITUDE,LONGITUDE,INJURED_PERSONS,KILLED_PERSONS,"
    header += "COLLISION_ID,VEHICLE_TYPE_1\n"
    csv = tmp_path / "bad.csv"
    csv.write_text(
        header + "13/45/2018,8:30,40.7,-73.9,0,0,1,Sedan\n01/02/2018,8:30,,,0,0,2,\n01/02/2018,8:30,40.7,-73.9,x,0,3,\n"
    )
    res: ImportResult = import_nyc_collisions(csv)
    assert res.skipped == {"no crash time": 1, "no location": 1} and res.counts["accident.record"] == 1
    fn: Callable[[Path], ImportResult] = import_nyc_collisions
    assert fn(csv).events[0].id == "nyc-3"
