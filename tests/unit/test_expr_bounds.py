"""Expressions and templates cannot hang or crash the engine or lint: regular expressions on RE2 (and the
fallback without it), bounds on what a rule file may carry (refused at file:line:col), run-time values
that are cut or null instead of raising."""

from __future__ import annotations

import inspect
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rules.errors import RuleError, RuleSetError, SourceLocation
from rules.expr import Scope, compile_expr, compile_template, regex
from rules.expr.limits import (
    FALLBACK_MATCH_INPUT,
    INT_MAX,
    INT_MIN,
    MAX_DEPTH,
    MAX_EXPR_CHARS,
    MAX_LIST,
    MAX_LIST_LITERAL,
    MAX_MATCH_INPUT,
    MAX_PLACEHOLDERS,
    MAX_REGEX_POSITIONS,
    MAX_STRING,
    MAX_STRING_LITERAL,
    MAX_TEMPLATE_CHARS,
)
from rules.loader import load_rules
from rules.records import record_from_model
from schemas.events import AccidentRecord, AccidentRecordEvent, Severity
from tests.unit.test_expr import BINDINGS, CALL, ENV, ORIGIN, T0, VIDEO, call, col, err, ev, render, video

CATALOG = Path(__file__).resolve().parents[2] / "rules" / "catalog"
FIRE_RULE = (CATALOG / "fire" / "camera_and_call.yaml").read_text().split("\ntests:")[0] + "\n"
TITLE = 'title: "Fire confirmed by camera {fire.data.camera_id} and a 112 call"'


def lint(rule_text: str) -> list[RuleError]:
    """Load one rule file (with the catalog's playbooks); the errors, each with a place."""
    d = Path(tempfile.mkdtemp())
    (d / "r.yaml").write_text(rule_text, encoding="utf-8")
    (d / "playbooks").mkdir()
    for pb in (CATALOG / "playbooks").glob("*.yaml"):
        (d / "playbooks" / pb.name).write_text(pb.read_text(encoding="utf-8"), encoding="utf-8")
    try:
        load_rules([d])
    except RuleSetError as exc:
        for e in exc.errors:
            assert e.location is not None and e.location.line >= 1 and e.location.col >= 1
        return exc.errors
    return []


def accident(**data: Any) -> AccidentRecordEvent:
    fields: dict[str, Any] = {"record_id": "a1", "severity": Severity.MINOR_INJURY}
    return AccidentRecordEvent(id="a1", source="police", time=T0, data=AccidentRecord(**(fields | data)))


ACCIDENT = Scope.event(AccidentRecordEvent)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.3f} s"


# --- the reported cases -------------------------------------------------------------------------------


def test_a_5000_digit_number_in_a_title_is_a_located_error_not_a_traceback() -> None:
    """It was int('9' * 5000) in the lexer: Python refuses int/str conversions of more than 4300 digits
    (ValueError), which escaped lint and replay (both compile the rules) as a traceback."""
    line = next(i for i, text in enumerate(FIRE_RULE.splitlines(), 1) if TITLE in text)
    big = "9" * 5000
    (e,) = lint(FIRE_RULE.replace(TITLE, f'title: "Fire {{{big}}} confirmed"'))
    assert "longer than 2000 characters" in e.message
    assert e.location is not None and e.location.line == line
    number = "9" * 100
    (e,) = lint(FIRE_RULE.replace(TITLE, f'title: "Fire {{{number}}} confirmed"'))
    assert e.message == "number literal too long (100 characters, at most 64)"
    assert e.location is not None and (e.location.line, e.location.col) == (line, 17)  # at the number
    (e,) = lint(FIRE_RULE.replace("data.confidence >= 0.7", "data.confidence >= 0." + "7" * 70))
    assert "number literal too long" in e.message and e.location is not None


