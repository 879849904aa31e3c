"""The rule language across events (issue 20): conditions over the bound events, select-order independence,
internal helper rules (emit: false), state limits derived from the windows, explicit `playbook: none`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rules.core.engine import Correlator
from rules.errors import RuleSetError
from rules.records import decode_record
from schemas import Incident
from tests.support import drive, event, latest, ruleset_from

OVERLAP = """\
id: t.overlap
title: two fire selections and a call
category: fire
select:
{select}
correlate: {{kind: cooccur, window: 60s}}
incident:
  title: "fire {{fire.id}} hot {{hot.id}} call {{call.id}}"
  priority: 3
  playbook: none
"""
SELECTIONS = {
    "fire": '  fire: {type: video.detection, where: data.analytic == "fire"}',
    "hot": '  hot: {type: video.detection, where: data.analytic == "fire" && data.confidence >= 0.9}',
    "call": "  call: {type: call.112}",
}


def _detection(at: float, eid: str, confidence: float) -> object:
    data = {"camera_id": "cam-1", "analytic": "fire", "label": "fire", "confidence": confidence}
    return event("video.detection", at, data, (43.25, 76.9), eid)


@pytest.mark.parametrize("order", [("fire", "hot", "call"), ("hot", "fire", "call"), ("call", "hot", "fire")])
def test_select_order_never_changes_which_event_binds_which_selection(tmp_path: Path, order: tuple[str, ...]) -> None:
    # h2 (hot), f (fire only), h (hot), then a call: `fire` could take h or f, `hot` h or h2. Partners bind in
    # the order of their names (fire, then hot), whatever the order of the keys: fire = h, hot = h2.
    text = OVERLAP.format(select="\n".join(SELECTIONS[n] for n in order))
    core = Correlator(ruleset_from(tmp_path, text))
    evs = [_detection(0, "h2", 0.95), _detection(10, "f", 0.8), _detection(20, "h", 0.95)]
    evs.append(event("call.112", 30, {"call_id": "c-1", "category": "fire"}, (43.25, 76.9), "c"))
    final = latest(drive(core, evs))
    titles = sorted(i.title for i in final.values())
    assert "fire h hot h2 call c" in titles, titles
    assert all("call c" not in t or t == "fire h hot h2 call c" for t in titles), titles


CLONE = """\
id: t.clone
title: impossible travel
category: wanted_vehicle
select:
  a: {{type: anpr.read}}
  b: {{type: anpr.read}}
correlate:
  kind: sequence
  group_by: [data.plate]
  steps: [{{select: a}}, {{select: b, max_gap: 10m}}]
  where: {where}
incident:
  title: >-
    {{a.data.camera_id}}>{{b.data.camera_id}} {{int(distance_m(a.location, b.location))}} m
    in {{seconds(b.time - a.time)}} s
  priority: 3
  playbook: none
"""


def _read(at: float, camera: str, lat: float | None) -> object:
    data = {"camera_id": camera, "plate": "123ABC02", "confidence": 0.9}
    return event("anpr.read", at, data, None if lat is None else (lat, 76.9))


def test_where_across_events_with_distances_and_durations_as_numbers(tmp_path: Path) -> None:
    where = "'distance_m(a.location, b.location) * 3.6 > 150 * seconds(b.time - a.time)'"
    core = Correlator(ruleset_from(tmp_path, CLONE.format(where=where)))
    # 0.09 degrees of latitude is about 10 km: in 120 s that is 300 km/h. z is 2.2 km from y in 300 s and
    # 12.2 km from x in 420 s (105 km/h): possible, no second match
    out = latest(drive(core, [_read(0, "x", 43.25), _read(120, "y", 43.34), _read(420, "z", 43.36)]))
    assert [(i.title, i.event_count) for i in out.values()] == [("x>y 9998 m in 120 s", 2)]


def test_where_with_a_missing_location_is_false_not_an_error(tmp_path: Path) -> None:
    where = "'distance_m(a.location, b.location) > 1000'"
    core = Correlator(ruleset_from(tmp_path, CLONE.format(where=where)))
    assert drive(core, [_read(0, "x", None), _read(60, "y", 43.34)]) == []


@pytest.mark.parametrize(
    ("where", "message", "col"),
    [
        ("'c.data.plate == b.data.plate'", "unknown name 'c' (known: a, b)", 11),
        ("'b.time - a.time > 60'", "cannot compare duration with int", 27),
        ("'seconds(a.data.plate) > 1'", "seconds() argument 1 must be duration, got string", 26),
    ],
)
def test_where_across_events_is_typed_at_lint(tmp_path: Path, where: str, message: str, col: int) -> None:
    with pytest.raises(RuleSetError) as err:
        ruleset_from(tmp_path, CLONE.format(where=where))
    text = str(err.value)
    assert message in text and f"rule0.yaml:11:{col}:" in text, text


# --- emit: false -----------------------------------------------------------------------------------------

HELPER = """\
id: t.fast_read
title: a read with a speed (helper)
category: wanted_vehicle
emit: false
select:
  read: {type: anpr.read, where: data.speed_kmh > 100}
