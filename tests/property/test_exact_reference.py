"""The reference itself, on cases computed by hand from docs/semantics.md (no engine involved).

If one of these fails, the reference is wrong (or the page changed), and the property tests that compare the
engine with it mean nothing until it is fixed.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import yaml

from rules.loader import load_rules
from tests.property.reference import (
    Choices,
    Result,
    distance_m,
    from_us,
    incident_id,
    records_from_lines,
    run_reference,
    to_us,
)
from tests.property.strategies import LAT0, LON0, Case, Event, event, offset
from tests.property.test_exact_kinds import rules_dir

SETTINGS = "timezone: Asia/Almaty\n"


def rule(rule_id: str, select: dict[str, Any], correlate: dict[str, Any], **incident: Any) -> str:
    inc: dict[str, Any] = {"title": incident.pop("title", rule_id), "priority": incident.pop("priority", 3)}
    inc.update(incident)
    doc = {"id": rule_id, "title": rule_id, "category": "test", "select": select, "correlate": correlate}
    doc["incident"] = inc
    return yaml.safe_dump(doc, sort_keys=False, width=1000)


def ref(rules: list[str], events: list[Event], settings: str = SETTINGS, choices: Choices | None = None) -> Result:
    case = Case("hand", tuple(rules), settings, tuple(events))
    ruleset = load_rules([rules_dir(case.settings, case.rules)])
    return run_reference(ruleset, records_from_lines(case.lines()), choices or Choices())


def finals(result: Result, rule_id: str) -> list[Any]:
    return [result.versions[i][-1] for i in result.rules[rule_id]]


def summary(result: Result, rule_id: str) -> list[list[tuple[str, list[str], str]]]:
    """Per incident (in opening order), its versions as (status, event_ids, updated_time hh:mm:ss)."""
    return [
        [(str(v.status), list(v.event_ids), v.updated_time.strftime("%H:%M:%S")) for v in result.versions[i]]
        for i in result.rules[rule_id]
    ]


CALL = {"call": {"type": "call.112"}}


def call(eid: str, at: float, loc: tuple[float, float] | None = None, **data: Any) -> Event:
    return event(eid, "call.112", at, {"call_id": eid, "category": data.pop("category", "fire"), **data}, loc)


# --- threshold: the worked example of section 4 ---------------------------------------------------------------

# Offsets east of the centre (metres): A 0, B +135 (135 m from A), C -481 (481 m from A, 616 m from B).
# The page's D (100 m from A, 200 m from B, 400 m from C) cannot exist: B and C are 616 m apart, so no point
# is within 200 m of B and 400 m of C (200 + 400 < 616). This D is 173 m west of A: 308 m from B and from C.
A, B, C, D = offset(0, 0), offset(0, 135), offset(0, -481), offset(0, -173)
THRESHOLD = rule(
    "t.count",
    CALL,
    {"kind": "threshold", "count": 3, "window": "1h", "within": "500m"},
    title="{count} members, trigger {call.id}",
    merge_window="1h",
)


def test_worked_example_distances() -> None:
    assert distance_m(*A, *B) == pytest.approx(135, abs=0.05)
    assert distance_m(*A, *C) == pytest.approx(481, abs=0.05)
    assert distance_m(*B, *C) == pytest.approx(616, abs=0.05)
    assert max(distance_m(*D, *p) for p in (A, B, C)) < 500


def test_threshold_worked_example_no_match() -> None:
    abc = [call("A", 0, A), call("B", 60, B), call("C", 120, C)]
    for order in (abc, abc[::-1], [abc[1], abc[2], abc[0]]):
        result = ref([THRESHOLD], order)
        assert result.matches["t.count"] == []
        assert result.final == {}


def test_threshold_worked_example_with_d() -> None:
    result = ref([THRESHOLD], [call("A", 0, A), call("B", 60, B), call("C", 120, C), call("D", 180, D)])
    (m,) = result.matches["t.count"]
    assert m.trigger.id == "D" and m.count == 4
    assert [e.id for e in m.evidence] == ["B", "C", "D"]  # D, then C, B: the measure reaches 3
    (inc,) = finals(result, "t.count")
    assert inc.event_ids == ["B", "C", "D"] and inc.event_count == 3
    assert inc.title == "4 members, trigger D"
    assert (inc.location.lat, inc.location.lon) == D  # type: ignore[union-attr]
    assert inc.first_time == from_us(to_us(inc.last_time) - 120_000_000)


def test_threshold_window_is_closed_and_ties_go_by_id() -> None:
    rules = [rule("t.two", CALL, {"kind": "threshold", "count": 2, "window": "60s"})]
    # exactly `window` before the trigger is inside
    assert [m.trigger.id for m in ref(rules, [call("a", 0), call("b", 60)]).matches["t.two"]] == ["b"]
    assert ref(rules, [call("a", 0), call("b", 60.000001)]).matches["t.two"] == []
    # equal times: the member must be before the trigger in canonical order, so only the larger id matches
    assert [m.trigger.id for m in ref(rules, [call("y", 5), call("x", 5)]).matches["t.two"]] == ["y"]


def test_threshold_distinct_and_sum_witnesses() -> None:
    distinct = rule("t.d", CALL, {"kind": "threshold", "distinct": {"of": "data.phone", "at_least": 2}, "window": "1h"})
    evs = [call("a", 0, phone="p1"), call("b", 1, phone="p2"), call("c", 2, phone="p2"), call("d", 3, phone="p2")]
    ms = ref([distinct], evs).matches["t.d"]
    # at c: members a, b, c; c (p2), then b (p2: no new value), then a (p1): witnesses a, c
    assert [(m.trigger.id, [e.id for e in m.evidence], m.distinct) for m in ms] == [
        ("b", ["a", "b"], 2),
        ("c", ["a", "c"], 2),
        ("d", ["a", "d"], 2),
    ]
    total = rule("t.s", CALL, {"kind": "threshold", "sum": {"of": "data.injured", "at_least": 3}, "window": "1h"})
    evs = [call("a", 0, injured=2), call("b", 1, injured=0), call("c", 2), call("d", 3, injured=1)]
    (m,) = ref([total], evs).matches["t.s"]
    # at d: 1, then c (no number), b (0: does not raise), a (2): 3 reached
    assert (m.trigger.id, [e.id for e in m.evidence], m.sum, m.count) == ("d", ["a", "d"], 3.0, 4)


def test_threshold_without_location_is_within_nothing() -> None:
    rules = [rule("t.r", CALL, {"kind": "threshold", "count": 1, "window": "1h", "within": "100m"})]
    assert [m.trigger.id for m in ref(rules, [call("a", 0), call("b", 1, A)]).matches["t.r"]] == ["b"]


# --- cooccur --------------------------------------------------------------------------------------------------

FIRE_CALL = rule(
    "c.fire",
    {
        "fire": {"type": "video.detection", "where": 'data.analytic == "fire"'},
        "call": {"type": "call.112", "where": 'data.category == "fire"'},
    },
    {"kind": "cooccur", "window": "10m", "within": "300m", "anchor": "fire"},
    title="{fire.id} + {call.id}",
)


def fire(eid: str, at: float, loc: tuple[float, float] = A) -> Event:
    return event(
        eid, "video.detection", at, {"camera_id": "c1", "analytic": "fire", "label": "f", "confidence": 0.9}, loc
    )


def test_cooccur_two_fires_then_a_call() -> None:
    result = ref([FIRE_CALL], [fire("f1", 0), fire("f2", 60), call("k", 120, B)])
    assert [(m.trigger.id, [e.id for e in m.evidence], m.anchor.id) for m in result.matches["c.fire"]] == [
        ("k", ["f2", "k"], "f2")
    ]
    assert summary(result, "c.fire") == [[("open", ["f2", "k"], "12:02:00"), ("closed", ["f2", "k"], "12:32:00")]]


def test_cooccur_a_fire_then_two_calls() -> None:
    result = ref([FIRE_CALL], [fire("f", 0), call("k1", 60, B), call("k2", 120, B)])
    assert [[e.id for e in m.evidence] for m in result.matches["c.fire"]] == [["f", "k1"], ["f", "k2"]]
    # one incident: the second match at 12:02 is 60 s after the last version (update_every 10 s): at once
    assert summary(result, "c.fire") == [
        [
            ("open", ["f", "k1"], "12:01:00"),
            ("updated", ["f", "k1", "k2"], "12:02:00"),
            ("closed", ["f", "k1", "k2"], "12:32:00"),
        ]
    ]
    (inc,) = finals(result, "c.fire")
    assert inc.title == "f + k2"  # over the latest merged match
    assert (inc.location.lat, inc.location.lon) == A  # type: ignore[union-attr]  # the anchor: the fire


def test_cooccur_partner_too_far_from_the_centre() -> None:
    # the call is 481 m from the fire: no partner within 300 m of the centre, either way round
    assert ref([FIRE_CALL], [fire("f", 0, A), call("k", 60, C)]).matches["c.fire"] == []
    assert ref([FIRE_CALL], [call("k", 0, C), fire("f", 60, A)]).matches["c.fire"] == []


def test_cooccur_min_and_missing_selections_are_null() -> None:
    three = rule(
        "c.three",
        {
            "fire": {"type": "video.detection", "where": 'data.analytic == "fire"'},
            "call": {"type": "call.112"},
            "sos": {"type": "sos.press"},
        },
        {"kind": "cooccur", "window": "10m", "min": 2},
        title="[{fire.id}|{call.id}|{sos.id}]",
    )
    result = ref([three], [call("k", 0), fire("f", 10)])
    ((m, title),) = [(m, finals(result, "c.three")[0].title) for m in result.matches["c.three"]]
    assert m.trigger.id == "f" and title == "[f|k|]"


# --- sequence -------------------------------------------------------------------------------------------------


def anpr(eid: str, at: float, camera: str = "a1") -> Event:
    return event(eid, "anpr.read", at, {"camera_id": camera, "plate": "123ABC02", "confidence": 0.9}, A)


READ_READ = rule(
    "s.rr",
    {"read": {"type": "anpr.read"}},
    {"kind": "sequence", "steps": [{"select": "read"}, {"select": "read", "max_gap": "60s"}]},
)


def test_sequence_read_read_needs_two_reads() -> None:
    assert ref([READ_READ], [anpr("r1", 0)]).matches["s.rr"] == []
    ms = ref([READ_READ], [anpr("r1", 0), anpr("r2", 30), anpr("r3", 100)]).matches["s.rr"]
    assert [[e.id for e in m.evidence] for m in ms] == [["r1", "r2"]]  # r3 is 70 s after r2
    ms = ref([READ_READ], [anpr("r1", 0), anpr("r2", 30), anpr("r3", 90)]).matches["s.rr"]
    assert [[e.id for e in m.evidence] for m in ms] == [["r1", "r2"], ["r2", "r3"]]
    # equal times: the step before binds an event before the trigger in canonical order (the smaller id)
    ms = ref([READ_READ], [anpr("b", 0), anpr("a", 0)]).matches["s.rr"]
    assert [(m.trigger.id, [e.id for e in m.evidence]) for m in ms] == [("b", ["a", "b"])]


def test_sequence_optional_step_and_its_backtracking() -> None:
    steps = rule(
        "s.opt",
        {
            "loiter": {"type": "video.detection", "where": 'data.analytic == "loitering"'},
            "cross": {"type": "video.detection", "where": 'data.analytic == "line_crossing"'},
            "breach": {"type": "video.detection", "where": 'data.analytic == "intrusion"'},
        },
        {
            "kind": "sequence",
            "steps": [
                {"select": "loiter"},
                {"select": "cross", "max_gap": "60s", "optional": True},
                {"select": "breach", "max_gap": "100s"},
            ],
        },
    )

    def det(eid: str, at: float, analytic: str) -> Event:
        return event(
            eid, "video.detection", at, {"camera_id": "c", "analytic": analytic, "label": "p", "confidence": 1}
        )

    # loiter 0, cross 50, breach 100: all three
    ms = ref([steps], [det("l", 0, "loitering"), det("x", 50, "line_crossing"), det("b", 100, "intrusion")])
    assert [[e.id for e in m.evidence] for m in ms.matches["s.opt"]] == [["l", "x", "b"]]
    # cross 30 s before breach, but loiter 70 s before the cross (gap 60): the cross is skipped, and the
    # loiter is bound from the breach (100 s before it, the breach's gap): backtracking
    ms = ref([steps], [det("l", 0, "loitering"), det("x", 70, "line_crossing"), det("b", 100, "intrusion")])
    assert [[e.id for e in m.evidence] for m in ms.matches["s.opt"]] == [["l", "b"]]
    # loiter 101 s before the breach and no cross: nothing
    assert ref([steps], [det("l", 0, "loitering"), det("b", 101, "intrusion")]).matches["s.opt"] == []


def test_sequence_cross_condition_picks_the_latest_event_that_satisfies_it() -> None:
    route = rule(
        "s.route",
        {"a": {"type": "anpr.read"}, "b": {"type": "anpr.read"}},
        {
            "kind": "sequence",
            "steps": [{"select": "a"}, {"select": "b", "max_gap": "60s"}],
            "where": "a.data.camera_id != b.data.camera_id",
        },
        title="{a.data.camera_id} -> {b.data.camera_id}",
    )
    result = ref([route], [anpr("r1", 0, "cam1"), anpr("r2", 10, "cam2"), anpr("r3", 20, "cam2")])
    # r2: r1 (another camera); r3: not r2 (the same camera) but r1
    assert [[e.id for e in m.evidence] for m in result.matches["s.route"]] == [["r1", "r2"], ["r1", "r3"]]
    assert finals(result, "s.route")[0].title == "cam1 -> cam2"


# --- absence --------------------------------------------------------------------------------------------------

ABSENCE = rule(
    "a.sos",
    {
        "press": {"type": "sos.press"},
        "arrival": {"type": "unit.gps", "where": 'data.status == "on_scene"'},
    },
    {"kind": "absence", "after": "press", "expect": "arrival", "timeout": "5m"},
    title="SOS {press.data.device_id}",
)


def sos(eid: str, at: float) -> Event:
    return event(eid, "sos.press", at, {"device_id": "d1"}, A)


def unit(eid: str, at: float, status: str = "on_scene", assigned: str | None = None) -> Event:
    data: dict[str, Any] = {"unit_id": "u1", "unit_type": "police", "status": status}
    if assigned:
        data["assigned_incident"] = assigned
    return event(eid, "unit.gps", at, data, A)


def test_absence_expect_exactly_at_the_deadline_is_in_time() -> None:
    assert ref([ABSENCE], [sos("p", 0), unit("u", 300)]).final == {}
    result = ref([ABSENCE], [sos("p", 0), unit("u", 300.000001)])
    (m,) = result.matches["a.sos"]
    assert m.time == to_us(from_us(m.trigger.us)) + 300_000_000
    assert summary(result, "a.sos") == [[("open", ["p"], "12:05:00"), ("closed", ["p"], "12:35:00")]]


def test_absence_expect_at_the_same_time_cancels_whatever_the_ids() -> None:
    assert ref([ABSENCE], [sos("b", 0), unit("a", 0)]).final == {}
    assert ref([ABSENCE], [sos("a", 0), unit("b", 0)]).final == {}
    # before the press: does not count
    assert len(ref([ABSENCE], [sos("b", 10), unit("a", 9.999999)]).final) == 1


# --- lookup ---------------------------------------------------------------------------------------------------

LOOKUP = rule(
    "l.hot",
    {"read": {"type": "anpr.read"}},
    {"kind": "lookup", "table": "hotlist", "key": "data.plate", "fuzzy": 1, "as": "hit"},
    title="{hit.plate} {hit.reason} d={distance}",
    key="{hit.plate}",
)


def hot(eid: str, at: float, plate: str, *, deleted: bool = False, **entry: Any) -> Event:
    data = {"plate": plate, "reason": "stolen", "valid_from": "2026-01-05T00:00:00Z", **entry}
    body = event(eid, "ref.hotlist", at, data)
    if deleted:
        body["deleted"] = True
    return body


def plate_read(eid: str, at: float, plate: str) -> Event:
    return event(eid, "anpr.read", at, {"camera_id": "a1", "plate": plate, "confidence": 0.9}, A)


def test_lookup_as_of_event_time() -> None:
    # in force for a read: set before it in canonical order (at one time, by id)
    assert len(ref([LOOKUP], [hot("a", 0, "123ABC02"), plate_read("b", 0, "123ABC02")]).final) == 1
    assert ref([LOOKUP], [hot("z", 0, "123ABC02"), plate_read("a", 0, "123ABC02")]).final == {}
    assert ref([LOOKUP], [hot("z", 1, "123ABC02"), plate_read("a", 0, "123ABC02")]).final == {}
    # a deletion sets none; valid_to is exclusive
    evs = [hot("h1", 0, "123ABC02"), hot("h2", 10, "123 ABC02", deleted=True), plate_read("r", 10, "123ABC02")]
    assert ref([LOOKUP], evs).final == {}
    evs = [hot("h", 0, "123ABC02", valid_to="2026-01-05T12:00:10Z"), plate_read("r", 10, "123ABC02")]
    assert ref([LOOKUP], evs).final == {}
    # two events of one plate at one time: the larger id is the latest
    evs = [hot("h2", 5, "123ABC02", deleted=True), hot("h1", 5, "123ABC02"), plate_read("r", 6, "123ABC02")]
    assert ref([LOOKUP], evs).final == {}


def test_lookup_fuzzy_picks_distance_then_priority_then_plate() -> None:
    evs = [
        hot("h1", 0, "123ABD02", priority=2, reason="wanted"),
        hot("h2", 0, "123ABE02", priority=1, reason="robbery"),
        hot("h3", 0, "123ABF02", priority=1, reason="amber_alert"),
        plate_read("r", 1, "123АВС02"),  # Cyrillic А, В, С: normalised to 123ABC02, 1 from each listed plate
    ]
    (inc,) = ref([LOOKUP], evs).final.values()
    assert inc.title == "123ABE02 robbery d=1" and inc.key == "123ABE02"
    evs.append(hot("h4", 0, "123ABC02", priority=5, reason="other"))
    (inc,) = ref([LOOKUP], evs).final.values()
    assert inc.title == "123ABC02 other d=0"


# --- incidents: ids, coalescing, closing, dispatch, units, chaining ------------------------------------------

MATCH = rule(
    "m.calls",
    {"call": {"type": "call.112"}},
    {"kind": "match"},
    title="call {call.id}",
    key="k",
    merge_window="60s",
    priority={"base": 3, "terms": [{"name": "injured", "when": "call.data.injured > 0", "delta": -1}]},
)


def test_incident_id_by_hand() -> None:
    result = ref([MATCH], [call("e1", 0)])
    raw = b"m.calls\x1f1\x1fk\x1fe1"
    assert list(result.final) == ["inc-" + hashlib.blake2b(raw, digest_size=10).hexdigest()]
    assert incident_id("m.calls", 1, "k", ["e1"]) == next(iter(result.final))


def test_coalescing_with_update_every() -> None:
    evs = [call("a", 0), call("b", 3), call("c", 14), call("d", 16)]
    result = ref([MATCH], evs)
    # v1 at 0; b pending -> a version made at 0 + 10; c (14 < 10 + 10) and d pending -> a version made at
    # 20; closes at 16 + 60 (a version's updated_time is when it is made)
    assert summary(result, "m.calls") == [
        [
            ("open", ["a"], "12:00:00"),
            ("updated", ["a", "b"], "12:00:10"),
            ("updated", ["a", "b", "c", "d"], "12:00:20"),
            ("closed", ["a", "b", "c", "d"], "12:01:16"),
        ]
    ]
    # the other reading of "the incident's last version" (its updated_time): c comes at once (14 >= 3 + 10)
    other = ref([MATCH], evs, choices=Choices(version_time="updated", pending_updated_time="last_match"))
    assert [len(v.event_ids) for v in other.versions[next(iter(other.final))]] == [1, 2, 3, 4, 4]


def test_escalation_is_at_once_and_priority_only_rises() -> None:
    result = ref([MATCH], [call("a", 0), call("b", 2, injured=1), call("c", 4)])
    ((v1, v2, v3, v4),) = [result.versions[i] for i in result.rules["m.calls"]]
    assert (v1.status, v1.priority) == ("open", 3)
    assert (v2.status, v2.priority, [t.name for t in v2.priority_terms]) == ("escalated", 2, ["injured"])
    # c (4 < 2 + 10) is pending and becomes a version made at 12
    assert (v3.status, v3.priority, v3.event_ids, v3.title) == ("updated", 2, ["a", "b", "c"], "call c")
    assert v3.updated_time.strftime("%H:%M:%S") == "12:00:12"
    assert (v4.status, v4.updated_time.strftime("%H:%M:%S")) == ("closed", "12:01:04")


def test_merge_window_is_closed() -> None:
    assert [len(x) for x in summary(ref([MATCH], [call("a", 0), call("b", 60)]), "m.calls")] == [3]
    assert [len(x) for x in summary(ref([MATCH], [call("a", 0), call("b", 60.000001)]), "m.calls")] == [2, 2]


def test_dispatch_close_and_unit_arrivals() -> None:
    inc = incident_id("m.calls", 1, "k", ["a"])
    close = event("x", "dispatch.action", 20, {"incident_id": inc, "action": "close"})
    evs = [call("a", 0), unit("u", 15, assigned=inc), unit("u2", 16, assigned=inc), close, call("b", 30)]
    result = ref([MATCH], evs)
    first, second = result.rules["m.calls"]
    assert first == inc
    assert [(str(v.status), v.updated_time.strftime("%S"), len(v.arrivals)) for v in result.versions[first]] == [
        ("open", "00", 0),
        ("updated", "15", 1),  # the unit's arrival (once per unit: u2 is the same unit u1)
        ("closed", "20", 1),
    ]
    assert result.versions[first][-1].close_reason == "closed by dispatcher"
    assert result.versions[second][0].event_ids == ["b"]  # a closed incident never reopens


def test_chaining_sees_versions_as_events() -> None:
    upstream = rule("m.up", CALL, {"kind": "match"}, key="k", merge_window="60s")
    chained = rule(
        "m.down",
        {"seen": {"type": "incident", "where": 'data.rule_id == "m.up"'}},
        {"kind": "threshold", "count": 2, "window": "1h"},
        title="{count} versions, last {seen.data.status}",
    )
    result = ref([upstream, chained], [call("a", 0), call("b", 30)])
    up = result.rules["m.up"][0]
    # m.up: open at 0, updated at 30, closed at 90; m.down's matches at the 2nd and 3rd versions
    assert [e.id for m in result.matches["m.down"] for e in m.evidence] == [f"{up}@1", f"{up}@2", f"{up}@2", f"{up}@3"]
    (down,) = finals(result, "m.down")
    assert down.title == "3 versions, last closed" and down.event_ids == [f"{up}@1", f"{up}@2", f"{up}@3"]


def test_distance_against_the_exact_geodesic() -> None:
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    for north, east in [(0, 135), (300, 0), (1000, 1000), (-2000, 700), (3500, -3500), (0, 5000)]:
        lat, lon = offset(north, east)
        exact = geod.inv(LON0, LAT0, lon, lat)[2]
        assert abs(distance_m(LAT0, LON0, lat, lon) - exact) < 0.01
