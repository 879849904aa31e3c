"""Fuzzing the expression language: the lexer, the parser, the compiler and templates never crash (only
ExprError/RuleError with a place), never hang (each case runs under a timer), and an accepted expression,
evaluated on random events, never raises: it gives a value or the documented null.

The default run keeps to a few seconds; `-m slow` runs over 100,000 generated cases (SLOW_CASES)."""

from __future__ import annotations

import functools
import gc
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from rules.errors import ExprError, RuleError
from rules.expr import ExprEnv, Point, Scope, compile_expr, compile_template, regex
from rules.expr.lexer import tokenize
from rules.expr.limits import FALLBACK_MATCH_INPUT, MAX_MATCH_INPUT, MAX_STRING
from rules.expr.parser import parse
from rules.expr.types import Type, field_names, field_type, object_of
from rules.records import record_from_model
from schemas.common import GeoPoint
from schemas.events import (
    AccidentRecord,
    AccidentRecordEvent,
    Analytic,
    CallCategory,
    EmergencyCall,
    EmergencyCallEvent,
    Severity,
    VideoDetection,
    VideoDetectionEvent,
)
from tests.unit.test_expr import ORIGIN, Zones

ENV = ExprEnv(timezone="Asia/Almaty", zones=Zones())
CASE_SECONDS = 2.0  # CPU seconds for one generated case: compile and evaluate (typically under a millisecond)
FAST = settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
QUICK = settings(FAST, max_examples=200)  # the lexer and the parser: cheap cases
SLOW_CASES = {  # per test: 116,000 in all (some 10 minutes; most of it is hypothesis generating)
    "lexer": 25_000,
    "parser": 20_000,
    "text": 12_000,
    "typed": 25_000,
    "template": 12_000,
    "mutated": 12_000,
    "regex": 10_000,
}


# `make fuzz` runs every case; `make test` a tenth of them (SAQSHY_FUZZ_SCALE=0.1), to keep CI in its budget.
FUZZ_SCALE = float(os.environ.get("SAQSHY_FUZZ_SCALE", "1"))


def slow(name: str) -> settings:
    return settings(FAST, max_examples=max(100, int(SLOW_CASES[name] * FUZZ_SCALE)))


class Hang(Exception):
    pass


@contextmanager
def bounded(seconds: float = CASE_SECONDS) -> Iterator[None]:
    """Interrupt a case that uses more than `seconds` of CPU (SIGPROF; Python's re checks for signals, RE2
    is linear) and fail it; then check the CPU time it took. CPU time, not wall time, and no garbage
    collection inside the case: a loaded machine or a full collection of hypothesis's heap (seconds, seen)
    is not a hang of the expression."""

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"a case used over {seconds} s of CPU")

    previous = signal.signal(signal.SIGPROF, alarm)
    collecting = gc.isenabled()
    gc.disable()
    start = time.process_time()
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        used = time.process_time() - start
        signal.signal(signal.SIGPROF, previous)
        if collecting:
            gc.enable()
    assert used < seconds, f"{used:.2f} s of CPU"


# --- random events --------------------------------------------------------------------------------------

_SPECIAL_TEXT = ["", "fire", "ж" * 64, "😀", "a\x00b", "9" * 40, "a" * 64, " ", "\n", "{x}", "'\"\\"]


def texts(max_len: int, min_len: int = 0) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(min_size=min_len, max_size=min(12, max_len)),
        st.sampled_from([s[:max_len] for s in _SPECIAL_TEXT if len(s[:max_len]) >= min_len]),
        st.just("x" * max_len),
    )


IDENT = texts(128, 1)
BIG_INTS = st.one_of(st.integers(0, 100), st.integers(0, 2**64), st.sampled_from([2**63 - 1, 2**63, 10**30, 10**5000]))
TIMES = st.one_of(
    st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.sampled_from([datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)]),
)
LOCATIONS = st.one_of(st.none(), st.builds(GeoPoint, lat=st.floats(-90, 90), lon=st.floats(-180, 180)))
UNIT = st.floats(0, 1)
ENVELOPE: dict[str, Any] = {
    "id": IDENT,
    "source": texts(256, 1),
    "time": TIMES,
    "received_time": st.none() | TIMES,
    "location": LOCATIONS,
}