def test_a_5000_digit_number_as_a_yaml_value_is_a_located_error() -> None:
    (e,) = lint(FIRE_RULE.replace("base: 2", "base: " + "9" * 5000))
    assert "YAML: cannot read this value: a number of more than 4300 digits" in e.message
    assert e.location is not None and e.location.col == 11


def test_catastrophic_pattern_runs_in_linear_time() -> None:
    c = compile_expr('data.description.matches("(a+)+$")', CALL, origin=ORIGIN, env=ENV, expect=bool)
    with within(0.5):
        assert c.fn(call(description="a" * 1999 + "!")) is False
    f = compile_expr('matches(g, "(a+)+$")', Scope.bindings({"g": str}), origin=ORIGIN).fn
    with within(0.5):
        assert f({"g": "a" * (MAX_MATCH_INPUT - 1) + "!"}) is False
        assert f({"g": "a" * (MAX_MATCH_INPUT - 1)}) is True
        assert f({"g": "a" * 50_000 + "!"}) is None  # longer than MAX_MATCH_INPUT: null


# --- regular expressions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("(a)\\\\1", "uses a backreference ('\\1' at character 4), which the linear-time engine (RE2) cannot run"),
        ("(?P<x>a)(?P=x)", "uses a backreference ('(?P=x)' at character 9)"),
        ("(?=a)b", "uses a lookahead"),
        ("(?!a)b", "uses a lookahead"),
        ("(?<=a)b", "uses a lookbehind ('(?<=...)' at character 1)"),
        ("(?<!a)b", "uses a lookbehind"),
        ("(?>a+)b", "uses an atomic group"),
        ("a*+b", "uses a possessive quantifier ('*+' at character 2)"),
        ("(a)?(?(1)b|c)", "uses a conditional"),
        ("[ab]*a[ab]{300}", "too large: 302 characters and classes once its counted repetitions ({n}, {n,m})"),
        (
            "(a{20}b){20}",
            "too large: 420 characters and classes once its counted repetitions ({n}, {n,m}) are written out, "
            f"at most {MAX_REGEX_POSITIONS}",
        ),
        ("[\\\\pL\\\\pN]{60}", "instructions, at most 50000 (a class such as \\pL is about 1,200"),
        ("(", "bad regular expression: missing ): ("),
        ("\\\\Z", "bad regular expression: invalid escape sequence: \\Z"),
        ("a{1001}", "too large: 1001 characters"),
        ("(" * 70 + ")" * 70, "nested too deeply"),
    ],
)
def test_patterns_re2_cannot_run_are_refused_at_the_pattern(pattern: str, fragment: str) -> None:
    text = f'matches(data.label, "{pattern}")'
    e = err(text)
    assert fragment in e.message, e.message
    assert e.location == SourceLocation("r.yaml", 7, col(text, '"'))


def test_re2_patterns_work() -> None:
    assert ev('data.label.matches("^f")') is True
    assert ev('matches(data.camera_id, "^cam-\\\\d+$")') is True
    assert ev('data.label.matches("(?i)FIRE|smoke")') is True
    assert ev('data.label.matches("\\\\p{L}+")') is True
    assert ev('data.label.matches("[[:digit:]]")') is False
    assert ev('matches(data.label, "[ab]*a[ab]{200}")') is False
    g = compile_expr('matches(g, "x")', Scope.bindings({"g": str}), origin=ORIGIN).fn
    assert g({"g": "a\ud800x"}) is None  # a lone surrogate is not UTF-8: null, not UnicodeEncodeError


def test_the_pattern_of_a_rule_file_is_refused_at_file_line_col() -> None:
    rule = FIRE_RULE.replace("data.confidence >= 0.7", 'data.label.matches("(a)\\\\1")')
    (e,) = lint(rule)
    assert "backreference" in e.message and "RE2" in e.message
    line = next(i for i, text in enumerate(rule.splitlines(), 1) if "matches(" in text)
    assert e.location is not None and e.location.line == line
    assert rule.splitlines()[line - 1][e.location.col - 1] == '"'


