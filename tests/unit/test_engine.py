"""The core contract: determinism, dedup, lateness, snapshots, closing, limits, chaining."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from rules.core.engine import Correlator
from rules.errors import CoreError
from tests.support import T0, drive, event, latest, ruleset_from

CALLS = """\
id: t.calls
title: calls
category: public_order
select:
  call:
    type: call.112
    where: data.category != "info"
correlate:
  kind: threshold
  count: 3
  window: 10m
  within: 400m
incident:
  title: "{count} calls"
  merge_window: 30m
  priority:
    base: 3
    terms:
      - {name: many, when: "count >= 5", delta: -1}
limits:
  max_keys: 50
  max_partials: 1000
"""

ABSENCE = """\
id: t.sos
title: sos
category: sos
select:
  press: {type: sos.press}
  arrival:
    type: unit.gps
    where: data.status == "on_scene"
correlate:
  kind: absence
  after: press
  expect: arrival
  timeout: 8m
  within: 300m
incident:
  title: "no unit for {press.data.device_id}"
  key: "{press.data.device_id}"
  priority: 2
"""


def _calls(n: int, seed: int = 1, spread: float = 0.01) -> list:
    rnd = random.Random(seed)
    return [
        event(
            "call.112",
            i * 20.0,
            {"call_id": f"c{i}", "category": "crime"},
            (43.25 + rnd.uniform(0, spread), 76.9 + rnd.uniform(0, spread)),
            eid=f"call-{seed}-{i}",
        )
        for i in range(n)
    ]


def test_same_input_same_incidents_ids_included(tmp_path: Path) -> None:
    rs = ruleset_from(tmp_path, CALLS)
    events = _calls(200)
    a = drive(Correlator(rs), events)
    b = drive(Correlator(rs), events)
    assert a and [i.model_dump() for i in a] == [i.model_dump() for i in b]


def test_versions_grow_and_status_moves_to_closed(tmp_path: Path) -> None:
    rs = ruleset_from(tmp_path, CALLS)
    evs = [event("call.112", i * 30.0, {"call_id": f"c{i}", "category": "crime"}, (43.25, 76.9)) for i in range(6)]
    updates = drive(Correlator(rs), evs)
    assert len({u.id for u in updates}) == 1
    assert [u.version for u in updates] == list(range(1, len(updates) + 1))
    assert updates[0].status == "open" and updates[0].priority == 3
    assert any(u.status == "escalated" and u.priority == 2 for u in updates)
    assert updates[-1].status == "closed" and updates[-1].close_reason
    assert updates[-1].event_count == 6


def test_duplicates_change_nothing(tmp_path: Path) -> None:
    rs = ruleset_from(tmp_path, CALLS)
    evs = _calls(50)
    doubled = [e for ev in evs for e in (ev, ev)]
    core = Correlator(rs)
    assert latest(drive(core, doubled)) == latest(drive(Correlator(rs), evs))
    assert core.stats.duplicates == 50


def test_out_of_order_within_the_bound_gives_the_same_incidents(tmp_path: Path) -> None:
    rs = ruleset_from(tmp_path, CALLS)
    evs = _calls(120)
    shuffled = evs[:]
    rnd = random.Random(3)
    for i in range(0, len(shuffled) - 1, 2):  # swap neighbours 20 s apart; the bound is 30 s
        if rnd.random() < 0.5:
            shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    a = latest(drive(Correlator(rs), evs, ooo=30))
    b = latest(drive(Correlator(rs), shuffled, ooo=30))
    assert {(i.event_count, i.first_time) for i in a.values()} == {(i.event_count, i.first_time) for i in b.values()}


def test_late_events_are_reported_not_used(tmp_path: Path) -> None:
    rs = ruleset_from(tmp_path, CALLS, settings="allowed_lateness: 1m\nmax_out_of_orderness: 0s\n")
    core = Correlator(rs)
    drive(core, [event("call.112", 600, {"call_id": "x", "category": "crime"}, (43.25, 76.9))], flush=False)
    late = event("call.112", 100, {"call_id": "y", "category": "crime"}, (43.25, 76.9), eid="late-1")
    assert core.is_late(late)
    core.on_event(late)
    drops = core.take_late()
    assert [d.event_id for d in drops] == ["late-1"] and drops[0].lateness_s == pytest.approx(500)
    assert core.take_late() == []


def test_reevaluate_policy_keeps_late_events(tmp_path: Path) -> None:
    rs = ruleset_from(tmp_path, CALLS, settings="allowed_lateness: 1m\nlate: reevaluate\n")
    core = Correlator(rs)
    drive(core, [event("call.112", 600, {"call_id": "x", "category": "crime"}, (43.25, 76.9))], flush=False)
    core.on_event(event("call.112", 100, {"call_id": "y", "category": "crime"}, (43.25, 76.9)))
    assert core.take_late() == [] and not core.is_late(event("call.112", 0, {"call_id": "z", "category": "crime"}))


def test_snapshot_restore_continues_exactly(tmp_path: Path) -> None:
    rs = ruleset_from(tmp_path, CALLS, ABSENCE)
    evs = _calls(150, spread=0.02)
    for i in range(10):
        evs.append(event("sos.press", i * 300.0 + 5, {"device_id": f"sos-{i}"}, (43.26, 76.91), eid=f"sos-{i}"))
        if i % 2:
            evs.append(
                event(
                    "unit.gps",
                    i * 300.0 + 200,
                    {"unit_id": "p1", "unit_type": "police", "status": "on_scene"},
                    (43.2601, 76.9101),
                    eid=f"gps-{i}",
                )
            )
    evs.sort(key=lambda e: e.time)
    straight = drive(Correlator(rs), evs, ooo=30)
    for cut in (1, 40, 95, len(evs) - 1):
        first = Correlator(rs)
        part1 = drive(first, evs[:cut], ooo=30, flush=False)
        blob = first.snapshot()
        second = Correlator(rs)
        second.restore(blob)
        # the restored core resumes with the same watermark bookkeeping the driver had
        part2 = []
        high = evs[cut - 1].time.timestamp()
        for ev in evs[cut:]:
            ts = ev.time.timestamp()
            if ts > high:
                high = ts
                part2 += second.on_watermark(high - 30)
            part2 += second.on_event(ev)
        part2 += second.on_watermark(float("inf"))
        assert [u.model_dump() for u in part1 + part2] == [u.model_dump() for u in straight], f"cut at {cut}"


def test_restore_rejects_foreign_bytes(tmp_path: Path) -> None:
    core = Correlator(ruleset_from(tmp_path, CALLS))
    for blob in (b"", b"{}", b'{"format": "saqshy.core.snapshot", "version": 99}', b"\x00\xff"):
        with pytest.raises(CoreError):
            core.restore(blob)


def test_absence_fires_on_the_watermark_and_next_deadline_says_when(tmp_path: Path) -> None:
    rs = ruleset_from(tmp_path, ABSENCE)
    core = Correlator(rs)
    assert core.next_deadline() is None
    assert core.on_event(event("sos.press", 0, {"device_id": "s1"}, (43.24, 76.95))) == []
    deadline = core.next_deadline()
    assert deadline is not None and (deadline - T0).total_seconds() == 480
    assert core.on_watermark(T0.timestamp() + 480) == []  # the deadline itself: an arrival at it is in time
    out = core.on_watermark(T0.timestamp() + 480.5)
    assert [i.title for i in out] == ["no unit for s1"]


def test_dispatcher_close_closes_the_incident(tmp_path: Path) -> None:
    rs = ruleset_from(tmp_path, CALLS)
    core = Correlator(rs)
    opened = drive(core, _calls(3, spread=0.001), flush=False)
    inc_id = opened[-1].id
    out = core.on_event(event("dispatch.action", 100, {"incident_id": inc_id, "action": "close", "operator": "op-7"}))
    assert out[-1].id == inc_id and out[-1].status == "closed" and out[-1].close_reason == "closed by dispatcher"


def test_state_is_bounded_by_limits_and_windows(tmp_path: Path) -> None:
    rs = ruleset_from(tmp_path, CALLS)
    core = Correlator(rs)
    # 5,000 calls spread over the whole city for 10 hours: buffers must expire with the window
    rnd = random.Random(9)
    evs = [
        event(
            "call.112",
            i * 7.2,
            {"call_id": f"c{i}", "category": "crime"},
            (43.1 + rnd.random() * 0.3, 76.7 + rnd.random() * 0.4),
        )
        for i in range(5000)
    ]
    drive(core, evs, flush=False)
    size = core.state_size()["t.calls"]
    assert size < 200, size  # about 10 minutes of calls (≈ 84) plus open incidents


def test_chained_rule_sees_incident_updates(tmp_path: Path) -> None:
    chained = """\
    id: t.escalate
    title: escalate
    category: dispatch
    select:
      inc:
        type: incident
        where: data.rule_id == "t.calls" && data.event_count >= 4
    correlate: {kind: match}
    incident:
      title: "big: {inc.data.title}"
      key: "{inc.data.id}"
      priority: 1
    """
    rs = ruleset_from(tmp_path, CALLS, chained)
    updates = drive(Correlator(rs), _calls(5, spread=0.001))
    esc = [u for u in updates if u.rule_id == "t.escalate"]
    assert esc and esc[0].title.startswith("big: ") and esc[0].priority == 1
    source = [u for u in updates if u.rule_id == "t.calls"]
    assert esc[0].key == source[0].id


def test_incident_location_first_or_latest(tmp_path: Path) -> None:
    rule = """\
    id: t.follow
    title: follow
    category: wanted_vehicle
    select:
      read: {type: anpr.read}
    correlate: {kind: match}
    incident:
      title: "{read.data.plate}"
      key: "{read.data.plate}"
      location: LOC
      priority: 3
    """
    reads = [
        event("anpr.read", 0, {"camera_id": "a1", "plate": "777ABA02", "confidence": 0.9}, (43.20, 76.90), eid="r1"),
        event("anpr.read", 300, {"camera_id": "a2", "plate": "777ABA02", "confidence": 0.9}, (43.25, 76.95), eid="r2"),
        event("anpr.read", 200, {"camera_id": "a3", "plate": "777ABA02", "confidence": 0.9}, (43.22, 76.92), eid="r3"),
    ]
    for loc, expected in (("first", (43.20, 76.90)), ("latest", (43.25, 76.95))):
        (tmp_path / loc).mkdir()
        rs = ruleset_from(tmp_path / loc, rule.replace("LOC", loc))
        final = list(latest(drive(Correlator(rs), reads, ooo=300)).values())
        assert len(final) == 1 and final[0].location is not None
        assert (final[0].location.lat, final[0].location.lon) == expected, loc