VIDEOS = st.builds(
    VideoDetectionEvent,
    data=st.builds(
        VideoDetection,
        camera_id=IDENT,
        analytic=st.sampled_from(Analytic),
        label=texts(64),
        confidence=UNIT,
        count=st.none() | BIG_INTS,
        track_id=st.none() | st.integers(-(2**70), 2**70),
        dwell_s=st.none() | st.floats(0, allow_infinity=True, allow_nan=False),
        zone_id=st.none() | texts(300),
    ),
    **ENVELOPE,
)
CALLS = st.builds(
    EmergencyCallEvent,
    data=st.builds(
        EmergencyCall,
        call_id=IDENT,
        category=st.sampled_from(CallCategory),
        address=st.none() | texts(256),
        description=st.none() | texts(2000) | st.just("a" * 1999 + "!"),
        phone=st.none() | texts(32),
        injured=st.none() | BIG_INTS,
        operator=st.none() | texts(MAX_STRING + 5),
    ),
    **ENVELOPE,
)
ACCIDENTS = st.builds(
    AccidentRecordEvent,
    data=st.builds(
        AccidentRecord,
        record_id=IDENT,
        severity=st.sampled_from(Severity),
        vehicles=BIG_INTS,
        injured=BIG_INTS,
        killed=BIG_INTS,
        road=st.none() | texts(MAX_MATCH_INPUT + 1),
        factors=st.lists(texts(40), max_size=5) | st.just(["f" * 1000] * 30),
    ),
    **ENVELOPE,
)
EVENTS: dict[type[BaseModel], st.SearchStrategy[Any]] = {
    VideoDetectionEvent: VIDEOS,
    EmergencyCallEvent: CALLS,
    AccidentRecordEvent: ACCIDENTS,
}
SCOPES = {model: Scope.event(model) for model in EVENTS}


def paths(model: type[BaseModel]) -> dict[str, list[str]]:
    """Field paths of an event type by kind (string, int, ..., geo), three levels deep."""
    out: dict[str, list[str]] = {}

    def walk(t: Type, prefix: str, depth: int) -> None:
        if t.kind == "object" and t.is_geo():
            out.setdefault("geo", []).append(prefix)
        if t.kind == "object" and depth < 3:
            for name in field_names(t):
                ft = field_type(t, name)
                if ft is not None:
                    walk(ft, f"{prefix}.{name}" if prefix else name, depth + 1)
        elif t.kind != "object":
            out.setdefault(t.kind if t.kind != "list" else f"list({t.elem})", []).append(prefix)

    walk(object_of(model), "", 0)
    return out


PATHS = {model: paths(model) for model in EVENTS}


# --- expressions ----------------------------------------------------------------------------------------


def lit(s: str) -> str:
    """A string literal of the expression language for s."""
    body = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{body}"'


_REGEX_ALPHABET = "ab()[]{}*+?|^$\\.dwsLp0123,:=!<>PQE-"
_REGEX_SAMPLES = [
    "(a+)+$",
    "(a|aa)*b",
    "(a|a)*$",
    "^(\\d+)\\s*(\\w+)$",
    "(x+x+)+y",
    "(?i)fire|smoke",
    "\\pL+",
    "[ab]*a[ab]{20}c",
    "(a)\\1",
    "(?=a)",
    "(?<!a)b",
    "a{1001}",
    "(?P<n>a)(?P=n)",
    "a*+",
    "(?>a)",
    "[[:alpha:]]+",
    "\\Qa+\\E",
    "(",
    "[",
    "\\",
    "(?#c)a",
    "a{,3}",
    "a{2}{3}",
    "((((((((a))))))))*",
]
REGEXES = st.one_of(st.sampled_from(_REGEX_SAMPLES), st.text(_REGEX_ALPHABET, max_size=24))

_INT_LITERALS = ["0", "1", "7", "-3", "9223372036854775807", "-9223372036854775808", "4294967296", "3037000500"]
_FLOAT_LITERALS = ["0.5", "1e308", "1e-308", "0.0", "-2.5", "3.0e2", "1.7976931348623157e308"]

Gen = Callable[[str, int], st.SearchStrategy[str]]


def typed(model: type[BaseModel]) -> Gen:
    """A generator of well-typed expressions over an event type: most compile, so evaluation is fuzzed."""
    return functools.partial(_typed, model)


