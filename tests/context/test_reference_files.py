"""Reference tables from GeoJSON, CSV and YAML files, updates without restart, hotlist as-of joins."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rules.context import ContextCorrelator, ContextError
from rules.context.files import load_reference_file, load_reference_files
from rules.loader import load_rules
from rules.records import record_from_model
from schemas import CameraEvent
from tests.context.support import feed
from tests.support import CATALOG, T0, event

ALATAU = Path(__file__).resolve().parents[2] / "streams" / "sim" / "cities" / "alatau"
AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_simulator_zones_file_loads() -> None:
    events = load_reference_file(ALATAU / "zones.geojson", AS_OF)
    assert events and all(getattr(e, "type", None) == "ref.zone" for e in events)
    again = load_reference_file(ALATAU / "zones.geojson", AS_OF)
    assert [e.id for e in events] == [e.id for e in again]  # content-addressed: a reload is a duplicate


def test_csv_yaml_and_geojson(tmp_path: Path) -> None:
    (tmp_path / "hot.csv").write_text(
        "plate,reason,priority,valid_from,valid_to\n777ABA02,stolen,2,2026-01-01T00:00:00Z,\n"
        "123XYZ01,wanted,3,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z\n"
    )
    (tmp_path / "cams.csv").write_text("camera_id,lat,lon,owner,kind\ncam-1,43.2,76.9,police,anpr\n")
    (tmp_path / "areas.yaml").write_text(
        "table: admin_areas\nrecords:\n  - {area_id: kz, name: Kazakhstan, level: republic, geometry: "
        "{type: Polygon, coordinates: [[[46, 40], [88, 40], [88, 56], [46, 56], [46, 40]]]}}\n"
    )
    feature = {"type": "Feature", "properties": {"camera_id": "cam-2", "owner": "private"},
               "geometry": {"type": "Point", "coordinates": [76.95, 43.25]}}  # fmt: skip
    (tmp_path / "cams.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    events = load_reference_files(sorted(tmp_path.iterdir()), AS_OF)
    assert sorted(getattr(e, "type", "") for e in events) == [
        "ref.admin_area",
        "ref.camera",
        "ref.camera",
        "ref.hotlist",
        "ref.hotlist",
    ]
    cams = {e.data.camera_id: e.data for e in events if isinstance(e, CameraEvent)}
    assert cams["cam-2"].location.lat == 43.25 and cams["cam-1"].kind == "anpr"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.csv", "plate,reason\n777ABA02,joyride\n", "line 2"),
        (
            "bad.geojson",
            '{"type": "FeatureCollection", "features": [{"properties": {}, "geometry": null}]}',
            "feature 0",
        ),
        ("bad.yaml", "table: nope\nrecords: []\n", "expected"),
        ("bad.txt", "x", "unknown reference file type"),
        ("cams.csv", "camera_id,lat\ncam-1,43.2\n", "line 2"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ContextError, match=message):
        load_reference_file(tmp_path / name, AS_OF)


def test_hotlist_from_a_file_is_as_of_correct(tmp_path: Path) -> None:
    """A read is judged against the hotlist valid at its time, whatever the order the updates came in."""
    rules = tmp_path / "rules"
    (rules / "anpr").mkdir(parents=True)
    shutil.copy(CATALOG / "ruleset.yaml", rules)
    shutil.copytree(CATALOG / "playbooks", rules / "playbooks")
    shutil.copy(CATALOG / "anpr" / "wanted_vehicle.yaml", rules / "anpr")
    core = ContextCorrelator(load_rules([rules]))
    (tmp_path / "v1.csv").write_text("plate,reason,valid_from\n777ABA02,stolen,2026-01-05T12:00:00Z\n")
    (tmp_path / "v2.csv").write_text(
        "plate,reason,valid_from,valid_to\n777ABA02,stolen,2026-01-05T12:00:00Z,2026-01-05T12:30:00Z\n"
    )
    v1 = [record_from_model(e) for e in load_reference_file(tmp_path / "v1.csv", T0)]
    v2 = [record_from_model(e) for e in load_reference_file(tmp_path / "v2.csv", T0 + timedelta(minutes=40))]

    def read(at: float, cam: str) -> object:
        return event("anpr.read", at, {"camera_id": cam, "plate": "777ABA02", "confidence": 0.9}, loc=(43.25, 76.93))

    # v2 (known from minute 40) cuts the entry back to end at minute 30; the read at minute 20 arrives after
    # v2 and still matches (the version in force at its time), the reads at minutes 50 and 67 do not.
    out = feed(core, [*v1, read(600, "c1"), *v2, read(3000, "c2"), read(1200, "c4"), read(4000, "c3")], ooo=3600)
    assert sorted({i.labels["camera"] for i in out}) == ["c1", "c4"]
