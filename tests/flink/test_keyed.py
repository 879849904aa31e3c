"""The Flink job's pure parts without a cluster: routing, a key's merge of its inputs, its timers, recovery from
a snapshot plus the input log (corrections and chained inputs included), and what the Kafka sinks write."""

from __future__ import annotations

from pathlib import Path

import orjson

from jobs.flink.kafka import LATEST_TABLE, SINKS, sink_value
from jobs.flink.keyed import Action, KeyCore, RuleTemplate
from jobs.flink.routing import NO_TIME, route
from jobs.flink.units import SharedUnits
from rules.loader import load_rules
from schemas import Incident, IncidentStatus, RejectStage
from streams.embedded import EmbeddedRunner
from streams.partitioning import plan_for
from tests.flink.dense import arrival, dense_stream
from tests.golden.harness import CATALOG, scenarios
from tests.support import catalog_subset


def _actions(lines: list[bytes], source: str = "file:events.jsonl") -> tuple[list[Action], list[bytes]]:
    """A file's inputs of the single key as the router makes them, and its reference records in order."""
    plan = plan_for(load_rules([CATALOG]), "single")
    out, references = [], []
    for n, raw in enumerate(lines, 1):
        r = route(raw, plan, source, n)
        if r.reference:
            references.append(raw)
        elif r.rejected is None:
            out.append(Action("e", r.ts_ms, source, n, False, raw, len(references)))
    return [*out, Action("f")], references


def _drive(core: KeyCore, actions: list[Action], available: int) -> tuple[list[Action], list[Incident]]:
    log: list[Action] = []
    got: list[Incident] = []
    for a in actions:
        for step in [*(Action("r", offset=i) for i in core.due(available, a)), a]:
            log.append(step)
            got.extend(core.apply(step).incidents)
    return log, got


def _ids(updates: list[Incident]) -> list[tuple[str, int, str]]:
    return [(u.id, u.version, u.status.value) for u in updates]


def test_an_ordered_key_gives_the_embedded_runners_incidents() -> None:
    rules = RuleTemplate(load_rules([CATALOG]))
    for scenario in scenarios():
        expected: list[Incident] = []
        EmbeddedRunner(load_rules([CATALOG])).run(scenario.lines, expected.append)
        actions, references = _actions(scenario.lines)
        _, got = _drive(KeyCore(rules.fresh(), references=references), actions, len(references))
        assert _ids(got) == _ids(expected), scenario.name


def test_a_key_holds_its_inputs_until_their_reference_records_arrive() -> None:
    """The broadcast channel may lag behind the keyed one: a file's event waits for the reference records
    before its line, and the key's inputs stay in order."""
    anpr = next(s for s in scenarios() if s.name == "anpr_route_disorder")
    expected: list[Incident] = []
    EmbeddedRunner(load_rules([CATALOG])).run(anpr.lines, expected.append)
    actions, references = _actions(anpr.lines)
    assert references and actions[0].needs == len(references)
    arrived: list[bytes] = []
    core = KeyCore(load_rules([CATALOG]), references=arrived)
    got: list[Incident] = []
    for a in actions[:3]:  # events before the hotlist has come
        assert not core.due(len(arrived), a)
        got.extend(core.apply(a).incidents)
    assert got == [] and len(core.held) == 3
    arrived.extend(references)  # it comes; the poll timer applies it and releases the held events
    for i in core.due(len(arrived)):
        got.extend(core.apply(Action("r", offset=i)).incidents)
    assert not core.held
    _, rest = _drive(core, actions[3:], len(arrived))
    assert _ids(got + rest) == _ids(expected)