correlate: {kind: match}
incident:
  title: "fast {read.data.plate}"
  key: "{read.data.plate}"
  priority: 4
  labels: {plate: "{read.data.plate}"}
  playbook: none
"""
ON_HELPER = """\
id: t.fast_twice
title: twice fast
category: wanted_vehicle
select:
  fast: {type: incident, where: data.rule_id == "t.fast_read"}
correlate:
  kind: threshold
  count: 2
  window: 1h
  group_by: ['data.labels["plate"]']
incident:
  title: 'fast twice {fast.data.labels["plate"]}'
  priority: 3
  playbook: none
"""


def _lines(events: list[dict[str, object]]) -> list[bytes]:
    import orjson

    return [orjson.dumps(e) for e in events]


def _fast_reads() -> list[bytes]:
    return _lines(
        [
            {
                "id": f"r{i}",
                "type": "anpr.read",
                "source": "test",
                "time": f"2026-01-05T12:0{i}:00Z",
                "location": {"lat": 43.25, "lon": 76.9},
                "data": {"camera_id": "cam-1", "plate": "777ABA02", "confidence": 0.9, "speed_kmh": 130},
            }
            for i in range(3)
        ]
    )


def test_an_internal_rule_feeds_its_chains_and_is_never_emitted(tmp_path: Path) -> None:
    from streams.dlq import MemoryDeadLetters
    from streams.embedded import EmbeddedRunner

    rs = ruleset_from(tmp_path, HELPER, ON_HELPER)
    sent: list[Incident] = []
    EmbeddedRunner(rs, MemoryDeadLetters()).run(_fast_reads(), sent.append)
    assert {u.rule_id for u in sent} == {"t.fast_twice"}, [u.rule_id for u in sent]
    assert latest(sent)[sent[0].id].title == "fast twice 777ABA02"
    # rules test and explain see the helper (internal=True): it did make incidents
    inside = drive(Correlator(rs, internal=True), [decode_record(b) for b in _fast_reads()])
    assert {u.rule_id for u in inside} == {"t.fast_read", "t.fast_twice"}


def test_the_runtimes_send_what_the_core_returns() -> None:
    """emit: false is applied in the core (Correlator), so every runtime sends the same: the embedded runner,
    the Kafka and Faust workers and the Flink job all run PartitionRuntime or EmbeddedRunner over a Correlator
    and send its result, never a core's inner state."""
    import inspect

    import jobs.flink.keyed as flink_keyed
    import streams.embedded as embedded
    import streams.live as live

    assert "PartitionRuntime(" in inspect.getsource(flink_keyed)
    assert "Correlator(" in inspect.getsource(live) and "Correlator(" in inspect.getsource(embedded)
    for module in (live, embedded):
        assert "internal=True" not in inspect.getsource(module)


# --- playbooks: an explicit choice ---------------------------------------------------------------------------

NO_PLAYBOOK = """\
id: t.trend
title: a trend
category: trend
select:
  call: {type: call.112}
correlate: {kind: match}
incident:
  title: trend
  priority: 5
"""


