# ruff: noqa: E501  (the fixtures are rows as the real exports write them)
"""Importers pick the export layout from the header (SFPD's pre-2018 and 2018+ layouts at least) and refuse a
file that fits none, naming the columns each known layout misses. Fixtures are a few rows written here."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from saqshy.cli import main
from schemas import CallCategory, decode_event
from streams.importers import ImportFormatError, detect_layout
from streams.importers.nyc_collisions import import_nyc_collisions
from streams.importers.sf_fire import import_sf_fire
from streams.importers.sf_police import LAYOUTS, PRE_2018, import_sf_police

PRE_2018_CSV = """IncidntNum,Category,Descript,DayOfWeek,Date,Time,PdDistrict,Resolution,Address,X,Y,Location,PdId
150060275,NON-CRIMINAL,LOST PROPERTY,Monday,01/19/2015,14:00,MISSION,NONE,18TH ST / VALENCIA ST,-122.42158168137,37.7617007179518,"(37.7617007179518, -122.42158168137)",15006027571000
150060275,ROBBERY,"ROBBERY, BODILY FORCE",Monday,01/19/2015,14:00,MISSION,NONE,18TH ST / VALENCIA ST,-122.42158168137,37.7617007179518,"(37.7617007179518, -122.42158168137)",15006027503074
150098210,ASSAULT,BATTERY,Sunday,02/01/2015 12:00:00 AM,15:45,TENDERLOIN,NONE,300 Block of LEAVENWORTH ST,-122.414406029855,37.7841907151119,"(37.7841907151119, -122.414406029855)",15009821004134
150098226,VEHICLE THEFT,STOLEN AUTOMOBILE,Tuesday,2015-07-21T00:00:00,09:10,BAYVIEW,NONE,0 Block of NO ST,-120.5,90,"(90, -120.5)",15009822607021
"""
CURRENT_CSV = """Incident Datetime,Incident ID,Incident Number,CAD Number,Incident Category,Incident Description,Intersection,Police District,Latitude,Longitude
2018/12/01 12:25:00 AM,743396,180906213,183350077,Robbery,"Robbery, W/ Force",BOSWORTH ST \\ DIAMOND ST,Ingleside,37.73355034231799,-122.43414453855247
"""


def write(tmp: Path, text: str, name: str = "export.csv") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_pre_2018_layout_is_detected_and_imported(tmp_path: Path) -> None:
    path = write(tmp_path, PRE_2018_CSV)
    assert detect_layout(path, "SFPD", LAYOUTS) is PRE_2018
    res = import_sf_police(path)
    assert res.rows == 4
    assert dict(res.skipped) == {"further offence of an imported incident": 1, "no location": 1}
    first, second = sorted(res.events, key=lambda e: e.time)
    assert first.id == "sfpd-n150060275" and first.time == datetime(2015, 1, 19, 22, 0, tzinfo=UTC)  # PST = UTC-8
    assert first.location is not None and (first.location.lat, first.location.lon) == (
        37.7617007179518,
        -122.42158168137,
    )
    assert first.admin is not None and first.admin.district == "Mission"  # as the 2018+ layout spells it
    assert first.data.category == CallCategory.INFO and first.data.description == "LOST PROPERTY"  # type: ignore[attr-defined]
    assert second.time == datetime(2015, 2, 1, 23, 45, tzinfo=UTC) and second.admin.district == "Tenderloin"  # type: ignore[union-attr]
    assert second.data.category == CallCategory.VIOLENCE  # type: ignore[attr-defined]


def test_the_2018_layout_still_imports(tmp_path: Path) -> None:
    res = import_sf_police(write(tmp_path, CURRENT_CSV))
    assert [e.id for e in res.events] == ["sfpd-743396"]
    assert res.events[0].time == datetime(2018, 12, 1, 8, 25, tzinfo=UTC)


@pytest.mark.parametrize(
    ("importer", "kind"),
    [(import_sf_police, "SFPD incident reports"), (import_sf_fire, "SFFD calls"), (import_nyc_collisions, "NYC")],
)
def test_an_unknown_layout_names_the_missing_columns(tmp_path: Path, importer: object, kind: str) -> None:
    path = write(tmp_path, "Case,When,Where\n1,2018-01-01,somewhere\n")
    with pytest.raises(ImportFormatError, match=kind) as err:
        importer(path)  # type: ignore[operator]
    assert "Case, When, Where" in str(err.value) and "misses" in str(err.value)


def test_a_near_miss_says_exactly_what_is_missing(tmp_path: Path) -> None:
    header = "IncidntNum,Category,Descript,DayOfWeek,Date,Time,PdDistrict,Resolution,Address,Location,PdId\n"
    with pytest.raises(ImportFormatError) as err:
        import_sf_police(write(tmp_path, header))
    text = str(err.value)
    assert "pre-2018 misses X, Y" in text  # the closest layout first
    assert "2018+ misses Incident ID, Incident Datetime, Incident Category, Latitude, Longitude" in text
    assert text.index("pre-2018") < text.index("2018+ misses")
    with pytest.raises(ImportFormatError, match="empty file"):
        import_sf_police(write(tmp_path, "", "empty.csv"))


def test_the_cli_imports_the_old_layout_and_explains_a_wrong_file(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    ok = CliRunner().invoke(
        main, ["import", "sf-police", "--input", str(write(tmp_path, PRE_2018_CSV)), "--out", str(out)]
    )
    assert ok.exit_code == 0, ok.output
    assert [decode_event(line).id for line in out.read_bytes().splitlines()] == ["sfpd-n150060275", "sfpd-n150098210"]
    bad = CliRunner().invoke(
        main, ["import", "sf-police", "--input", str(write(tmp_path, "a,b\n", "x.csv")), "--out", str(out)]
    )
    assert bad.exit_code == 1 and "KeyError" not in bad.output and "misses" in bad.output