@pytest.mark.parametrize(
    "pattern",
    [
        "[ab]*a[ab]{253}c",  # the most counted repetition allowed, thread-heavy on RE2's slow path
        "(.{16}){15}x",
        "[\\\\pL\\\\pN]*[\\\\pL\\\\pN]{36}x",  # near the most instructions allowed
        "\\\\pL?" * 40 + "x",
        "a?" * 200 + "b",
        "(a|b|ab|ba)*c",
        "(x+x+)+y",
    ],
)
def test_worst_accepted_patterns_are_fast_on_the_longest_input(pattern: str) -> None:
    f = compile_expr(f'matches(g, "{pattern}")', Scope.bindings({"g": str}), origin=ORIGIN).fn
    rng = random.Random(7)
    texts = [
        "".join(rng.choice("ab") for _ in range(MAX_MATCH_INPUT)),
        "".join(rng.choice("жa1 Ω中😀") for _ in range(MAX_MATCH_INPUT)),
        "ж" * MAX_MATCH_INPUT,
        "a" * MAX_MATCH_INPUT,
    ]
    for text in texts:
        with within(0.2):
            assert f({"g": text}) in (True, False)


# --- the fallback without RE2 -------------------------------------------------------------------------


@pytest.fixture
def no_re2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(regex, "RE2", None)


@pytest.mark.usefixtures("no_re2")
@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("(a+)+$", "has a repetition inside a repeated group ('+' at character 1), which can take exponential"),
        ("(a|ab)*c", "has an alternation inside a repeated group"),
        ("(a|a)+$", "alternation inside a repeated group"),
        ("(\\\\w+\\\\s?)*$", "repetition inside a repeated group"),
        ("a*a*a*b", "could take too long without the linear-time engine (RE2), which is not installed"),
        ("a?" * 10 + "a" * 10, "has 10 repetitions"),
        ("(a|b)(c|d)(e|f)(g|h).*.*", "16 ways through its alternatives"),
        ("(a)\\\\1", "backreference"),
        ("(?<=a)b", "lookbehind"),
        ("[ab]*a[ab]{300}", "302 characters and classes"),
    ],
)
def test_fallback_refuses_what_backtracks(pattern: str, fragment: str) -> None:
    text = f'matches(data.label, "{pattern}")'
    e = err(text)
    assert fragment in e.message, e.message
    assert e.location == SourceLocation("r.yaml", 7, col(text, '"'))