def test_snapshot_plus_log_rebuilds_the_state_at_every_point() -> None:
    """What the operator does after a restore: restore the last snapshot, apply the log with outputs
    dropped; the outputs that follow are those of the run that never stopped."""
    rules = RuleTemplate(load_rules([CATALOG]))
    for scenario in scenarios():
        inputs, references = _actions(scenario.lines)
        actions, _ = _drive(KeyCore(rules.fresh(), references=references), inputs, len(references))
        whole = KeyCore(rules.fresh(), references=references)
        outputs = [_ids(whole.apply(a).incidents) for a in actions]
        for snap_at in range(len(actions)):
            for stop_at in range(snap_at, len(actions)):
                live = KeyCore(rules.fresh(), references=references)
                for a in actions[:snap_at]:
                    live.apply(a)
                rebuilt = KeyCore(rules.fresh(), references=references)
                rebuilt.restore(live.snapshot())
                for a in actions[snap_at:stop_at]:  # the log since the snapshot
                    rebuilt.apply(a)
                after = [_ids(rebuilt.apply(a).incidents) for a in actions[stop_at:]]
                assert after == outputs[stop_at:], (scenario.name, snap_at, stop_at)


def test_snapshot_plus_log_rebuilds_a_correcting_key() -> None:
    """A stream shuffled within max_out_of_orderness makes the key's core correct and retract; its snapshot
    carries the rollback state (core snapshot format 2) and the chained rules' inputs that wait for the
    watermark, so a key rebuilt at any point goes on exactly as the one that never stopped."""
    rules = RuleTemplate(load_rules([CATALOG]))
    lines = dense_stream(3, n=150, minutes=10)
    inputs, references = _actions(arrival(lines, 30.0, 3))
    whole = KeyCore(rules.fresh(), references=references)
    actions, _ = _drive(KeyCore(rules.fresh(), references=references), inputs, len(references))
    outputs = [_ids(whole.apply(a).incidents) for a in actions]
    assert any(s == IncidentStatus.RETRACTED.value for out in outputs for _, _, s in out)
    for snap_at in range(10, len(actions), len(actions) // 6):
        live = KeyCore(rules.fresh(), references=references)
        for a in actions[:snap_at]:
            live.apply(a)
        stop_at = min(snap_at + 7, len(actions))
        rebuilt = KeyCore(rules.fresh(), references=references)
        rebuilt.restore(live.snapshot())
        for a in actions[snap_at:stop_at]:
            rebuilt.apply(a)
        after = [_ids(rebuilt.apply(a).incidents) for a in actions[stop_at:]]
        assert after == outputs[stop_at:], (snap_at, stop_at)


def test_a_watermark_at_the_keys_timer_fires_the_cores_deadline() -> None:
    """The core fires a timer once its watermark is strictly past it. The operator's event-time timer must come
    late enough for that: one that fired a millisecond early changed nothing and was registered again at the
    same instant, a loop without end (a spatial job never finished)."""
    sos = next(s for s in scenarios() if s.name == "sos_without_response")
    expected: list[Incident] = []
    EmbeddedRunner(load_rules([CATALOG])).run(sos.lines, expected.append)
    actions, references = _actions(sos.lines)
    core = KeyCore(load_rules([CATALOG]), references=references)
    got: list[Incident] = []
    for a in actions[:-1]:  # the events, no end of input
        got.extend(core.apply(a).incidents)
    timers: list[int] = []
    while (due := core.next_timer()) is not None:
        assert not timers or due > timers[-1], "a timer that changed nothing came again"
        timers.append(due)
        got.extend(core.apply(Action("w", due)).incidents)
    assert len(timers) >= 2
    assert core.apply(Action("f")).incidents == []  # the timers did everything the end of input would
    assert sorted(_ids(got)) == sorted(_ids(expected))
    ooo = core.runtime.ooo
    for deadline in (1773129600.0, 1773129600.0005, 1773129600.123456, 1773129600.9999994):
        wm = core.fires_at(deadline)  # the first watermark that gives the core one past the deadline
        assert (wm + 1) / 1000.0 - ooo > deadline >= wm / 1000.0 - ooo


def test_inputs_merge_in_event_time_as_the_watermark_passes() -> None:
    """Two topic partitions of one key, read in any interleaving, are processed in event-time order (FIFO
    within each) once Flink's watermark passes them: the same incidents as one ordered file."""
    fire = next(s for s in scenarios() if s.name == "fire_camera_and_calls")
    expected: list[Incident] = []
    EmbeddedRunner(load_rules([CATALOG])).run(fire.lines, expected.append)
    docs = [orjson.loads(line) for line in fire.lines]
    video = [a for a, d in zip(_actions(fire.lines, "video:0")[0], docs, strict=False) if d["type"].startswith("video")]
    calls = [a for a, d in zip(_actions(fire.lines, "calls:0")[0], docs, strict=False) if d["type"].startswith("call")]
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
    hot = next(s for s in scenarios() if s.name == "anpr_route_disorder").lines[0]
    for p in (plan, plan_for(load_rules([CATALOG]), "single")):  # broadcast, whatever the plan
        ref = route(hot, p, "t:0", 0)
        assert ref.reference and not ref.targets and ref.rejected is None
    bad_ref = route(b'{"id": "h", "type": "ref.hotlist", "time": "2026-03-10T08:00:00Z", "data": {}}', plan, "t:0", 4)
    assert bad_ref.rejected is not None and bad_ref.rejected.stage == RejectStage.VALIDATE


def test_a_retracted_incident_is_a_tombstone_on_the_latest_topic() -> None:
    fire = next(s for s in scenarios() if s.name == "fire_camera_and_calls")
    updates: list[Incident] = []
    EmbeddedRunner(load_rules([CATALOG])).run(fire.lines, updates.append)
    value = updates[0].model_dump_json(exclude_none=True)
    retracted = updates[0].model_copy(update={"version": 9, "status": IncidentStatus.RETRACTED})
    gone = retracted.model_dump_json(exclude_none=True)
    for table in SINKS:
        assert sink_value(table, value) == value.encode()
        assert sink_value(table, gone) == (None if table == LATEST_TABLE else gone.encode())


def test_keys_on_boards_of_their_own_get_every_unit_fix_of_the_city_by_the_broadcast(tmp_path: Path) -> None:
    """Spatial cells with enrichment, each key with the unit board of an instance of its own (the worst case: as
    many instances as keys), which the broadcast feeds every fix of the city: every update but history (per key:
    issue 17) is the embedded runner's, nearest units included (without the broadcast, a key knows only the fixes
    of its cell and its neighbours)."""
    from rules.context.enricher import EnricherSettings, unit_board
    from saqshy.commands.kafka_cmd import live_context
    from tests.support import city_hour

    root, lines = city_hour(tmp_path)
    context = live_context(True, None, None, None)
    plan = plan_for(load_rules([root]), "spatial")
    template = RuleTemplate(load_rules([root]))
    boards: list[SharedUnits] = []
    cores: dict[str, KeyCore] = {}
    references: list[bytes] = []
    got: list[Incident] = []

    def key_core(key: str) -> KeyCore:
        if key not in cores:
            boards.append(SharedUnits(unit_board(EnricherSettings())))
            cores[key] = KeyCore(template.fresh(), context, True, references, boards[-1])
        return cores[key]

    def step(core: KeyCore, action: Action) -> None:
        for i in core.due(len(references), action):
            got.extend(core.apply(Action("r", offset=i)).incidents)
        got.extend(core.apply(action).incidents)

    for n, raw in enumerate(lines, 1):
        r = route(raw, plan, "file:events.jsonl", n)
        if r.observed:  # the broadcast, ahead of the keyed line (one instance's order: the router's)
            for board in boards:
                board.add(raw)
        for t in r.targets:
            step(key_core(t.key), Action("e", r.ts_ms, "file:events.jsonl", n, t.replica, raw, len(references)))
        references += [raw] if r.reference else []
    for core in cores.values():
        step(core, Action("f"))
    assert len(cores) > 4

    expected: list[Incident] = []
    EmbeddedRunner(load_rules([root]), context=context).run(lines, expected.append)
    assert any(u.context and u.context.units for u in expected)

    def without_history(updates: list[Incident]) -> list[str]:
        return sorted(
            u.model_copy(update={"context": u.context.model_copy(update={"history": []})}).model_dump_json()
            for u in updates
            if u.context is not None
        )

    assert len(got) == len(expected) and without_history(got) == without_history(expected)
