"""The Flink job's pure parts without a cluster: routing, a key's merge of its inputs, and recovery from a
snapshot plus the input log."""

from __future__ import annotations

from pathlib import Path

import orjson

from jobs.flink.keyed import Action, KeyCore, RuleTemplate
from jobs.flink.routing import NO_TIME, route
from rules.loader import load_rules
from schemas import Incident, RejectStage
from streams.embedded import EmbeddedRunner
from streams.partitioning import plan_for
from tests.golden.harness import CATALOG, scenarios
from tests.support import catalog_subset


def _actions(lines: list[bytes], source: str = "file:events.jsonl") -> list[Action]:
    plan = plan_for(load_rules([CATALOG]), "single")
    out = []
    for n, raw in enumerate(lines, 1):
        r = route(raw, plan, source, n)
        if r.rejected is None:
            out.append(Action("e", r.ts_ms, source, n, False, raw))
    return [*out, Action("f")]


def _ids(updates: list[Incident]) -> list[tuple[str, int, str]]:
    return [(u.id, u.version, u.status.value) for u in updates]


def test_an_ordered_key_gives_the_embedded_runners_incidents() -> None:
    rules = RuleTemplate(load_rules([CATALOG]))
    for scenario in scenarios():
        expected: list[Incident] = []
        EmbeddedRunner(load_rules([CATALOG])).run(scenario.lines, expected.append)
        core = KeyCore(rules.fresh())
        got = [u for a in _actions(scenario.lines) for u in core.apply(a).incidents]
        assert _ids(got) == _ids(expected), scenario.name


def test_snapshot_plus_log_rebuilds_the_state_at_every_point() -> None:
    """What the operator does after a restore: restore the last snapshot, apply the log with outputs
    dropped; the outputs that follow are those of the run that never stopped."""
    rules = RuleTemplate(load_rules([CATALOG]))
    for scenario in scenarios():
        actions = _actions(scenario.lines)
        whole = KeyCore(rules.fresh())
        outputs = [_ids(whole.apply(a).incidents) for a in actions]
        for snap_at in range(len(actions)):
            for stop_at in range(snap_at, len(actions)):
                live = KeyCore(rules.fresh())
                for a in actions[:snap_at]:
                    live.apply(a)
                rebuilt = KeyCore(rules.fresh())
                rebuilt.restore(live.snapshot())
                for a in actions[snap_at:stop_at]:  # the log since the snapshot
                    rebuilt.apply(a)
                after = [_ids(rebuilt.apply(a).incidents) for a in actions[stop_at:]]
                assert after == outputs[stop_at:], (scenario.name, snap_at, stop_at)


def test_inputs_merge_in_event_time_as_the_watermark_passes() -> None:
    """Two topic partitions of one key, read in any interleaving, are processed in event-time order (FIFO
    within each) once Flink's watermark passes them: the same incidents as one ordered file."""
    fire = next(s for s in scenarios() if s.name == "fire_camera_and_calls")
    expected: list[Incident] = []
    EmbeddedRunner(load_rules([CATALOG])).run(fire.lines, expected.append)
    docs = [orjson.loads(line) for line in fire.lines]
    video = [a for a, d in zip(_actions(fire.lines, "video:0"), docs, strict=False) if d["type"].startswith("video")]
    calls = [a for a, d in zip(_actions(fire.lines, "calls:0"), docs, strict=False) if d["type"].startswith("call")]
    assert video and calls
    core = KeyCore(load_rules([CATALOG]), ordered=False)
    got: list[Incident] = []
    for a in calls + video:  # every call arrives before any camera event
        got.extend(core.apply(a).incidents)
    assert got == []  # nothing is released before the watermark
    got.extend(core.apply(Action("w", max(a.ts_ms for a in video + calls))).incidents)
    got.extend(core.apply(Action("f")).incidents)
    assert _ids(got) == _ids(expected)


def test_routing_keys_replicas_and_rejects(tmp_path: Path) -> None:
    plan = plan_for(load_rules([catalog_subset(tmp_path, ["fire"])]), "spatial")
    fire = next(s for s in scenarios() if s.name == "fire_camera_and_calls")
    r = route(fire.lines[0], plan, "file:x", 1)
    doc = orjson.loads(fire.lines[0])
    own = plan.key(doc["location"]["lat"], doc["location"]["lon"], doc["id"]).decode()
    assert r.targets[0].key == own and not r.targets[0].replica
    assert all(t.replica for t in r.targets[1:])
    assert {t.key for t in r.targets[1:]} == {
        k.decode() for k in plan.replica_keys(doc["location"]["lat"], doc["location"]["lon"])
    }
    bad = route(b'{"id": "broken", "type"', plan, "file:x", 7)
    assert bad.rejected is not None and bad.rejected.stage == RejectStage.DECODE
    assert bad.rejected.source.file == "x" and bad.rejected.source.line == 7
    naive = route(b'{"id": "n", "type": "call.112", "time": "2026-03-10T08:00:00"}', plan, "t:0", 3)
    assert naive.rejected is None and naive.ts_ms == NO_TIME  # the core rejects it, at its position
    single = plan_for(load_rules([CATALOG]), "single")
    hot = next(s for s in scenarios() if s.name == "anpr_route_disorder").lines[0]
    assert [t.key for t in route(hot, single, "t:0", 0).targets] == ["all"]
