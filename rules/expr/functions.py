"""The whitelist of functions callable from expressions. Each entry type-checks its arguments at compile
time and returns a closure; any null argument gives null unless the function says otherwise."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from rules.errors import ExprError
from rules.expr.limits import INT_MAX, INT_MIN, MAX_CELL_M, MAX_STRING, MIN_CELL_M, cut
from rules.expr.parser import Call, Index, Name, Select
from rules.expr.regex import compile_regex
from rules.expr.types import (
    BOOL,
    DURATION,
    FLOAT,
    INT,
    POINT,
    STRING,
    Fn,
    Type,
    Typed,
    constant,
)
from rules.geo import cell_id, distance_m
from rules.units import format_duration, parse_duration


class Ctx(Protocol):
    """What a function may ask of the compiler: the ruleset timezone and the zone index."""

    zones: Any

    def tz(self, offset: int) -> ZoneInfo: ...


@dataclass(frozen=True, slots=True)
class Point:
    """The value of point(lat, lon): reads like a GeoPoint record."""

    lat: float
    lon: float


Builder = Callable[[Ctx, list[Typed], Call], Typed]


@dataclass(frozen=True, slots=True)
class Func:
    signature: str
    min_args: int
    max_args: int | None
    build: Builder
    method: bool = False


# --- helpers ------------------------------------------------------------------------------------


def _need(call: Call, args: list[Typed], i: int, *kinds: str) -> None:
    t = args[i].type
    if t.kind not in kinds and t.kind != "null":  # a value of unknown type (dyn) is not accepted either
        want = " or ".join(kinds)
        raise ExprError(f"{call.func}() argument {i + 1} must be {want}, got {t}", call.args[i].offset)


def _literal(call: Call, args: list[Typed], i: int, what: str) -> Any:
    if not args[i].const or args[i].value is None:
        raise ExprError(f"{call.func}() argument {i + 1} must be a literal {what}", call.args[i].offset)
    return args[i].value


def lift1(f: Callable[[Any], Any], a: Fn) -> Fn:
    def fn(o: Any) -> Any:
        v = a(o)
        return None if v is None else f(v)

    return fn


def lift2(f: Callable[[Any, Any], Any], a: Fn, b: Fn) -> Fn:
    def fn(o: Any) -> Any:
        x = a(o)
        if x is None:
            return None
        y = b(o)
        return None if y is None else f(x, y)

    return fn


def _result(t: Type, fn: Fn, args: list[Typed]) -> Typed:
    """Fold calls whose arguments are all constants (the functions are pure)."""
    if args and all(a.const for a in args):
        return constant(t, fn(None))
    return Typed(t, fn)


def int_or_null(v: int) -> int | None:
    """Ints are 64-bit: a result outside the range is null."""
    return v if INT_MIN <= v <= INT_MAX else None


def _int_text(v: int) -> str | None:
    if -(10**18) < v < 10**18:
        return str(v)
    try:
        return cut(str(v))
    except ValueError:  # an event's int of more than 4300 digits: Python refuses to write it
        return None


def _local_text(tz: ZoneInfo | None) -> Callable[[Any], str | None]:
    def show(v: datetime) -> str | None:
        try:
            return v.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        except (OverflowError, ValueError):  # 9999-12-31T23:59Z is in year 10000 at UTC+5
            return None

    return show


def to_string(t: Type, tz: ZoneInfo | None) -> Callable[[Any], str | None]:
    """How string() and templates show a value of static type t (null is handled by the caller): at most
    MAX_STRING characters, or None when the value cannot be shown."""
    if t.kind == "bool":
        return lambda v: "true" if v else "false"
    if t.kind == "float":
        return format_float
    if t.kind == "int":
        return _int_text
    if t.kind == "duration":
        return lambda v: format_duration(float(v))
    if t.kind == "timestamp":
        return _local_text(tz)
    if t.kind == "string":
        return lambda v: cut(str(v))  # str() of a StrEnum member is its value
    if t.kind == "list" and t.elem is not None:
        return _list_text(to_string(t.elem, tz))
    if t.kind == "point":
        return lambda v: f"{format_float(v.lat)},{format_float(v.lon)}"
    return lambda v: format_float(v) if isinstance(v, float) else cut(str(v))


def _list_text(item: Callable[[Any], str | None]) -> Callable[[Any], str]:
    def show(v: Any) -> str:
        parts: list[str] = []
        size = 0
        for x in v:
            text = "" if x is None else item(x) or ""
            parts.append(text)
            size += len(text) + 2
            if size > MAX_STRING:
                break
        return cut(", ".join(parts))

    return show


def format_float(v: float) -> str:
    """Up to 2 decimals, trailing zeros trimmed: 0.93, 3, 12.5."""
    if not math.isfinite(v):
        return str(v)
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


# --- strings ------------------------------------------------------------------------------------


def _size(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    _need(call, args, 0, "list", "string", "map")
    return _result(INT, lift1(len, args[0].fn), args)


def _case(f: Callable[[str], str]) -> Builder:
    def build(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
        _need(call, args, 0, "string")
        return _result(STRING, lift1(lambda s: cut(f(s)), args[0].fn), args)  # "ß".upper() is "SS"

    return build


def _string_test(f: Callable[[str, str], bool]) -> Builder:
    def build(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
        _need(call, args, 0, "string")
        _need(call, args, 1, "string")
        return _result(BOOL, lift2(f, args[0].fn, args[1].fn), args)

    return build


def _matches(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    _need(call, args, 0, "string")
    pattern = _literal(call, args, 1, "string (the regular expression)")
    if not isinstance(pattern, str):
        raise ExprError("matches() needs a string regular expression", call.args[1].offset)
    try:
        search = compile_regex(pattern)  # RE2: linear time; refusals point at the pattern
    except ExprError as exc:
        raise ExprError(exc.message, call.args[1].offset) from None
    return _result(BOOL.maybe_null(), lift1(search, args[0].fn), args[:1])


def _has(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    if not isinstance(call.args[0], Name | Select | Index):
        raise ExprError("has() needs a field path, e.g. has(data.phone)", call.args[0].offset)
    a = args[0].fn
    return Typed(BOOL, lambda o: a(o) is not None)


# --- conversions and numbers --------------------------------------------------------------------


def _parse(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse(v: Any) -> Any:
        try:
            return f(v)
        except (ValueError, OverflowError):
            return None  # an unparseable string is null, never an exception in the engine

    return parse


def _to_int(v: Any) -> int | None:
    # int("9" * 5000) raises ValueError (more than 4300 digits), int(1e300) is beyond 64 bits: both null
    return int_or_null(int(v))


def _int(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    _need(call, args, 0, "int", "float", "string", "bool", "timestamp", "duration")
    kind = args[0].type.kind
    f: Callable[[Any], Any] = (lambda v: int(v.timestamp())) if kind == "timestamp" else _parse(_to_int)
    return _result(INT.maybe_null(), lift1(f, args[0].fn), args)  # int("x") is null


def _float(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    _need(call, args, 0, "int", "float", "string", "duration", "timestamp")
    kind = args[0].type.kind
    f: Callable[[Any], Any] = (lambda v: v.timestamp()) if kind == "timestamp" else _parse(float)
    return _result(FLOAT.maybe_null(), lift1(f, args[0].fn), args)


def _string(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    tz = ctx.tz(call.offset) if args[0].type.kind == "timestamp" else None
    return _result(STRING.maybe_null(), lift1(to_string(args[0].type, tz), args[0].fn), args)


def _abs(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    _need(call, args, 0, "int", "float", "duration")
    f: Callable[[Any], Any] = (lambda v: int_or_null(abs(v))) if args[0].type.kind == "int" else abs
    return _result(args[0].type.maybe_null(), lift1(f, args[0].fn), args)


def _extreme(pick: Callable[..., Any]) -> Builder:
    def build(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
        kinds = {a.type.kind for a in args} - {"null"}
        for i in range(len(args)):
            _need(call, args, i, "int", "float", "string", "timestamp", "duration")
        if len(kinds - {"int", "float"}) > 1 or (kinds - {"int", "float"} and kinds & {"int", "float"}):
            raise ExprError(
                f"{call.func}() arguments must all be numbers, strings, timestamps or durations", call.offset
            )
        t = FLOAT if "float" in kinds else Type(next(iter(kinds))) if len(kinds) == 1 else INT
        if any(a.type.nullable for a in args):  # one null argument makes the result null
            t = t.maybe_null()
        fns = tuple(a.fn for a in args)

        def fn(o: Any) -> Any:
            values = [f(o) for f in fns]
            return None if None in values else pick(values)

        if t.kind == "float":  # ints and floats mixed: the result is a float, whichever argument won

            def as_float(o: Any) -> Any:
                v = fn(o)
                try:
                    return None if v is None else float(v)
                except OverflowError:  # an event's int beyond a float's range
                    return None

            return _result(t, as_float, args)
        return _result(t, fn, args)

    return build


# --- time ---------------------------------------------------------------------------------------


def _duration(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    text = _literal(call, args, 0, 'string such as "5m"')
    try:
        seconds = parse_duration(text, math.inf) if isinstance(text, str) else _bad_duration(text)
    except ValueError as exc:
        raise ExprError(str(exc), call.args[0].offset) from None
    if not math.isfinite(seconds) or seconds > _MAX_DURATION_S:
        raise ExprError("duration out of range (at most 10000 years)", call.args[0].offset)
    return constant(DURATION, seconds)


_MAX_DURATION_S = 10_000 * 366 * 86400.0


def _seconds(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    """A duration as a number of seconds (a float), for arithmetic with numbers: a speed in m/s is
    `distance_m(a.location, b.location) / seconds(b.time - a.time)`."""
    _need(call, args, 0, "duration")
    return _result(FLOAT.maybe_null() if args[0].type.nullable else FLOAT, lift1(float, args[0].fn), args)


def _bad_duration(value: Any) -> float:
    raise ValueError(f'duration() takes a string such as "90s", "5m", "2h", "1d", not {value!r}')


def _in_tz(v: datetime, tz: ZoneInfo) -> datetime | None:
    try:
        return v.astimezone(tz)
    except (OverflowError, ValueError):  # 9999-12-31T23:59Z is in year 10000 at UTC+5: null
        return None


def _local(field: Callable[[datetime], Any], t: Type) -> Builder:
    def build(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
        _need(call, args, 0, "timestamp")
        tz = ctx.tz(call.offset)

        def fn(v: datetime) -> Any:
            d = _in_tz(v, tz)
            return None if d is None else field(d)

        return Typed(t.maybe_null(), lift1(fn, args[0].fn))

    return build


def _clock(call: Call, args: list[Typed], i: int) -> int:
    text = _literal(call, args, i, 'time of day such as "22:00"')
    try:
        parsed = time.fromisoformat(text) if isinstance(text, str) and len(text) in (5, 8) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ExprError(f'not a time of day: {text!r} (write "HH:MM", e.g. "22:00")', call.args[i].offset)
    return parsed.hour * 3600 + parsed.minute * 60 + parsed.second


def _time_between(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    _need(call, args, 0, "timestamp")
    start, end = _clock(call, args, 1), _clock(call, args, 2)
    tz = ctx.tz(call.offset)

    def inside(v: datetime) -> bool | None:
        local = _in_tz(v, tz)
        if local is None:
            return None
        s = local.hour * 3600 + local.minute * 60 + local.second
        return start <= s < end if start <= end else (s >= start or s < end)  # wraps midnight

    return Typed(BOOL.maybe_null(), lift1(inside, args[0].fn))


# --- space --------------------------------------------------------------------------------------


def _geo(call: Call, args: list[Typed], i: int) -> None:
    t = args[i].type
    if not (t.is_geo() or t.kind in ("null", "dyn")):
        raise ExprError(f"{call.func}() argument {i + 1} must be a location or point(), got {t}", call.args[i].offset)


def _point(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    _need(call, args, 0, "int", "float")
    _need(call, args, 1, "int", "float")
    for i, limit in ((0, 90.0), (1, 180.0)):
        if args[i].const and args[i].value is not None and abs(args[i].value) > limit:
            raise ExprError(f"point() {'latitude' if i == 0 else 'longitude'} out of range", call.args[i].offset)
    return _result(POINT.maybe_null(), lift2(_make_point, args[0].fn, args[1].fn), args)


def _make_point(lat: Any, lon: Any) -> Point | None:
    """A point, or null for a latitude or longitude out of range (or not a number a float can hold)."""
    try:
        p = Point(float(lat), float(lon))
    except OverflowError:
        return None
    return p if -90.0 <= p.lat <= 90.0 and -180.0 <= p.lon <= 180.0 else None


def _distance(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    _geo(call, args, 0)
    _geo(call, args, 1)
    # an event without a location has no distance: null, so the result is nullable when an argument is
    t = FLOAT.maybe_null() if any(a.type.nullable for a in args) else FLOAT
    return Typed(t, lift2(lambda a, b: distance_m(a.lat, a.lon, b.lat, b.lon), args[0].fn, args[1].fn))


def _in_zone(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    _geo(call, args, 0)
    label = _literal(call, args, 1, "string (a zone id, name or kind)")
    if not isinstance(label, str):
        raise ExprError("in_zone() needs a string zone label", call.args[1].offset)
    zones, loc = ctx.zones, args[0].fn
    if zones is None:
        return Typed(BOOL, lambda o: False)
    contains = zones.contains

    def fn(o: Any) -> bool:
        p = loc(o)
        return p is not None and bool(contains(p.lat, p.lon, label))

    return Typed(BOOL, fn)


def _cell(ctx: Ctx, args: list[Typed], call: Call) -> Typed:
    _geo(call, args, 0)
    size = _literal(call, args, 1, "number of metres")
    if isinstance(size, bool) or not isinstance(size, int | float) or size <= 0:
        raise ExprError("cell() size must be a positive number of metres", call.args[1].offset)
    if not MIN_CELL_M <= size <= MAX_CELL_M:
        raise ExprError(f"cell() size must be {MIN_CELL_M:g} to {MAX_CELL_M:g} metres", call.args[1].offset)
    return Typed(STRING, lift1(lambda p: cell_id(p.lat, p.lon, float(size)), args[0].fn))


def _weekday(d: datetime) -> int:
    return d.isoweekday()


FUNCTIONS: dict[str, Func] = {
    "size": Func("size(list|string|map) -> int", 1, 1, _size, method=True),
    "lower": Func("lower(string) -> string", 1, 1, _case(str.lower), method=True),
    "upper": Func("upper(string) -> string", 1, 1, _case(str.upper), method=True),
    "contains": Func("contains(string, string) -> bool", 2, 2, _string_test(lambda s, t: t in s), method=True),
    "startsWith": Func("startsWith(string, string) -> bool", 2, 2, _string_test(str.startswith), method=True),
    "endsWith": Func("endsWith(string, string) -> bool", 2, 2, _string_test(str.endswith), method=True),
    "matches": Func('matches(string, "regex") -> bool', 2, 2, _matches, method=True),
    "has": Func("has(path) -> bool", 1, 1, _has),
    "int": Func("int(x) -> int", 1, 1, _int),
    "float": Func("float(x) -> float", 1, 1, _float),
    "string": Func("string(x) -> string", 1, 1, _string),
    "abs": Func("abs(number) -> number", 1, 1, _abs),
    "min": Func("min(a, b, ...)", 1, None, _extreme(min)),
    "max": Func("max(a, b, ...)", 1, None, _extreme(max)),
    "duration": Func('duration("5m") -> duration', 1, 1, _duration),
    "seconds": Func("seconds(duration) -> float", 1, 1, _seconds),
    "hour": Func("hour(timestamp) -> int", 1, 1, _local(lambda d: d.hour, INT)),
    "minute": Func("minute(timestamp) -> int", 1, 1, _local(lambda d: d.minute, INT)),
    "weekday": Func("weekday(timestamp) -> int (1 = Monday)", 1, 1, _local(_weekday, INT)),
    "date": Func('date(timestamp) -> "YYYY-MM-DD"', 1, 1, _local(lambda d: d.strftime("%Y-%m-%d"), STRING)),
    "time_between": Func('time_between(timestamp, "HH:MM", "HH:MM") -> bool', 3, 3, _time_between),
    "point": Func("point(lat, lon) -> point", 2, 2, _point),
    "distance_m": Func("distance_m(location, location) -> float", 2, 2, _distance),
    "in_zone": Func('in_zone(location, "label") -> bool', 2, 2, _in_zone),
    "cell": Func("cell(location, metres) -> string", 2, 2, _cell),
}