@pytest.mark.usefixtures("no_re2")
def test_fallback_runs_the_rest_on_re_with_bounded_input() -> None:
    assert regex.RE2 is None
    assert ev('matches(data.camera_id, "^cam-\\\\d+$")') is True
    assert ev('data.label.matches("(?i)FIRE|smoke")') is True
    f = compile_expr('matches(g, "^a*a*b")', Scope.bindings({"g": str}), origin=ORIGIN).fn
    assert f({"g": "aab"}) is True
    assert f({"g": "a" * (FALLBACK_MATCH_INPUT + 1)}) is None  # longer than the fallback's bound: null
    worst = ["a*a*b", "[ab]*a[ab]{253}c", "(a|b|c|d)x*z", "\\\\w*\\\\d*z", "(fire|smoke).*(call|report)x"]
    for pattern in worst:
        g = compile_expr(f'matches(g, "{pattern}")', Scope.bindings({"g": str}), origin=ORIGIN).fn
        for text in ("a" * FALLBACK_MATCH_INPUT, "ab" * (FALLBACK_MATCH_INPUT // 2), "1" * FALLBACK_MATCH_INPUT):
            with within(1.0):
                assert g({"g": text}) in (True, False)


def test_scan_reads_classes_escapes_and_groups() -> None:
    s = regex.scan(r"[(]+\(+(?:x{3}){2}(?i)(?#c)\p{L}{4}")
    assert not s.unsupported and not s.backtracking
    assert (s.positions, s.variable) == (12, 2)
    assert regex.scan(r"\Q(a+)+\E").backtracking == []
    assert [c.what for c in regex.scan("(a+)*").backtracking] == ["a repetition inside a repeated group"]
    assert regex.scan("(a+)?").backtracking == []  # at most once: no blow-up
    assert regex.scan("(a{2})*").backtracking == []  # a fixed count inside


# --- bounds refused at lint ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle", "fragment"),
    [
        ("data.count > 9223372036854775808", "92", "integer 9223372036854775808 is out of range"),
        ("data.count > 1" + "0" * 63, "1", "integer"),
        ("data.count > " + "1" * 65, "1", "number literal too long (65 characters, at most 64)"),
        ("data.confidence > 1e400", "1e", "number 1e400 is out of range"),
        ("data.label == '" + "x" * (MAX_STRING_LITERAL + 1) + "'", "'", "string literal longer than 1000"),
        ("data.count in [" + "1," * MAX_LIST_LITERAL + "1]", "[", "list literal longer than 500 items"),
        ("data.label == 'x' " + "|| true " * MAX_DEPTH, None, "nested too deeply"),
        ("data.count" + " + 1" * (MAX_DEPTH + 1) + " > 0", None, "nested too deeply"),
        ("-" * (MAX_DEPTH + 1) + "data.count > 0", None, "nested too deeply"),
        ("true ? 1 : " * (MAX_DEPTH + 1) + "1", None, "nested too deeply"),
        ("size(" * (MAX_DEPTH + 1) + "data.label" + ")" * (MAX_DEPTH + 1), None, "nested too deeply"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), None, "nested too deeply"),
        ("cell(location, 0.5) == ''", "0.5", "cell() size must be 1 to 1e+06 metres"),
        ('time + duration("' + "9" * 30 + 'd") > time', '"9', "duration out of range"),
        ("data.labelx" + "x" * 3000, None, "expression longer than 2000 characters (3011)"),
    ],
)
def test_bounds_are_refused_at_the_token(text: str, needle: str | None, fragment: str) -> None:
    e = err(text)
    assert fragment in e.message, e.message
    assert e.location is not None and e.location.line == 7
    if needle is not None:
        assert e.location.col == col(text, needle), e.message


