"""The expression language of rules: a safe subset of CEL, type-checked against the event schema when a
rule loads and compiled to Python closures (no eval/exec, no attribute outside the schema).

Syntax
    literals     42  0.7  1e3  "text"  'text' (escapes \\n \\t \\\\ \\' \\")  true false null  ["a", "b"]
    paths        data.confidence  location.lat  data.labels["k"] (missing key: null)  data.factors[0]
    operators    lowest first:  c ? a : b   ||   &&   == != < <= > >= in   + -   * / %   ! - (unary)
                 `and`, `or`, `not` are aliases of &&, ||, !
    functions    size lower upper contains startsWith endsWith matches has int float string abs min max
                 duration hour minute weekday date time_between point distance_m in_zone cell
                 (size, lower, upper, contains, startsWith, endsWith, matches also as methods: s.lower())

Types: int, float, string, bool, timestamp, duration (float seconds at run time), list, map, records,
point. Field types come from the pydantic models (StrEnum and Literal[str] are strings, datetimes are
timestamps). int mixes with float (the result is float); `/` is true division and always gives a float;
`%` takes ints only (Python's sign rule); division by zero gives null. `+` also joins strings and lists.
timestamp - timestamp is a duration; timestamp ± duration a timestamp; durations compare with durations.
Comparing or mixing unrelated types (string with int, ...) is a compile error.
`in` tests list membership, a substring (`"gas" in data.description`) or a map key.

Null: a path through null (an optional field, a selection absent from the match) is null, never an
error. `==`/`!=` compare values, so `x == null` tests for null and `null == 1` is false; every other
comparison, arithmetic and function of null gives null (`!null` is null; has(), distance_m() and
in_zone() say otherwise below). `&&`, `||` and `?:` treat null as false and always give true/false:
`null && x` is false, `null || x` is x. A condition that evaluates to null does not hold.

Local time functions (hour, minute, weekday 1=Mon..7=Sun, date "YYYY-MM-DD", time_between [from, to)
wrapping midnight) use the rule set's timezone. Literal-only arguments: the regex of matches() (run on
RE2, linear time: rules/expr/regex.py), duration("5m"), the zone label of in_zone(), the size of cell(),
the clock times of time_between(). distance_m(a, b) is null when either is null; in_zone() is false for
a null location or when no zones are loaded.

Bounds (rules/expr/limits.py): lint refuses, at the offending token, an expression over 2,000 characters,
a number literal over 64 characters or an int outside 64 bits or an infinite float, a string literal
over 1,000 characters, a list literal over 500 items, a tree deeper than 64 levels, a template over
10,000 characters or 64 placeholders. At run time nothing raises: int arithmetic leaving 64 bits,
timestamps leaving years 1..9999, values that cannot be shown and matches() of a string over 2,000
characters give null, and strings built by `+`, string(), lower(), upper() and templates are cut to
10,000 characters (lists built by `+` to 10,000 items).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rules.errors import ExprError, ExprErrors, RuleError, RuleErrors, SourceLocation
from rules.expr.compiler import Compiler, ExprEnv, Path, Scope, equalities
from rules.expr.functions import FUNCTIONS, Point, to_string
from rules.expr.parser import parse
from rules.expr.template import join_parts, split_template
from rules.expr.types import Type

__all__ = [
    "FUNCTIONS",
    "CompiledExpr",
    "CompiledTemplate",
    "ExprEnv",
    "Point",
    "Scope",
    "Type",
    "compile_expr",
    "compile_template",
]


@dataclass(frozen=True)
class CompiledExpr:
    text: str
    fn: Callable[[Any], Any]
    result: Type
    equalities: tuple[tuple[Path, frozenset[Any]], ...] = ()


@dataclass(frozen=True)
class CompiledTemplate:
    text: str
    fn: Callable[[Any], str]


def _compile(
    text: str, scope: Scope, env: ExprEnv, expect: type | None, col_of: Callable[[int], int], base: int = 0
) -> CompiledExpr:
    try:
        node = parse(text, lambda off: col_of(off + base))
    except ExprError as exc:
        raise ExprError(exc.message, exc.offset + base) from None
    compiler = Compiler(scope, env)
    typed = compiler.compile(node)
    if compiler.errors:
        raise ExprErrors([ExprError(e.message, e.offset + base) for e in compiler.errors])
    if expect is bool and typed.type.kind not in ("bool", "null", "dyn"):
        raise ExprError(f"condition must be a boolean, got {typed.type}", base)
    if expect is bool and typed.type.kind == "null":
        raise ExprError("condition must be a boolean, got null", base)
    eqs = equalities(node, compiler.paths) if scope.kind == "event" and expect is bool else ()
    return CompiledExpr(text, typed.fn, typed.type, eqs)


def compile_expr(
    text: str,
    scope: Scope,
    origin: SourceLocation | None = None,
    env: ExprEnv | None = None,
    expect: type | None = None,
) -> CompiledExpr:
    """Compile one expression; any problem raises RuleError at the file position of the offending token."""
    origin = origin or SourceLocation("<expr>", 1, 1)
    try:
        return _compile(text, scope, env or ExprEnv(), expect, lambda off: origin.shifted(text, off).col)
    except ExprError as exc:
        raise _rule_errors(exc, text, origin) from None


def _rule_errors(exc: ExprError, text: str, origin: SourceLocation) -> RuleError:
    """An expression's problems as one RuleError (RuleErrors carrying each when there are several)."""
    each = exc.errors if isinstance(exc, ExprErrors) else [exc]
    errors = [RuleError(e.message, origin.shifted(text, e.offset)) for e in each]
    return errors[0] if len(errors) == 1 else RuleErrors(errors)


def compile_template(
    text: str, scope: Scope, origin: SourceLocation | None = None, env: ExprEnv | None = None
) -> CompiledTemplate:
    """Compile `{expr}` placeholders; each renders null as "", floats with up to 2 decimals, times local."""
    origin = origin or SourceLocation("<template>", 1, 1)
    env = env or ExprEnv()
    parts: list[str | Callable[[Any], str]] = []
    problems: list[ExprError] = []
    try:
        pieces = split_template(text)
    except ExprError as exc:
        raise _rule_errors(exc, text, origin) from None
    for piece in pieces:  # every placeholder is checked, whatever the others hold
        if not piece.expr:
            parts.append(piece.text)
            continue
        try:
            c = _compile(piece.text, scope, env, None, lambda off: origin.shifted(text, off).col, piece.offset)
            parts.append(_renderer(c, env, piece.offset))
        except ExprError as exc:
            problems.extend(exc.errors if isinstance(exc, ExprErrors) else [exc])
    if problems:
        raise _rule_errors(ExprErrors(problems), text, origin)
    return CompiledTemplate(text, join_parts(parts))


def _renderer(c: CompiledExpr, env: ExprEnv, offset: int) -> Callable[[Any], str]:
    tz = None
    if c.result.kind == "timestamp" or (
        c.result.kind == "list" and c.result.elem and c.result.elem.kind == "timestamp"
    ):
        tz = Compiler(Scope("bindings", {}), env).tz(offset)
    show, fn = to_string(c.result, tz), c.fn

    def render(o: Any) -> str:
        v = fn(o)
        return "" if v is None else show(v) or ""

    return render
