"""The expression language: syntax, types, null semantics, functions, templates, safety, positions."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.errors import RuleError, SourceLocation
from rules.expr import ExprEnv, Scope, compile_expr, compile_template
from rules.geo import cell_id, cells_within, distance_m, haversine_m
from rules.records import record_from_model
from schemas.common import GeoPoint
from schemas.events import (
    AccidentRecord,
    AccidentRecordEvent,
    Analytic,
    EmergencyCall,
    EmergencyCallEvent,
    IncidentEvent,
    VideoDetection,
    VideoDetectionEvent,
)
from schemas.incident import Incident, IncidentStatus
from schemas.reference import HotlistEntry

T0 = datetime(2026, 11, 22, 9, 5, tzinfo=UTC)  # 14:05 in Asia/Almaty (UTC+5)
ORIGIN = SourceLocation("r.yaml", 7, 12)
ENV = ExprEnv(timezone="Asia/Almaty")
VIDEO = Scope.event(VideoDetectionEvent)
CALL = Scope.event(EmergencyCallEvent)


class Zones:
    def contains(self, lat: float, lon: float, label: str) -> bool:
        return label == "school" and lat > 43.0


def video(**data: Any) -> VideoDetectionEvent:
    loc = data.pop("location", GeoPoint(lat=43.2389, lon=76.9451))
    fields: dict[str, Any] = {
        "camera_id": "cam-1",
        "analytic": Analytic.FIRE,
        "label": "fire",
        "confidence": 0.93,
    }
    return VideoDetectionEvent(id="v1", source="vms", time=T0, location=loc, data=VideoDetection(**(fields | data)))


def call(**data: Any) -> EmergencyCallEvent:
    fields: dict[str, Any] = {"call_id": "c1", "category": "fire", "address": "Abai 10", "injured": 2}
    return EmergencyCallEvent(
        id="c1",
        source="112",
        time=T0 + timedelta(minutes=3),
        location=GeoPoint(lat=43.2400, lon=76.9460),
        data=EmergencyCall(**(fields | data)),
    )


def ev(text: str, obj: Any = None, scope: Scope = VIDEO, env: ExprEnv = ENV, **kw: Any) -> Any:
    c = compile_expr(text, scope, origin=ORIGIN, env=env, **kw)
    target = video() if obj is None else obj
    value = c.fn(target)
    if isinstance(target, VideoDetectionEvent | EmergencyCallEvent):  # the msgspec record agrees
        assert c.fn(record_from_model(target)) == value
    return value


def err(text: str, scope: Scope = VIDEO, expect: type | None = None) -> RuleError:
    with pytest.raises(RuleError) as info:
        compile_expr(text, scope, origin=ORIGIN, env=ENV, expect=expect)
    return info.value


def col(text: str, needle: str) -> int:
    return ORIGIN.col + text.index(needle)


# --- literals and operators -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("-3", -3),
        ("'a\\'b'", "a'b"),
        ('"x\\ny"', "x\ny"),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[1, 2]", (1, 2)),
        ("[]", ()),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("6 / 3", 2.0),
        ("7 % 3", 1),
        ("1 + 0.5", 1.5),
        ("10 - 4 - 3", 3),
        ("-(2 + 3)", -5),
        ('"ab" + "cd"', "abcd"),
        ("[1] + [2]", [1, 2]),
        ("1 < 2", True),
        ("2 <= 2", True),
        ("3 > 4", False),
        ("3 >= 4", False),
        ("1 == 1.0", True),
        ("1 != 2", True),
        ('"a" < "b"', True),
        ("!true", False),
        ("not false", True),
        ("true && false", False),
        ("true and true", True),
        ("false || true", True),
        ("false or false", False),
        ("1 < 2 ? 'y' : 'n'", "y"),
        ("1 > 2 ? 'y' : 'n'", "n"),
        ("2 in [1, 2]", True),
        ('"b" in "abc"', True),
        ("true || false && false", True),
        ("!false && false", False),
        ("1 + 2 == 3 && 2 < 3", True),
    ],
)
def test_constant_expressions(text: str, value: Any) -> None:
    assert ev(text) == value


def test_division_by_a_literal_zero_is_a_compile_error() -> None:
    e = err("data.confidence / 0")
    assert (
        "division by zero" in e.message and e.location is not None and e.location.col == col("data.confidence / 0", "0")
    )


def test_paths_and_fields() -> None:
    assert ev("data.confidence") == 0.93
    assert ev("data.analytic") == "fire"
    assert ev("type") == "video.detection"
    assert ev("location.lat") == 43.2389
    assert ev("time") == T0
    assert ev("data.confidence >= 0.6 && data.analytic == 'fire'") is True
    assert ev("data.camera_id + '/' + id") == "cam-1/v1"


def test_index_on_lists_and_maps() -> None:
    acc = AccidentRecordEvent(
        id="a",
        source="p",
        time=T0,
        data=AccidentRecord(record_id="r", severity="fatal", factors=["ice", "speed"]),
    )
    scope = Scope.event(AccidentRecordEvent)
    assert ev("data.factors[1]", acc, scope) == "speed"
    assert ev("data.factors[5]", acc, scope) is None
    assert ev("size(data.factors)", acc, scope) == 2
    assert ev('"ice" in data.factors', acc, scope) is True
    inc = IncidentEvent(
        id="i",
        source="s",
        time=T0,
        data=Incident(
            id="i1",
            version=1,
            rule_id="r",
            rule_version=1,
            category="fire",
            status=IncidentStatus.OPEN,
            priority=2,
            priority_base=2,
            title="t",
            key="k",
            first_time=T0,
            last_time=T0,
            updated_time=T0,
            event_ids=["e"],
            event_count=1,
            labels={"plate": "123ABC"},
        ),
    )
    iscope = Scope.event(IncidentEvent)
    assert ev('data.labels["plate"]', inc, iscope) == "123ABC"
    assert ev('data.labels["missing"]', inc, iscope) is None
    assert ev('"plate" in data.labels', inc, iscope) is True
    assert "list index" in err('data.factors["a"]', scope).message
    assert "map key" in err("data.labels[0]", iscope).message


def test_timestamps_and_durations() -> None:
    c = call()
    bscope = Scope.bindings({"fire": VideoDetectionEvent, "call": EmergencyCallEvent})
    ctx = {"fire": video(), "call": c}
    assert ev("call.time - fire.time", ctx, bscope) == 180.0
    assert ev('call.time - fire.time <= duration("5m")', ctx, bscope) is True
    assert ev('fire.time + duration("3m") == call.time', ctx, bscope) is True
    assert ev('call.time - duration("3m") == fire.time', ctx, bscope) is True
    assert ev('duration("1h") / duration("30m")', ctx, bscope) == 2.0
    assert ev('duration("1d")') == 86400.0 and ev('duration("90s") * 2') == 180.0
    assert ev("fire.time < call.time", ctx, bscope) is True
    assert "compare" in err('time < duration("5m")').message
    assert "cannot apply" in err("time + 5").message


# --- null semantics -------------------------------------------------------------------------------


def test_null_semantics() -> None:
    nowhere = video(location=None, track_id=None)
    assert ev("location.lat", nowhere) is None
    assert ev("location == null", nowhere) is True
    assert ev("location.lat != null", nowhere) is False
    assert ev("location.lat > 1", nowhere) is None
    assert ev("location.lat + 1", nowhere) is None
    assert ev("-location.lat", nowhere) is None
    assert ev("!(location.lat > 1)", nowhere) is None
    assert ev("location.lat > 1 && true", nowhere) is False
    assert ev("location.lat > 1 || true", nowhere) is True
    assert ev("location.lat > 1 || false", nowhere) is False
    assert ev("location.lat > 1 ? 1 : 2", nowhere) == 2
    assert ev("data.track_id == 3", nowhere) is False
    assert ev("data.track_id in [1, 2]", nowhere) is None
    assert ev("size(data.zone_id)", nowhere) is None
    assert ev("has(location)", nowhere) is False and ev("has(location.lat)") is True
    assert ev("null == null") is True and ev("null + 1") is None and ev("!null") is None


def test_null_condition_does_not_hold_and_bindings_may_be_absent() -> None:
    scope = Scope.bindings({"fire": VideoDetectionEvent, "call": EmergencyCallEvent, "count": int})
    c = compile_expr("call.data.injured > 0", scope, origin=ORIGIN, env=ENV, expect=bool)
    assert c.fn({"fire": video(), "call": None, "count": 1}) is None
    assert c.fn({"fire": video()}) is None
    assert c.fn({"call": call()}) is True
    assert ev("has(call)", {"fire": video()}, scope) is False
    assert ev("count >= 3", {"count": 4}, scope) is True
    assert c.equalities == ()


# --- types ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle", "fragment"),
    [
        ('data.confidence == "high"', "==", "cannot compare float with string"),
        ("data.camera_id < 3", "<", "cannot compare string with int"),
        ("data.camera_id + 1", "+", "cannot apply '+' to string and int"),
        ("data.confidence % 2", "%", "cannot apply '%'"),
        ("!data.confidence", "confidence", "'!' needs bool, got float"),
        ("-data.camera_id", "camera_id", "unary '-' needs"),
        ("data.confidence && true", "confidence", "'&&' needs bool"),
        ("true ? 1 : 'a'", "'a'", "both branches"),
        ("[1, 'a']", "'a'", "list items must have one type"),
        ("1 in 'abc'", "1", "'in' on a string needs string"),
        ("1 in 5", "5", "'in' needs a list"),
        ('data.analytic == "fier"', '"fier"', "not a possible value"),
        ('data.analytic in ["fire", "smok"]', "[", "not a possible value"),
        ("data.confidence[0]", "[", "cannot index float"),
        ("data.camera_id.x", "x", "cannot select field 'x' on string"),
    ],
)
def test_type_errors_point_at_the_token(text: str, needle: str, fragment: str) -> None:
    e = err(text)
    assert fragment in e.message
    assert e.location == SourceLocation("r.yaml", 7, col(text, needle))


def test_condition_must_be_boolean() -> None:
    assert err("data.confidence + 1", expect=bool).message == "condition must be a boolean, got float"
    assert err("null", expect=bool).message == "condition must be a boolean, got null"
    assert compile_expr("location.lat > 1", VIDEO, origin=ORIGIN, env=ENV, expect=bool).result.kind == "bool"


# --- names, fields, syntax errors -----------------------------------------------------------------


def test_unknown_names_and_fields() -> None:
    scope = Scope.bindings({"call": EmergencyCallEvent, "count": int})
    e = err("cal.data.injured > 0", scope)
    assert e.message == "unknown name 'cal' (did you mean 'call'?)" and e.location == SourceLocation("r.yaml", 7, 12)
    e = err("data.confidense > 0.5")
    assert e.message == "unknown field 'confidense' on VideoDetection (did you mean 'confidence'?)"
    assert e.location is not None and e.location.col == col("data.confidense > 0.5", "confidense")
    e = err("data.qqq")
    assert e.message.startswith("unknown field 'qqq' on VideoDetection (fields: camera_id, analytic")
    assert "known:" in err("zzzzzz").message


@pytest.mark.parametrize(
    ("text", "needle", "fragment"),
    [
        ("(data.confidence > 1", None, "expected ')' to close '(' at col 12"),
        ("size(data.label", None, "expected ')' to close '(' of size() at col 16"),
        ("[1, 2", None, "expected ']' to close '[' at col 12"),
        ("true ? 1", None, "expected ':'"),
        ("1 +", None, "unexpected end"),
        ("a = 1", "=", "use == to compare"),
        ("'abc", "'", "unterminated string"),
        ("1 2", "2", "after a complete expression"),
        ("", None, "empty expression"),
        ("5m > 3", "5m", "bad number"),
        ("data.", None, "expected a field name"),
        ("'\\q'", "\\", "unknown escape"),
        ("#", "#", "unexpected character"),
    ],
)
def test_syntax_errors(text: str, needle: str | None, fragment: str) -> None:
    e = err(text)
    assert fragment in e.message
    assert e.location is not None and e.location.line == 7
    if needle is not None:
        assert e.location.col == col(text, needle)


def test_error_positions_on_later_lines() -> None:
    text = 'data.analytic == "fire"\n  && data.nope > 1'
    e = err(text)
    assert e.location == SourceLocation("r.yaml", 8, 11)  # at the unknown field


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    assert "nested too deeply" in err("(" * 200 + "1" + ")" * 200).message
    assert "nested too deeply" in err("!" * 200 + "true").message


# --- security -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("data.__class__", "unknown field '__class__'"),
        ("data._private", "unknown field '_private'"),
        ("__class__", "unknown name '__class__'"),
        ("data.camera_id.__class__", "cannot select field"),
        ("eval('1')", "unknown function 'eval'"),
        ("data.model_dump()", "unknown method 'model_dump'"),
        ("data.camera_id.format('x')", "unknown method 'format'"),
        ("getattr(data, 'x')", "unknown function 'getattr'"),
        ("data.model_fields", "unknown field 'model_fields'"),
    ],
)
def test_nothing_outside_the_schema_is_reachable(text: str, fragment: str) -> None:
    assert fragment in err(text).message


# --- functions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("size(data.label)", 4),
        ("data.label.size()", 4),
        ("size([1, 2, 3])", 3),
        ("lower('AbC')", "abc"),
        ("upper(data.camera_id)", "CAM-1"),
        ("data.camera_id.upper()", "CAM-1"),
        ("'Abc'.lower()", "abc"),
        ("contains(data.camera_id, 'm-')", True),
        ("data.camera_id.contains('x')", False),
        ("startsWith(data.camera_id, 'cam')", True),
        ("data.camera_id.startsWith('x')", False),
        ("endsWith(data.camera_id, '-1')", True),
        ("data.camera_id.endsWith('1')", True),
        ("matches(data.camera_id, '^cam-[0-9]+$')", True),
        ("data.camera_id.matches('^x')", False),
        ("has(data.bbox)", False),
        ("has(data.camera_id)", True),
        ("int(data.confidence * 10)", 9),
        ("int('42')", 42),
        ("int('x')", None),
        ("int(-2.7)", -2),
        ("float('2.5')", 2.5),
        ("float(2)", 2.0),
        ("string(2)", "2"),
        ("string(true)", "true"),
        ("string(data.confidence)", "0.93"),
        ("string(data.analytic)", "fire"),
        ("string(time)", "2026-11-22 14:05"),
        ("abs(-3)", 3),
        ("abs(-2.5)", 2.5),
        ("min(3, 1, 2)", 1),
        ("max(1, 2.5)", 2.5),
        ("min('b', 'a')", "a"),
        ("max(data.confidence, 0.5)", 0.93),
        ('duration("90s")', 90.0),
        ('duration("5m")', 300.0),
        ('duration("2h")', 7200.0),
        ("hour(time)", 14),
        ("minute(time)", 5),
        ("weekday(time)", 7),
        ("date(time)", "2026-11-22"),
        ('time_between(time, "14:00", "14:10")', True),
        ('time_between(time, "22:00", "06:00")', False),
        ('time_between(time, "14:05", "14:05")', False),
        ("distance_m(location, point(43.2389, 76.9451))", 0.0),
        ("distance_m(point(0, 0), point(0, 1)) > 111000", True),
        ('in_zone(location, "school")', False),  # no zones loaded
        ("cell(location, 500) == cell(point(43.2389, 76.9451), 500)", True),
    ],
)
def test_functions(text: str, value: Any) -> None:
    result = ev(text)
    assert result == value if not isinstance(value, float) else math.isclose(result, value, abs_tol=1e-9)


def test_time_between_wraps_midnight() -> None:
    night = video()
    night = night.model_copy(update={"time": datetime(2026, 11, 22, 18, 30, tzinfo=UTC)})  # 23:30 local
    assert ev('time_between(time, "22:00", "06:00")', night) is True
    assert ev('time_between(time, "06:00", "22:00")', night) is False
    early = night.model_copy(update={"time": datetime(2026, 11, 22, 0, 30, tzinfo=UTC)})  # 05:30 local
    assert ev('time_between(time, "22:00", "06:00")', early) is True


def test_geo_functions_and_zones() -> None:
    env = ExprEnv(timezone="UTC", zones=Zones())
    assert ev('in_zone(location, "school")', env=env) is True
    assert ev('in_zone(location, "park")', env=env) is False
    assert ev('in_zone(location, "school")', video(location=None), env=env) is False
    assert ev("distance_m(location, point(0, 0))", video(location=None)) is None
    assert ev("cell(location, 500)", video(location=None)) is None
    assert ev("cell(location, 500)") == cell_id(43.2389, 76.9451, 500)
    scope = Scope.bindings({"fire": VideoDetectionEvent, "call": EmergencyCallEvent})
    d = ev("distance_m(fire.location, call.location)", {"fire": video(), "call": call()}, scope)
    assert d == pytest.approx(distance_m(43.2389, 76.9451, 43.24, 76.946))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sise(data.label)", "unknown function 'sise' (did you mean 'size'?)"),
        ("frobnicate(1)", "known: abs, cell, contains"),
        ("size(1)", "size() argument 1 must be list or string or map, got int"),
        ("size(data.label, 2)", "size() takes 1 argument, got 2"),
        ("data.label.size(2)", "size() takes 0 argument"),
        ("contains(data.label)", "contains() takes 2 arguments"),
        ("matches(data.label, data.camera_id)", "must be a literal"),
        ("matches(data.label, '(')", "bad regular expression"),
        ("matches(data.label, '" + "a" * 600 + "')", "longer than 512"),
        ('duration("5 minutes")', "not a duration"),
        ("duration(5)", "duration() takes a string"),
        ("duration(data.label)", "must be a literal"),
        ("hour(data.label)", "must be timestamp"),
        ('time_between(time, "25:00", "06:00")', "not a time of day"),
        ("distance_m(location, data)", "must be a location or point()"),
        ("in_zone(location, data.label)", "must be a literal"),
        ("cell(location, -5)", "positive number of metres"),
        ("point(95, 0)", "latitude out of range"),
        ("has(1 + 1)", "needs a field path"),
        ("min(1, 'a')", "must all be"),
        ("size", "'size' is a function"),
    ],
)
def test_function_errors(text: str, fragment: str) -> None:
    e = err(text)
    assert fragment in e.message, e.message
    assert e.location is not None and e.location.line == 7


def test_regex_error_points_at_the_pattern() -> None:
    text = "matches(data.label, '(')"
    assert err(text).location == SourceLocation("r.yaml", 7, col(text, "'('"))


def test_unknown_timezone_is_reported() -> None:
    with pytest.raises(RuleError, match="unknown timezone"):
        compile_expr("hour(time)", VIDEO, origin=ORIGIN, env=ExprEnv(timezone="Mars/Olympus"))


# --- equalities -----------------------------------------------------------------------------------


def eqs(text: str, scope: Scope = VIDEO) -> Any:
    return compile_expr(text, scope, origin=ORIGIN, env=ENV, expect=bool).equalities


def test_equalities_from_required_conjuncts_in_order() -> None:
    text = 'data.analytic in ["fire", "smoke"] && data.confidence >= 0.6 && "cam-1" == data.camera_id'
    assert eqs(text) == (
        (("data", "analytic"), frozenset({"fire", "smoke"})),
        (("data", "camera_id"), frozenset({"cam-1"})),
    )
    assert eqs('data.category == "fire"', CALL) == ((("data", "category"), frozenset({"fire"})),)
    assert eqs('type == "video.detection"') == ((("type",), frozenset({"video.detection"})),)
    assert eqs("data.track_id == 3 and data.count == 2") == (
        (("data", "track_id"), frozenset({3})),
        (("data", "count"), frozenset({2})),
    )


@pytest.mark.parametrize(
    "text",
    [
        'data.analytic == "fire" || data.confidence > 0.9',
        '!(data.analytic == "fire")',
        'data.analytic != "fire"',
        "data.label == data.camera_id",
        "data.zone_id == null",
        'lower(data.label) == "fire"',
        '(data.analytic == "fire") == true',
        'data.confidence > 0.5 ? data.analytic == "fire" : true',
    ],
)
def test_no_equalities_when_not_required(text: str) -> None:
    assert eqs(text) == ()


# --- templates ------------------------------------------------------------------------------------


BINDINGS = Scope.bindings(
    {
        "fire": VideoDetectionEvent,
        "call": EmergencyCallEvent,
        "count": int,
        "sum": float,
        "group": str,
        "hit": HotlistEntry,
        "distance": int,
    }
)


def render(text: str, ctx: dict[str, Any], scope: Scope = BINDINGS) -> str:
    return compile_template(text, scope, origin=ORIGIN, env=ENV).fn(ctx)


def test_templates_render_values() -> None:
    ctx = {"fire": video(), "call": call(), "count": 3, "sum": 3.0}
    assert render("Fire near {fire.data.camera_id}: {count} calls", ctx) == "Fire near cam-1: 3 calls"
    assert render("{fire.data.analytic} at {fire.data.confidence}", ctx) == "fire at 0.93"
    assert render("{sum} injured, {fire.time}", ctx) == "3 injured, 2026-11-22 14:05"
    assert render("{{literal}} {count}}}", ctx) == "{literal} 3}"
    assert render("no placeholders", ctx) == "no placeholders"
    assert render("{hit.plate}|{call.data.phone}|", ctx) == "||"
    assert render("{count > 2}", ctx) == "true"
    assert render('{"}" + fire.data.label}', ctx) == "}fire"
    assert render("{lower(call.data.address)}", ctx) == "abai 10"
    assert render("{call.time - fire.time}", ctx) == "3m"
    assert render("{1.0 / 3}", ctx) == "0.33"
    rec = {"fire": record_from_model(video()), "count": 1}
    assert render("{fire.data.analytic}@{fire.time}", rec) == "fire@2026-11-22 14:05"


@pytest.mark.parametrize(
    ("text", "needle", "fragment"),
    [
        ("Fire near {fire.data.camera}", "camera}", "unknown field 'camera'"),
        ("{count} and {cont}", "cont}", "did you mean 'count'"),
        ("broken { count", "{", "not closed"),
        ("oops }", "}", "unmatched '}'"),
        ("empty {}", "{", "empty placeholder"),
        ("x {count +}", "}", "unexpected end"),
    ],
)
def test_template_errors_point_into_the_template(text: str, needle: str, fragment: str) -> None:
    with pytest.raises(RuleError) as info:
        compile_template(text, BINDINGS, origin=ORIGIN, env=ENV)
    assert fragment in info.value.message
    assert info.value.location == SourceLocation("r.yaml", 7, col(text, needle))


# --- agreement with Python and speed --------------------------------------------------------------

_numbers = st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: round(f, 3)))


@given(_numbers, _numbers, st.sampled_from(["+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!="]))
def test_arithmetic_and_comparison_agree_with_python(a: float, b: float, op: str) -> None:
    scope = Scope.bindings({"a": type(a), "b": type(b)})
    c = compile_expr(f"a {op} b", scope, origin=ORIGIN, env=ENV)
    oracle = {"a": a, "b": b}
    expected: Any = (None if b == 0 else a / b) if op == "/" else eval(f"a {op} b", {}, oracle)  # generated numbers
    got = c.fn({"a": a, "b": b})
    assert got == expected or (isinstance(got, float) and math.isclose(got, expected, rel_tol=1e-12))
    if not (op == "/" and b == 0):  # a literal division by zero is a compile error
        assert compile_expr(f"{a!r} {op} {b!r}".replace("--", "- -"), scope, origin=ORIGIN).fn({}) == got


def test_typical_condition_on_a_record() -> None:
    c = compile_expr(
        'data.analytic in ["fire", "smoke"] && data.confidence >= 0.6',
        VIDEO,
        origin=ORIGIN,
        env=ENV,
        expect=bool,
    )
    assert c.fn(record_from_model(video())) is True


# --- geo ------------------------------------------------------------------------------------------


def test_haversine_and_cells() -> None:
    assert haversine_m(0, 0, 0, 1) == pytest.approx(111_195, rel=1e-4)
    assert haversine_m(43.2, 76.9, 43.2, 76.9) == 0.0
    a = cell_id(43.2389, 76.9451, 500)
    assert a.startswith("c500:") and a == cell_id(43.2389, 76.9451, 500)
    near = cells_within(43.2389, 76.9451, 400, 500)
    assert near[0] == a and len(near) <= 9 and len(set(near)) == len(near)
    # every point within the radius lies in a listed cell
    for dlat, dlon in ((0.0035, 0), (-0.0035, 0), (0, 0.0049), (0, -0.0049), (0.0025, 0.0034)):
        lat, lon = 43.2389 + dlat, 76.9451 + dlon
        if haversine_m(43.2389, 76.9451, lat, lon) <= 400:
            assert cell_id(lat, lon, 500) in near
    # cells are at least size wide up to 60 degrees of latitude
    for lat in (0.0, 43.0, 59.9):
        for step in range(20):
            lon = 10.0 + step * 0.0007
            east = lon + 0.99 * 500 / (111_195 * math.cos(math.radians(lat)))
            north = lat + 0.99 * 500 / 111_195
            _, i1, j1 = cell_id(lat, lon, 500).split(":")
            _, _, j2 = cell_id(lat, east, 500).split(":")
            _, i3, _ = cell_id(north, lon, 500).split(":")
            assert abs(int(j2) - int(j1)) <= 1 and abs(int(i3) - int(i1)) <= 1