def test_bounds_are_inclusive() -> None:
    assert ev(str(INT_MAX)) == INT_MAX
    assert ev(str(INT_MIN)) == INT_MIN  # '-' then 2**63: a negative literal
    assert ev("1" + "0" * 60 + ".0") == 1e60
    assert ev("'" + "x" * MAX_STRING_LITERAL + "'") == "x" * MAX_STRING_LITERAL
    assert ev("[" + "1," * (MAX_LIST_LITERAL - 1) + "1]") == (1,) * MAX_LIST_LITERAL
    assert ev("(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1)) == 1
    assert ev("1" + " + 1" * (MAX_DEPTH - 1)) == MAX_DEPTH
    a = "size('" + "x" * MAX_STRING_LITERAL + "')"
    k = MAX_EXPR_CHARS - len(a) - len(" + size('')")
    assert len(a + " + size('" + "y" * k + "')") == MAX_EXPR_CHARS
    assert ev(a + " + size('" + "y" * k + "')") == MAX_STRING_LITERAL + k


SHAPES = [
    lambda n: "(" * n + "data.count" + ")" * n + " > 0",
    lambda n: "data.count" + " + data.count" * n + " > 0",
    lambda n: "!" * n + "true",
    lambda n: "-" * n + "data.count < 0 || true",
    lambda n: "lower(" * n + "data.label" + ")" * n + " == ''",
    lambda n: "(" + "true ? " * n + "1" + " : 2" * n + ") > 0",
    lambda n: "data.label" + ".lower()" * n + " == 'fire'",
    lambda n: "[" * n + "data.count" + "]" * n + " != []",
    lambda n: "data.label == 'x'" + " || data.count > 1" * n,
    lambda n: "data.label == 'x'" + " && data.count > 1" * n,
]


def deepest(shape: Any) -> str:
    """The deepest expression of a shape that lint accepts."""
    for n in range(MAX_DEPTH + 2, 0, -1):
        try:
            compile_expr(shape(n), VIDEO, origin=ORIGIN, env=ENV)
        except RuleError as exc:
            assert "nested too deeply" in exc.message, exc.message
            continue
        text: str = shape(n)
        with pytest.raises(RuleError, match="nested too deeply"):
            compile_expr(shape(n + 1), VIDEO, origin=ORIGIN, env=ENV)
        return text
    raise AssertionError("no depth accepted")


def test_the_deepest_expressions_stay_far_from_the_recursion_limit() -> None:
    """Parse, compile and evaluate the deepest accepted expression of every shape with only 400 frames to
    spare: the parser takes a fixed number of frames a level (chains are loops), and the tree is at most
    MAX_DEPTH levels."""
    texts = [deepest(shape) for shape in SHAPES]
    assert len(texts[1]) > 3 * MAX_DEPTH  # a chain of 60-odd additions is accepted...
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 400)
    try:
        for text in texts:
            c = compile_expr(text, VIDEO, origin=ORIGIN, env=ENV)
            c.fn(video(count=3))
            c.fn(record_from_model(video(count=3)))
            compile_template("{" + text + "}", VIDEO, origin=ORIGIN, env=ENV).fn(video(count=3))
    finally:
        sys.setrecursionlimit(limit)


def test_template_bounds() -> None:
    with pytest.raises(RuleError, match=f"template longer than {MAX_TEMPLATE_CHARS} characters"):
        compile_template("x" * (MAX_TEMPLATE_CHARS + 1), BINDINGS, origin=ORIGIN, env=ENV)
    text = "{count} " * (MAX_PLACEHOLDERS + 1)
    with pytest.raises(RuleError, match=f"more than {MAX_PLACEHOLDERS} placeholders") as info:
        compile_template(text, BINDINGS, origin=ORIGIN, env=ENV)
    assert info.value.location == SourceLocation("r.yaml", 7, ORIGIN.col + 8 * MAX_PLACEHOLDERS)
    assert render("{count}" * MAX_PLACEHOLDERS, {"count": 1}) == "1" * MAX_PLACEHOLDERS


# --- run time: cut or null, never an exception ----------------------------------------------------------


def test_strings_built_at_run_time_are_cut() -> None:
    long = call(description="d" * 2000)
    joined = " + data.description" * 8
    assert ev('""' + joined, long, CALL) == "d" * MAX_STRING
    assert ev("upper(data.description" + joined + ")", long, CALL) == "D" * MAX_STRING
    assert ev("size(string(data.description" + joined + "))", long, CALL) == MAX_STRING
    assert ev("upper('" + "ß" * 400 + "') == '" + "SS" * 400 + "'") is True  # grows, under the cap
    many = accident(factors=["f" * 1000] * 50)
    assert len(ev("string(data.factors)", many, ACCIDENT)) == MAX_STRING
    assert len(ev("data.factors" + " + data.factors" * 60, accident(factors=["x"] * 200), ACCIDENT)) == MAX_LIST
    ctx = {"call": long}
    assert render("{call.data.description}" * 8, ctx, BINDINGS) == "d" * MAX_STRING