def test_a_rule_without_a_playbook_must_say_so(tmp_path: Path) -> None:
    (tmp_path / "rules" / "playbooks").mkdir(parents=True)
    (tmp_path / "rules" / "playbooks" / "fire.yaml").write_text(
        "playbook: fire\ncategories: [fire]\nsteps:\n  - {action: Send fire engines, unit_type: fire, units: 2}\n"
    )
    with pytest.raises(RuleSetError) as err:
        ruleset_from(tmp_path, NO_PLAYBOOK)
    assert "rule0.yaml:7:1: [t.trend] no playbook covers category 'trend'" in str(err.value), str(err.value)
    assert "playbook: none" in str(err.value)


def test_playbook_none_is_an_analysis_rule_without_steps(tmp_path: Path) -> None:
    rs = ruleset_from(tmp_path, NO_PLAYBOOK + "  playbook: none\n")
    out = drive(Correlator(rs), [event("call.112", 0, {"call_id": "c-1", "category": "info"}, (43.25, 76.9))])
    assert out and out[0].playbook == []


# --- rules over incidents by priority or category --------------------------------------------------------

URGENT = """\
id: t.urgent_calls
title: urgent call
category: {category}
select:
  call: {{type: call.112, where: data.category == "{category}"}}
correlate: {{kind: match}}
incident:
  title: "call {{call.data.call_id}}"
  key: "{{call.data.call_id}}"
  priority: {priority}
  playbook: none
"""
WATCH = """\
id: t.watch
title: watch urgent incidents
category: dispatch
select:
  inc: {{type: incident, where: '{where}'}}
correlate: {{kind: match}}
incident:
  title: "watched {{inc.data.rule_id}}"
  key: "{{inc.data.id}}"
  priority: 1
  playbook: none
"""


def _watched(tmp_path: Path, where: str, *rules: str) -> list[str]:
    rs = ruleset_from(tmp_path, WATCH.format(where=where), *rules)
    calls = [
        event("call.112", i * 60, {"call_id": f"c{i}", "category": c}, (43.25, 76.9))
        for i, c in enumerate(["fire", "crime", "gas"])
    ]
    out = latest(drive(Correlator(rs), calls))
    return sorted(i.title for i in out.values() if i.rule_id == "t.watch")


def test_a_rule_over_incidents_selects_by_priority_not_by_a_list_of_rules(tmp_path: Path) -> None:
    fire = URGENT.format(category="fire", priority=1).replace("t.urgent_calls", "t.fire")
    crime = URGENT.format(category="crime", priority=4).replace("t.urgent_calls", "t.crime")
    gas = URGENT.format(category="gas", priority=2).replace("t.urgent_calls", "t.gas") + "emit: false\n"
    watched = _watched(tmp_path, "data.priority <= 2", fire, crime, gas)
    # t.crime is priority 4; t.gas is internal (its incidents are never sent, so nobody must acknowledge them);
    # t.watch's own priority-1 incidents are not its input
    assert watched == ["watched t.fire"]


def test_a_rule_over_incidents_can_pin_categories(tmp_path: Path) -> None:
    fire = URGENT.format(category="fire", priority=1).replace("t.urgent_calls", "t.fire")
    gas = URGENT.format(category="gas", priority=1).replace("t.urgent_calls", "t.gas")
    rs = ruleset_from(tmp_path, WATCH.format(where='data.category == "gas"'), fire, gas)
    assert rs.rule("t.watch").depends_on == frozenset({"t.gas"})


# --- state limits that cannot silently cut a rule ------------------------------------------------------------


def _cluster_rule(tmp_path: Path, limits: str = "") -> Path:
    from tests.support import catalog_subset

    tmp_path.mkdir(parents=True, exist_ok=True)
    root = catalog_subset(tmp_path, ["traffic/road_accident_cluster.yaml"])
    if limits:
        f = root / "traffic" / "road_accident_cluster.yaml"
        text = f.read_text()
        f.write_text(text.replace("incident:\n", f"limits:\n{limits}incident:\n", 1))
    return root