@functools.cache
def _typed(model: type[BaseModel], kind: str, depth: int) -> st.SearchStrategy[str]:
    by_kind = PATHS[model]

    def leaf(kind: str) -> st.SearchStrategy[str]:
        found = by_kind.get(kind, [])
        fields = [st.sampled_from(found)] if found else []
        base: dict[str, st.SearchStrategy[str]] = {
            "int": st.one_of(st.sampled_from(_INT_LITERALS), st.integers(-(10**6), 10**6).map(str)),
            "float": st.one_of(st.sampled_from(_FLOAT_LITERALS), st.floats(-1e6, 1e6).map(repr)),
            "string": st.one_of(st.text(max_size=8).map(lit), st.sampled_from(['"fire"', '""', lit("ж" * 300)])),
            "bool": st.sampled_from(["true", "false", "null"]),
            "timestamp": st.sampled_from(["time", "received_time"]),
            "duration": st.sampled_from(['duration("5m")', 'duration("1d")', 'duration("0s")', 'duration("2h")']),
            "geo": st.sampled_from(["location", "point(43.2, 76.9)"]),
            "list(string)": st.sampled_from(['["a", "b"]', "[]"]),
        }
        return st.one_of(*fields, base.get(kind, st.just("null")))

    if depth <= 0:
        return leaf(kind)

    def g(k: str) -> st.SearchStrategy[str]:
        return st.deferred(lambda: _typed(model, k, depth - 1))

    def fmt(template: str, *parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.tuples(*parts).map(lambda xs: template.format(*xs))

    ops: dict[str, list[st.SearchStrategy[str]]] = {
        "int": [
            fmt("({} {} {})", g("int"), st.sampled_from(["+", "-", "*", "%"]), g("int")),
            fmt("-{}", g("int")),
            fmt("size({})", g("string")),
            fmt("int({})", st.one_of(g("string"), g("float"), g("timestamp"), g("duration"))),
            fmt("abs({})", g("int")),
            fmt("min({}, {})", g("int"), g("int")),
            fmt("{}({})", st.sampled_from(["hour", "minute", "weekday"]), g("timestamp")),
            fmt("({} ? {} : {})", g("bool"), g("int"), g("int")),
        ],
        "float": [
            fmt("({} {} {})", g("float"), st.sampled_from(["+", "-", "*", "/"]), st.one_of(g("int"), g("float"))),
            fmt("float({})", st.one_of(g("string"), g("int"), g("timestamp"))),
            fmt("distance_m({}, {})", g("geo"), g("geo")),
            fmt("({} / {})", g("int"), g("int")),
            fmt("max({}, {})", g("float"), g("int")),
        ],
        "string": [
            fmt("({} + {})", g("string"), g("string")),
            fmt("{}({})", st.sampled_from(["lower", "upper"]), g("string")),
            fmt("{}.upper()", g("string")),
            fmt("string({})", st.one_of(*(g(k) for k in ("int", "float", "timestamp", "duration", "bool")))),
            fmt("string({})", g("list(string)")),
            fmt("date({})", g("timestamp")),
            fmt("cell({}, {})", g("geo"), st.sampled_from(["1", "500", "1000000"])),
            fmt("{}[{}]", g("list(string)"), g("int")),
        ],
        "bool": [
            fmt("({} {} {})", g("int"), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), g("float")),
            fmt("({} {} {})", g("string"), st.sampled_from(["<", "==", "!=", "in"]), g("string")),
            fmt("({} {} {})", g("timestamp"), st.sampled_from(["<", "=="]), g("timestamp")),
            fmt("({} {} {})", g("bool"), st.sampled_from(["&&", "||", "==", "and", "or"]), g("bool")),
            fmt("!{}", g("bool")),
            fmt("matches({}, {})", g("string"), REGEXES.map(lit)),
            fmt("{}.{}({})", g("string"), st.sampled_from(["contains", "startsWith", "endsWith"]), g("string")),
            fmt("({} in {})", g("string"), g("list(string)")),
            fmt("has({})", st.sampled_from([p for k in by_kind.values() for p in k] or ["time"])),
            fmt('in_zone({}, "school")', g("geo")),
            fmt('time_between({}, "22:00", "06:00")', g("timestamp")),
            fmt("({} == {})", g("list(string)"), g("list(string)")),
        ],
        "timestamp": [
            fmt("({} {} {})", g("timestamp"), st.sampled_from(["+", "-"]), g("duration")),
            fmt("({} ? {} : {})", g("bool"), g("timestamp"), g("timestamp")),
        ],
        "duration": [
            fmt("({} - {})", g("timestamp"), g("timestamp")),
            fmt("({} * {})", g("duration"), st.one_of(g("float"), g("int"))),
            fmt("({} / {})", g("duration"), g("int")),
        ],
        "geo": [fmt("point({}, {})", g("float"), g("float"))],
        "list(string)": [
            fmt("({} + {})", g("list(string)"), g("list(string)")),
            fmt("[{}, {}]", g("string"), g("string")),
        ],
    }
    return st.one_of(leaf(kind), *ops.get(kind, []))


