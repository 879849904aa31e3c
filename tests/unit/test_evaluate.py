"""Scoring incidents against truth on a hand-made pair with known answers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from schemas import GeoPoint, Incident, IncidentStatus
from streams.evaluate import evaluate, fold_incidents, p95
from streams.sim.truth import TruthItem, write_truth

T0 = datetime.fromisoformat("2026-11-22T10:00:00+05:00")
A, B, C = GeoPoint(lat=43.24, lon=76.94), GeoPoint(lat=43.26, lon=76.90), GeoPoint(lat=43.22, lon=76.97)
NEAR_A = GeoPoint(lat=43.2409, lon=76.94)  # ~100 m north of A
FAR_B = GeoPoint(lat=43.278, lon=76.90)  # ~2 km from B


def _truth(tid: str, rule: str, minutes: float, where: GeoPoint, start_before: float = 2) -> TruthItem:
    t = T0 + timedelta(minutes=minutes)
    return TruthItem(
        truth_id=tid,
        scenario="x",
        rule_id=rule,
        time=t,
        start=t - timedelta(minutes=start_before),
        location=where,
        event_ids=["e"],
    )


def _inc(iid: str, rule: str, version: int, minutes: float, where: GeoPoint | None) -> Incident:
    t = T0 + timedelta(minutes=minutes)
    return Incident(
        id=iid,
        version=version,
        rule_id=rule,
        rule_version=1,
        category="c",
        status=IncidentStatus.OPEN,
        priority=3,
        priority_base=3,
        title="t",
        key="k",
        location=where,
        first_time=t,
        last_time=t,
        updated_time=t,
        event_ids=["e"],
        event_count=1,
    )


TRUTH = [
    _truth("t1", "fire.camera_and_call", 0, A),
    _truth("t2", "fire.camera_and_call", 120, B),
    _truth("t3", "calls.gas_leak_cluster", 0, C),
    _truth("t4", "calls.gas_leak_cluster", 10, C),
]
INCIDENTS = [
    _inc("i1", "fire.camera_and_call", 1, 0.5, A),
    _inc("i1", "fire.camera_and_call", 2, 5, NEAR_A),  # a later version does not move the detection time
    _inc("i2", "fire.camera_and_call", 1, 121.5, FAR_B),  # too far from t2: FP, and t2 is missed
    _inc("i3", "fire.camera_and_call", 1, 40, A),  # after t1.time + 30 min: FP
    _inc("i4", "calls.gas_leak_cluster", 1, 2, C),
    _inc("i5", "calls.gas_leak_cluster", 1, 12, None),  # no location: matches on time alone
    _inc("i6", "calls.repeat_address", 1, 3, A),  # nothing planted for this rule
]


def test_fold_takes_the_first_version_time_and_location() -> None:
    folded = {s.id: s for s in fold_incidents(reversed(INCIDENTS))}
    assert folded["i1"].detected == T0 + timedelta(seconds=30) and folded["i1"].location == A
    assert folded["i1"].versions == 2


def test_exact_scores() -> None:
    ev = evaluate(TRUTH, fold_incidents(INCIDENTS))
    by = {r.rule_id: r.as_dict() for r in ev.rules}
    assert by["fire.camera_and_call"] == {
        "rule_id": "fire.camera_and_call",
        "tp": 1,
        "fp": 2,
        "fn": 1,
        "precision": 1 / 3,
        "recall": 0.5,
        "ttd_mean_s": 30.0,
        "ttd_p95_s": 30.0,
    }
    assert by["calls.gas_leak_cluster"] == {
        "rule_id": "calls.gas_leak_cluster",
        "tp": 2,
        "fp": 0,
        "fn": 0,
        "precision": 1.0,
        "recall": 1.0,
        "ttd_mean_s": 120.0,
        "ttd_p95_s": 120.0,
    }
    assert ev.unplanted == {"calls.repeat_address": 1}
    assert ev.missed == ["t2"]
    tot = ev.totals.as_dict()
    assert (tot["tp"], tot["fp"], tot["fn"], tot["ttd_mean_s"], tot["ttd_p95_s"]) == (3, 2, 1, 90.0, 120.0)


def test_window_edges_and_p95() -> None:
    t = _truth("t", "r", 0, A, start_before=3)
    early_ok = fold_incidents([_inc("a", "r", 1, -8, A)])  # start - 5 min = -8 min: inside
    too_early = fold_incidents([_inc("b", "r", 1, -8.1, A)])
    assert evaluate([t], early_ok).rules[0].tp == 1
    assert evaluate([t], too_early).rules[0].as_dict()["fp"] == 1
    assert evaluate([t], early_ok).rules[0].ttd == [-480.0]
    assert p95([float(x) for x in range(1, 21)]) == 19.0 and p95([]) is None


def test_cli_json(tmp_path: Path) -> None:
    from saqshy.commands.evaluate_cmd import evaluate as cmd

    truth, incs = tmp_path / "t.jsonl", tmp_path / "i.jsonl"
    write_truth(truth, TRUTH)
    incs.write_text("".join(i.model_dump_json() + "\n" for i in INCIDENTS))
    res = CliRunner().invoke(cmd, ["--truth", str(truth), "--incidents", str(incs), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["totals"]["tp"] == 3 and out["unplanted"] == {"calls.repeat_address": 1}
    table = CliRunner().invoke(cmd, ["--truth", str(truth), "--incidents", str(incs)])
    assert table.exit_code == 0 and "not planted" in table.output and "TOTAL" in table.output