def _accidents(days: int = 4) -> tuple[list[bytes], dict[str, float]]:
    """Ten planted clusters (3 crashes on one road, 6 to 22 hours from first to last) among background crashes
    that never make three on one road within a day. Returns the lines and each planted road's span."""
    import random

    import orjson

    rnd = random.Random(20)
    t0 = 1_767_614_400.0  # 2026-01-05T12:00:00Z
    events: list[tuple[float, str]] = []
    spans: dict[str, float] = {}
    for k in range(10):
        start = t0 + k * 8 * 3600 + rnd.uniform(0, 3600)
        span = rnd.uniform(6.5, 22) * 3600
        road = f"Cluster Street {k}"
        spans[road.lower()] = span
        events += [(start, road), (start + rnd.uniform(0.1, 0.9) * span, road), (start + span, road)]
    for k in range(20):  # background: a crash every 26 h or more on each road
        t = t0 + rnd.uniform(0, 26 * 3600)
        while t < t0 + days * 86400:
            events.append((t, f"Quiet Road {k}"))
            t += rnd.uniform(26, 40) * 3600
    lines = []
    for i, (t, road) in enumerate(sorted(events)):
        body = {
            "id": f"dtp-{i}",
            "type": "accident.record",
            "source": "test",
            "time": datetime.fromtimestamp(t, tz=UTC).isoformat(),
            "location": {"lat": 43.2 + rnd.random() * 0.1, "lon": 76.85 + rnd.random() * 0.1},
            "data": {"record_id": f"r-{i}", "severity": "property_damage", "road": road},
        }
        lines.append(orjson.dumps(body))
    return lines, spans


def _clusters(root: Path, lines: list[bytes]) -> tuple[dict[str, Incident], Any]:
    from rules.loader import load_rules
    from streams.dlq import MemoryDeadLetters
    from streams.embedded import EmbeddedRunner

    sent: list[Incident] = []
    runner = EmbeddedRunner(load_rules([root]), MemoryDeadLetters())
    runner.run(lines, sent.append)
    return latest(u for u in sent if u.rule_id == "traffic.road_accident_cluster"), runner.core


def test_every_road_accident_cluster_is_found_over_more_than_six_hours(tmp_path: Path) -> None:
    lines, spans = _accidents()
    found, core = _clusters(_cluster_rule(tmp_path), lines)
    by_road = {i.labels["road"].lower(): i for i in found.values()}
    assert sorted(by_road) == sorted(spans), sorted(by_road)
    for road, inc in by_road.items():
        assert inc.event_count == 3
        assert abs((inc.last_time - inc.first_time).total_seconds() - spans[road]) < 1.0
    assert min(spans.values()) > 6 * 3600 and core.evictions() == {}


def test_a_state_ttl_shorter_than_the_window_is_a_lint_error(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError) as err:
        from rules.loader import load_rules

        load_rules([_cluster_rule(tmp_path, "  state_ttl: 6h\n  max_partials: 2\n")])
    text = str(err.value)
    assert "road_accident_cluster.yaml:24:14: [traffic.road_accident_cluster] limits.state_ttl 6h is shorter " in text
    assert "than correlate.window (1d)" in text, text
    assert "road_accident_cluster.yaml:25:17: [traffic.road_accident_cluster] limits.max_partials 2 is less" in text


def test_every_eviction_is_counted_per_rule_and_shown_by_explain(tmp_path: Path) -> None:
    from rules.explain import explain
    from rules.loader import load_rules

    lines, spans = _accidents()
    # a state_ttl of exactly the window: in-order input loses nothing, but what only late events could still
    # have used is dropped sooner, and counted
    found, core = _clusters(_cluster_rule(tmp_path / "ttl", "  state_ttl: 1d\n"), lines)
    assert len(found) == len(spans)
    assert core.evictions()["traffic.road_accident_cluster"]["state_ttl"] > 0
    # too few groups: clusters are lost, and the report says so
    root = _cluster_rule(tmp_path / "keys", "  max_keys: 3\n")
    found, core = _clusters(root, lines)
    evicted = core.evictions()["traffic.road_accident_cluster"]["max_keys"]
    assert evicted > 0 and len(found) < len(spans)
    report = explain(load_rules([root]), "traffic.road_accident_cluster", [decode_record(b) for b in lines])
    assert report.evictions == {"max_keys": evicted}
    assert report.limits["max_keys"] == "3" and "derived" in report.limits["state_ttl"]
    assert any(f"{evicted} by limits.max_keys" in r for r in report.reasons), report.reasons