def untyped() -> st.SearchStrategy[str]:
    """Syntax of every shape with little regard for types: exercises the parser and the compiler's errors."""
    leaves = st.one_of(
        st.sampled_from(
            [
                "data",
                "data.label",
                "location",
                "time",
                "x",
                "null",
                "true",
                "count",
                "fire.data",
                "__class__",
                *_INT_LITERALS,
                *_FLOAT_LITERALS,
                "9" * 70,
                "1e400",
                "1.5e",
                "0x10",
                "5m",
            ]
        ),
        st.text(max_size=6).map(lit),
        REGEXES.map(lit),
    )

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        two = st.tuples(children, children)
        return st.one_of(
            st.tuples(st.sampled_from(["!", "-", "not ", "!!", "--"]), children).map("".join),
            st.tuples(
                children, st.sampled_from(["+", "-", "*", "/", "%", "==", "<", "in", "&&", "||", "and"]), children
            ).map(" ".join),
            children.map(lambda c: f"({c})"),
            st.tuples(children, children, children).map(lambda t: f"{t[0]} ? {t[1]} : {t[2]}"),
            st.tuples(
                st.sampled_from(
                    ["size", "lower", "matches", "int", "string", "min", "duration", "cell", "point", "has", "nope"]
                ),
                st.lists(children, max_size=3),
            ).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
            st.tuples(
                children,
                st.sampled_from(["lower", "upper", "size", "matches", "format"]),
                st.lists(children, max_size=2),
            ).map(lambda t: f"{t[0]}.{t[1]}({', '.join(t[2])})"),
            two.map(lambda t: f"{t[0]}[{t[1]}]"),
            children.map(lambda c: f"{c}.field"),
            st.lists(children, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        )

    return st.recursive(leaves, extend, max_leaves=25)


# --- checks ---------------------------------------------------------------------------------------------

_VALUES = (type(None), bool, int, float, str, datetime, tuple, list, dict, Point, BaseModel, msgspec.Struct)


def _value_ok(v: Any) -> bool:
    if isinstance(v, str):
        return True
    if isinstance(v, tuple | list):
        return all(_value_ok(x) for x in v)
    return isinstance(v, _VALUES)


def compiles(text: str, scope: Scope, expect: type | None = None) -> Callable[[Any], Any] | None:
    """The closure of an accepted expression, or None; anything but a located RuleError fails."""
    try:
        return compile_expr(text, scope, origin=ORIGIN, env=ENV, expect=expect).fn
    except RuleError as exc:
        assert exc.message and exc.location is not None and exc.location.line >= ORIGIN.line
        assert exc.location.col >= 1
        return None


def evaluate(fn: Callable[[Any], Any], event: BaseModel, condition: bool) -> None:
    for target in (event, record_from_model(event)):
        v = fn(target)
        assert _value_ok(v), repr(v)[:200]
        if isinstance(v, str):  # built strings are cut; the longest generated field is MAX_STRING + 5
            assert len(v) <= MAX_STRING + 5, len(v)
        if condition:
            assert v in (True, False, None), repr(v)[:200]


def _event_cases() -> st.SearchStrategy[tuple[type[BaseModel], Any]]:
    return st.sampled_from(list(EVENTS)).flatmap(lambda m: st.tuples(st.just(m), st.data()))


# --- the layers -----------------------------------------------------------------------------------------

_EXPR_CHARS = st.text(
    st.one_of(st.sampled_from(list("()[]{}.,:?!=<>&|+-*/%'\"\\ _abcdefxyz0123456789eE\n\t")), st.characters()),
    max_size=60,
)


def check_lexer(text: str) -> None:
    with bounded():
        try:
            tokens = tokenize(text)
        except ExprError as exc:
            assert exc.message and 0 <= exc.offset <= len(text)
            return
        assert tokens[-1].kind == "eof"


def check_parser(text: str) -> None:
    with bounded():
        try:
            parse(text)
        except ExprError as exc:
            assert exc.message and 0 <= exc.offset <= len(text)


def check_text(text: str, model: type[BaseModel], data: st.DataObject) -> None:
    with bounded():
        fn = compiles(text, SCOPES[model])
        if fn is not None:
            evaluate(fn, data.draw(EVENTS[model]), condition=False)


def check_typed(model: type[BaseModel], data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["bool", "bool", "int", "float", "string", "timestamp", "duration"]))
    text = data.draw(typed(model)(kind, 3))
    event = data.draw(EVENTS[model])
    with bounded():
        fn = compiles(text, SCOPES[model], bool if kind == "bool" else None)
        if fn is not None:
            evaluate(fn, event, condition=kind == "bool")