def test_ints_are_64_bit_and_huge_event_ints_never_raise() -> None:
    g = Scope.bindings({"a": int, "b": int})
    for text, a, b in [("a * b", 2**62, 2), ("a + b", INT_MAX, 1), ("a - b", INT_MIN, 1), ("-a", INT_MIN, 0)]:
        assert compile_expr(text, g, origin=ORIGIN).fn({"a": a, "b": b}) is None
    assert compile_expr("a * b", g, origin=ORIGIN).fn({"a": 2**31, "b": 2**31}) == 2**62
    assert ev("int('" + "9" * 30 + "')") is None
    assert ev("int(1e300)") is None
    assert ev("abs(-9223372036854775807 - 1)") is None
    huge = call(injured=10**5000)  # NonNegInt has no upper bound; Python cannot even print it
    for text in [
        "string(data.injured)",
        "data.injured * 1.5",
        "data.injured + 1",
        "data.injured / 3",
        "data.injured * data.injured",
        "float(data.injured)",
        "point(data.injured, 0)",
        "abs(data.injured)",
        "-data.injured",
    ]:
        assert ev(text, huge, CALL) is None, text
    assert ev("data.injured > 0", huge, CALL) is True
    assert render("[{call.data.injured}]", {"call": huge}) == "[]"
    assert render("[{call.data.injured}]", {"call": call(injured=10**30)}) == "[" + "1" + "0" * 30 + "]"


def test_extreme_times_and_durations_never_raise() -> None:
    late = video().model_copy(update={"time": datetime(9999, 12, 31, 23, 59, tzinfo=UTC)})
    early = video().model_copy(update={"time": datetime(1, 1, 1, tzinfo=UTC)})
    for text in [
        "hour(time)",
        "date(time)",
        "string(time)",
        "time + duration('1d')",
        "time_between(time, '22:00', '06:00')",
    ]:
        assert ev(text, late) is None, text
    assert ev("time - duration('1d')", early) is None
    assert ev("time + duration('1d') * data.confidence * 1e300") is None
    assert ev("time - duration('1d') * 1e300 * 1e300") is None  # an infinite duration
    assert ev("string(duration('1d') * 1e300 * 1e300)") == "infs"
    assert render("{fire.time}", {"fire": late}) == ""


def test_points_out_of_range_at_run_time_are_null() -> None:
    assert ev("point(data.confidence * 100, 0)") is None
    assert ev("distance_m(point(data.confidence * 1e308 * 10, 0), location)") is None
    assert ev("cell(point(data.confidence * 1000, 0), 500)") is None
    assert ev("point(data.confidence, 0) != null") is True


def test_lists_compare_as_sequences_and_join_with_one_item_type() -> None:
    a = accident(factors=["speed", "ice"])
    assert ev('data.factors == ["speed", "ice"]', a, ACCIDENT) is True
    assert ev('data.factors + ["x"] == ["speed", "ice", "x"]', a, ACCIDENT) is True
    assert ev('([] + data.factors)[1] == "ice"', a, ACCIDENT) is True
    assert "cannot join list(string) and list(int)" in err("data.factors + [1] == []", ACCIDENT).message
    assert "unary '-' needs" in err("-([] + data.factors)[0] > 0", ACCIDENT).message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("string(max(data.injured, 1.5))", None),  # an int beyond a float's range, typed float: null
        ("string(-max(data.injured, 1.5))", None),
        ("max(data.injured, 1.5) > 2.0", None),
        ("string(min(data.injured, 1.5))", "1.5"),
    ],
)
def test_min_and_max_of_an_int_and_a_float_are_floats_or_null(text: str, expected: Any) -> None:
    """Found by the typed-expression fuzz: max() of an event's huge int and a float returned the int under a
    float type, and showing it raised OverflowError in the engine."""
    from schemas.events import EmergencyCallEvent

    event = EmergencyCallEvent.model_validate(
        {
            "id": "x",
            "type": "call.112",
            "source": "s",
            "time": "2026-01-01T00:00:00Z",
            "data": {"call_id": "c", "category": "fire", "injured": 10**400},
        }
    )
    fn = compile_expr(text, Scope.event(EmergencyCallEvent)).fn
    for target in (event, record_from_model(event)):
        assert fn(target) == expected
