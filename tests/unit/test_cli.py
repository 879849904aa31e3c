"""The analyst's commands end to end through click: lint, test, schema, explain, replay."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from saqshy.cli import main
from tests.golden.harness import ROOT as SCENARIOS
from tests.support import CATALOG


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_lint_ok_and_errors(tmp_path: Path) -> None:
    code, out = _run("rules", "lint", str(CATALOG))
    assert code == 0 and "rule(s)" in out
    copy = tmp_path / "catalog"
    shutil.copytree(CATALOG, copy)
    bad = copy / "fire" / "camera_and_call.yaml"
    bad.write_text(bad.read_text().replace("data.confidence >= 0.7", "data.confidence >= "))
    code, out = _run("rules", "lint", str(copy))
    assert code == 1 and "camera_and_call.yaml:13:68:" in out and "end of expression" in out and "1 error(s)" in out


def test_rule_tests_pass_and_fail(tmp_path: Path) -> None:
    code, out = _run("rules", "test", str(CATALOG))
    assert code == 0 and " 0 failed" in out
    copy = tmp_path / "catalog"
    shutil.copytree(CATALOG, copy)
    broken = copy / "calls" / "gas_leak_cluster.yaml"
    broken.write_text(broken.read_text().replace("{priority: 3, events: 2}", "{priority: 1, events: 2}"))
    code, out = _run("rules", "test", str(copy))
    assert code == 1 and "FAIL" in out and "two gas calls" in out


def test_schema_is_json_schema() -> None:
    code, out = _run("rules", "schema")
    doc = json.loads(out)
    assert code == 0 and doc["$schema"].endswith("2020-12/schema") and "correlate" in doc["properties"]


def test_replay_writes_incidents_and_dead_letters(tmp_path: Path) -> None:
    out_file, dlq = tmp_path / "inc.jsonl", tmp_path / "dlq.jsonl"
    events = SCENARIOS / "anpr_route_disorder" / "events.jsonl"
    code, out = _run(
        "replay", "--rules", str(CATALOG), "--input", str(events), "--out", str(out_file), "--dlq", str(dlq), "--json"
    )
    summary = json.loads(out)
    assert code == 0 and summary["rejected"] == {"decode": 1, "validate": 1, "late": 1}
    assert summary["by_rule"]["anpr.wanted_vehicle"] == {"2": 1}
    lines = [json.loads(x) for x in out_file.read_text().splitlines()]
    assert {x["rule_id"] for x in lines} >= {"anpr.wanted_vehicle", "anpr.wanted_route"}
    letters = [json.loads(x) for x in dlq.read_text().splitlines()]
    assert {x["stage"] for x in letters} == {"decode", "validate", "late"} and all(x["reason"] for x in letters)


def test_explain_says_why(tmp_path: Path) -> None:
    events = SCENARIOS / "fire_camera_and_calls" / "events.jsonl"
    code, out = _run("rules", "explain", "fire.camera_and_call", "--rules", str(CATALOG), "--input", str(events))
    assert code == 0 and "fired: 1 incident(s)" in out and "v-1" in out
    code, out = _run("rules", "explain", "calls.gas_leak_cluster", "--rules", str(CATALOG), "--input", str(events))
    assert code == 0 and "condition was never true" in out
    code, out = _run("rules", "explain", "sos.no_unit_on_scene", "--rules", str(CATALOG), "--input", str(events))
    assert "no 'sos.press' event in the input" in out


def test_explain_shows_timers_as_their_own_steps() -> None:
    events = SCENARIOS / "sos_without_response" / "events.jsonl"
    code, out = _run("rules", "explain", "sos.no_unit_on_scene", "--rules", str(CATALOG), "--input", str(events))
    assert code == 0 and "(watermark)" in out and "fired: 2 incident(s)" in out


def test_topics_plan_prints_the_workers_plan_and_the_detectors_settings(tmp_path: Path) -> None:
    """What a producer outside saqshy (the detector) needs to key events as `saqshy produce` does."""
    from detectors.publish import DetectorKafkaSettings
    from rules.loader import load_rules
    from streams.partitioning import plan_for
    from tests.support import SPATIAL, catalog_subset

    root = catalog_subset(tmp_path, SPATIAL)
    result = CliRunner().invoke(main, ["topics", "plan", "--rules", str(root), "--partitioning", "spatial"])
    assert result.exit_code == 0, result.output
    plan = plan_for(load_rules([root]), "spatial")
    assert json.loads(result.stdout) == {"mode": "spatial", "cell_m": plan.cell_m, "radius_m": plan.radius_m}
    env = dict(line.split("=", 1) for line in result.stderr.splitlines())
    config = DetectorKafkaSettings(**{k.removeprefix("SAQSHY_DETECTOR_KAFKA_").lower(): v for k, v in env.items()})
    assert config.plan == plan
    code, out = _run("topics", "plan", "--rules", str(CATALOG), "--partitioning", "spatial")
    assert code == 1 and "cannot run on spatial partitions" in out