BINDINGS = Scope.bindings(
    {"fire": VideoDetectionEvent, "call": EmergencyCallEvent, "count": int, "sum": float, "group": str}
)
_PLACEHOLDER_PATHS = [
    "fire.data.camera_id",
    "call.data.description",
    "count",
    "sum",
    "group",
    "fire.time",
    "call.location",
]


def templates() -> st.SearchStrategy[str]:
    expr = st.one_of(
        st.sampled_from(_PLACEHOLDER_PATHS),
        typed(VideoDetectionEvent)("string", 2).map(lambda t: t.replace("data.", "fire.data.")),
        st.tuples(
            st.sampled_from(_PLACEHOLDER_PATHS), st.sampled_from([" + 1", " * 2", ".size()", " > 1", "]", "{"])
        ).map("".join),
        untyped(),
    )
    piece = st.one_of(
        st.text(max_size=10), st.sampled_from(["{{", "}}", "{", "}", "{}", "'", '"']), expr.map(lambda e: "{" + e + "}")
    )
    return st.lists(piece, max_size=8).map("".join)


def check_template(text: str, data: st.DataObject) -> None:
    ctx = {
        "fire": data.draw(st.none() | VIDEOS),
        "call": data.draw(st.none() | CALLS),
        "count": data.draw(st.none() | BIG_INTS),
        "sum": data.draw(st.none() | st.floats()),
        "group": data.draw(st.none() | texts(MAX_STRING + 10)),
    }
    with bounded():
        try:
            render = compile_template(text, BINDINGS, origin=ORIGIN, env=ENV).fn
        except RuleError as exc:
            assert exc.message and exc.location is not None and exc.location.col >= 1
            return
        out = render(ctx)
        assert isinstance(out, str) and len(out) <= MAX_STRING


CATALOG = Path(__file__).resolve().parents[2] / "rules" / "catalog"


def _catalog_texts() -> list[str]:
    found: list[str] = []

    def walk(v: Any, key: str = "") -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k != "tests":
                    walk(x, str(k))
        elif isinstance(v, list):
            for x in v:
                walk(x, key)
        elif isinstance(v, str) and (key in ("where", "of", "when", "key", "title", "summary", "group_by") or "{" in v):
            found.append(v)

    for f in sorted(CATALOG.rglob("*.yaml")):
        walk(yaml.safe_load(f.read_text(encoding="utf-8")))
    return sorted(set(found))


CATALOG_TEXTS = _catalog_texts()
_JUNK = [
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "'",
    '"',
    "\\",
    "!",
    "-",
    "9" * 70,
    "1e999",
    " && ",
    " || ",
    ".",
    ",",
    "size(",
    "ж",
]


def check_mutated(source: str, pos: int, junk: str, cut: int, model: type[BaseModel], data: st.DataObject) -> None:
    pos %= len(source) + 1
    text = source[:pos] + junk + source[pos + cut % 4 :]
    with bounded():
        for scope in (SCOPES[model], BINDINGS):
            fn = compiles(text, scope)
            if fn is not None and scope is SCOPES[model]:
                evaluate(fn, data.draw(EVENTS[model]), condition=False)
        try:
            compile_template(text, BINDINGS, origin=ORIGIN, env=ENV)
        except RuleError as exc:
            assert exc.location is not None


_ADVERSARIAL = ["a" * 5000, "ab" * 2500, "a" * 4999 + "!", "1" * 5000 + "!", "ж" * 5000, "aab" * 1700]


def check_regex(pattern: str, fallback: bool) -> None:
    """A pattern is refused at lint (ExprError), or it answers the worst inputs in bounded time."""
    saved = regex.RE2
    if fallback:
        regex.RE2 = None
    try:
        with bounded():
            try:
                search = regex.compile_regex(pattern)
            except ExprError as exc:
                assert exc.message
                return
            limit = FALLBACK_MATCH_INPUT if fallback else MAX_MATCH_INPUT
            for text in _ADVERSARIAL:
                assert search(text[:limit]) in (True, False)
                assert search(text[:limit] + "x" * (limit + 1)) is None
    finally:
        regex.RE2 = saved


# --- the default run: a few seconds ---------------------------------------------------------------------


@QUICK
@given(_EXPR_CHARS)
def test_lexer(text: str) -> None:
    check_lexer(text)


@QUICK
@given(st.one_of(_EXPR_CHARS, untyped()))
def test_parser(text: str) -> None:
    check_parser(text)


@FAST
@given(st.one_of(_EXPR_CHARS, untyped()), st.sampled_from(list(EVENTS)), st.data())
def test_random_text_compiles_or_is_located(text: str, model: type[BaseModel], data: st.DataObject) -> None:
    check_text(text, model, data)


@FAST
@given(st.sampled_from(list(EVENTS)), st.data())
def test_typed_expressions_never_raise_on_random_events(model: type[BaseModel], data: st.DataObject) -> None:
    check_typed(model, data)


@FAST
@given(templates(), st.data())
def test_templates(text: str, data: st.DataObject) -> None:
    check_template(text, data)


@FAST
@given(
    st.sampled_from(CATALOG_TEXTS),
    st.integers(0, 500),
    st.sampled_from(_JUNK),
    st.integers(0, 3),
    st.sampled_from(list(EVENTS)),
    st.data(),
)
def test_mutated_catalog_expressions(
    source: str, pos: int, junk: str, cut: int, model: type[BaseModel], data: st.DataObject
) -> None:
    check_mutated(source, pos, junk, cut, model, data)


@FAST
@given(REGEXES, st.booleans())
def test_regexes_on_re2_and_the_fallback(pattern: str, fallback: bool) -> None:
    check_regex(pattern, fallback)


def test_the_typed_generator_mostly_compiles() -> None:
    """Evaluation is only fuzzed if generated expressions are accepted: check that most are."""
    accepted = 0
    rng = st.sampled_from(list(EVENTS))

    @settings(FAST, max_examples=100)
    @given(rng, st.data())
    def count(model: type[BaseModel], data: st.DataObject) -> None:
        nonlocal accepted
        text = data.draw(typed(model)("bool", 3))
        accepted += compiles(text, SCOPES[model], bool) is not None

    count()
    assert accepted > 50, accepted


# --- the slow run: over 100,000 cases -------------------------------------------------------------------


@pytest.mark.slow
@slow("lexer")
@given(_EXPR_CHARS)
def test_lexer_slow(text: str) -> None:
    check_lexer(text)


@pytest.mark.slow
@slow("parser")
@given(st.one_of(_EXPR_CHARS, untyped()))
def test_parser_slow(text: str) -> None:
    check_parser(text)


@pytest.mark.slow
@slow("text")
@given(st.one_of(_EXPR_CHARS, untyped()), st.sampled_from(list(EVENTS)), st.data())
def test_random_text_slow(text: str, model: type[BaseModel], data: st.DataObject) -> None:
    check_text(text, model, data)


@pytest.mark.slow
@slow("typed")
@given(st.sampled_from(list(EVENTS)), st.data())
def test_typed_expressions_slow(model: type[BaseModel], data: st.DataObject) -> None:
    check_typed(model, data)


@pytest.mark.slow
@slow("template")
@given(templates(), st.data())
def test_templates_slow(text: str, data: st.DataObject) -> None:
    check_template(text, data)


@pytest.mark.slow
@slow("mutated")
@given(
    st.sampled_from(CATALOG_TEXTS),
    st.integers(0, 500),
    st.sampled_from(_JUNK),
    st.integers(0, 3),
    st.sampled_from(list(EVENTS)),
    st.data(),
)
def test_mutated_catalog_expressions_slow(
    source: str, pos: int, junk: str, cut: int, model: type[BaseModel], data: st.DataObject
) -> None:
    check_mutated(source, pos, junk, cut, model, data)


@pytest.mark.slow
@slow("regex")
@given(REGEXES, st.booleans())
def test_regexes_slow(pattern: str, fallback: bool) -> None:
    check_regex(pattern, fallback)


def test_the_slow_run_has_over_100000_cases() -> None:
    assert sum(SLOW_CASES.values()) >= 100_000
