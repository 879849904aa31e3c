"""Type-check an AST against a scope and compile it to nested closures, one per node.

Type checking and closure building are one pass: each node yields a `Typed` (static type + closure).
Field names are checked against the pydantic models here, so the closures only ever read attributes
that the contract declares (with operator.attrgetter; never a name starting with '_').
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel

from rules.errors import ExprError
from rules.expr.functions import FUNCTIONS, int_or_null
from rules.expr.limits import INT_MAX, INT_MIN, MAX_LIST, MAX_STRING, shorten
from rules.expr.parser import Binary, Call, Cond, Index, ListLit, Lit, Name, Node, Select, Unary
from rules.expr.types import (
    BOOL,
    DURATION,
    DYN,
    FLOAT,
    INT,
    NULL,
    STRING,
    TIMESTAMP,
    Fn,
    Type,
    Typed,
    constant,
    field_names,
    field_type,
    from_python,
    list_of,
    literal_type,
    object_of,
)

Path = tuple[str, ...]


@dataclass(frozen=True)
class ExprEnv:
    """What expressions may consult besides the record: the ruleset timezone and the zone index."""

    timezone: str = "UTC"
    zones: Any = None  # has .contains(lat, lon, label) -> bool


@dataclass(frozen=True)
class Scope:
    """The names an expression sees: an event's top-level fields, or a dict of named bindings."""

    kind: str  # "event" | "bindings"
    names: Mapping[str, Type]
    root: Type | None = None

    @classmethod
    def event(cls, model: type[BaseModel]) -> Scope:
        root = object_of(model)
        return cls("event", {n: t for n in field_names(root) if (t := field_type(root, n)) is not None}, root)

    @classmethod
    def bindings(cls, types: Mapping[str, Any]) -> Scope:
        # a binding may be absent from a match (an optional selection): every one can be null
        return cls("bindings", {n: from_python(tp).maybe_null() for n, tp in types.items()})


@dataclass(slots=True)
class _Path:
    """A chain of attribute reads: `binding` (a dict key, or None for the event root) then `segs`, each
    a dotted run read by one attrgetter, with a null check between runs (after nullable fields)."""

    binding: str | None
    segs: tuple[tuple[str, ...], ...]
    names: Path  # the whole path as written, from the scope root


def _path_fn(p: _Path) -> Fn:
    getters = tuple(operator.attrgetter(".".join(s)) for s in p.segs if s)
    if p.binding is None:
        if len(getters) == 1:
            return getters[0]  # the common case: one C-level attrgetter, no Python frame
        if len(getters) == 2:
            g1, g2 = getters

            def two(o: Any) -> Any:
                v = g1(o)
                return None if v is None else g2(v)

            return two
    key = p.binding

    def chain(o: Any) -> Any:
        v = o if key is None else o.get(key)
        for g in getters:
            if v is None:
                return None
            v = g(v)
        return v

    return chain


_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


# `field op literal` on a field that cannot be null: no frame for operator.xx, no null check.
_FAST_ORDER: dict[str, Callable[[Fn, Any], Fn]] = {
    "<": lambda a, v: lambda o: a(o) < v,
    "<=": lambda a, v: lambda o: a(o) <= v,
    ">": lambda a, v: lambda o: a(o) > v,
    ">=": lambda a, v: lambda o: a(o) >= v,
}


def _null(_o: Any) -> None:
    return None


class Compiler:
    def __init__(self, scope: Scope, env: ExprEnv):
        self.scope = scope
        self.zones = env.zones
        self.timezone = env.timezone
        self._tz: ZoneInfo | None = None
        self.paths: dict[int, _Path] = {}  # id(node) -> path, for nodes that are plain field paths
        self.errors: list[ExprError] = []  # every problem found, see compile()

    def tz(self, offset: int) -> ZoneInfo:
        if self._tz is None:
            try:
                self._tz = ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ExprError(f"unknown timezone '{self.timezone}' in the rule set settings", offset) from None
        return self._tz

    def compile(self, node: Node) -> Typed:
        method = getattr(self, "_" + type(node).__name__.lower())
        before = len(self.errors)
        try:
            result: Typed = method(node)
        except ExprError as exc:
            # every problem of an expression at once (lint shows them in one run): a part that fails stands in
            # as a value of unknown type, and a node whose part already failed adds no error of its own (it
            # would only be a consequence)
            if len(self.errors) == before:
                self.errors.append(exc)
            return Typed(DYN, _null)
        return result

    # --- leaves and paths ------------------------------------------------------------------------

    def _lit(self, node: Lit) -> Typed:
        v = node.value
        if type(v) is int and not INT_MIN <= v <= INT_MAX:
            raise ExprError(
                f"integer {shorten(str(v))} is out of range (ints are 64-bit: at most {INT_MAX})", node.offset
            )
        return constant(literal_type(v), v)

    def _listlit(self, node: ListLit) -> Typed:
        items = [self.compile(i) for i in node.items]
        elem = NULL
        for item, sub in zip(items, node.items, strict=True):
            merged = _unify(elem, item.type)
            if merged is None:
                raise ExprError(f"list items must have one type: {elem} and {item.type}", sub.offset)
            elem = merged
        t = list_of(elem)  # [] is a list of null: it unifies with any list
        if all(i.const for i in items):
            return constant(t, tuple(i.value for i in items))
        fns = tuple(i.fn for i in items)
        return Typed(t, lambda o: [f(o) for f in fns])

    def _name(self, node: Name) -> Typed:
        t = self.scope.names.get(node.name)
        if t is None:
            if node.name in FUNCTIONS:
                raise ExprError(f"'{node.name}' is a function: write {node.name}(...)", node.offset)
            raise ExprError(
                f"unknown name '{shorten(node.name)}'{_hint(node.name, list(self.scope.names), 'known')}",
                node.offset,
            )
        if self.scope.kind == "event":
            path = _Path(None, ((node.name,),), (node.name,))
        else:
            path = _Path(node.name, ((),), (node.name,))
        self.paths[id(node)] = path
        return Typed(t, _path_fn(path))

    def _select(self, node: Select) -> Typed:
        target = self.compile(node.target)
        t = target.type
        if t.kind != "object":
            what = "a value of unknown type" if t.kind == "dyn" else str(t)
            raise ExprError(f"cannot select field '{shorten(node.field)}' on {what}", node.offset)
        ft = field_type(t, node.field)
        if ft is None:
            names = field_names(t)
            close = difflib.get_close_matches(node.field, names, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"fields: {', '.join(names)}"
            raise ExprError(f"unknown field '{shorten(node.field)}' on {t} ({hint})", node.offset)
        if t.nullable:
            ft = ft.maybe_null()  # a path through null is null
        base = self.paths.get(id(node.target))
        if base is None:  # a field of a computed value (e.g. of an index): plain null-safe read
            get = operator.attrgetter(node.field)
            tfn = target.fn
            return Typed(ft, lambda o: None if (v := tfn(o)) is None else get(v))
        segs = (*base.segs, (node.field,)) if t.nullable else (*base.segs[:-1], (*base.segs[-1], node.field))
        path = _Path(base.binding, segs, (*base.names, node.field))
        self.paths[id(node)] = path
        return Typed(ft, _path_fn(path))

    def _index(self, node: Index) -> Typed:
        target, index = self.compile(node.target), self.compile(node.index)
        t, it = target.type, index.type
        tfn, ifn = target.fn, index.fn
        if t.kind == "list":
            _expect(it, node.index, "a list index", "int")

            def at(o: Any) -> Any:
                c = tfn(o)
                i = ifn(o)
                return c[i] if c is not None and i is not None and 0 <= i < len(c) else None

            return Typed((t.elem or Type("dyn")).maybe_null(), at)
        if t.kind == "map":
            _expect(it, node.index, "a map key", "string")

            def get(o: Any) -> Any:
                c = tfn(o)
                return None if c is None else c.get(ifn(o))

            return Typed((t.elem or Type("dyn")).maybe_null(), get)
        raise ExprError(f"cannot index {t} with [...] (only lists and maps)", node.offset)

    # --- operators -------------------------------------------------------------------------------

    def _unary(self, node: Unary) -> Typed:
        a = self.compile(node.operand)
        f = a.fn
        if node.op == "!":
            _expect(a.type, node.operand, "'!'", "bool")
            out = Typed(
                a.type if a.type.kind == "bool" else BOOL.maybe_null(),
                lambda o: None if (v := f(o)) is None else not v,
            )
        elif a.type.kind == "int":  # -(-2**63) leaves the 64-bit range: null
            out = Typed(a.type.maybe_null(), lambda o: None if (v := f(o)) is None else int_or_null(-v))
        else:
            _expect(a.type, node.operand, "unary '-'", "int", "float", "duration")
            out = Typed(a.type, lambda o: None if (v := f(o)) is None else -v)
        return constant(out.type, out.fn(None)) if a.const else out

    def _cond(self, node: Cond) -> Typed:
        test, then, other = self.compile(node.test), self.compile(node.then), self.compile(node.other)
        _expect(test.type, node.test, "the condition of '?:'", "bool")
        t = _unify(then.type, other.type)
        if t is None:
            raise ExprError(
                f"both branches of '?:' must have one type, got {then.type} and {other.type}",
                node.other.offset,
            )
        tf, a, b = test.fn, then.fn, other.fn
        if test.const:
            return then if test.value is True else other
        return Typed(t, lambda o: a(o) if tf(o) is True else b(o))

    def _binary(self, node: Binary) -> Typed:
        left, right = self.compile(node.left), self.compile(node.right)
        op = node.op
        if op in ("&&", "||"):
            out = self._logic(node, left, right)
        elif op in ("==", "!="):
            out = self._equality(node, left, right)
        elif op in _ORDER:
            out = self._order(node, left, right)
        elif op == "in":
            out = self._membership(node, left, right)
        else:
            out = self._arith(node, left, right)
        if left.const and right.const and not out.const:
            return constant(out.type, out.fn(None))
        return out

    def _logic(self, node: Binary, left: Typed, right: Typed) -> Typed:
        # null counts as false, so the result is always true or false
        _expect(left.type, node.left, f"'{node.op}'", "bool")
        _expect(right.type, node.right, f"'{node.op}'", "bool")
        a, b = left.fn, right.fn
        if node.op == "&&":
            return Typed(BOOL, lambda o: a(o) is True and b(o) is True)
        return Typed(BOOL, lambda o: a(o) is True or b(o) is True)

    def _equality(self, node: Binary, left: Typed, right: Typed) -> Typed:
        if _unify(left.type, right.type) is None:
            raise ExprError(f"cannot compare {left.type} with {right.type}", node.offset)
        for side, other, sub in ((left, right, node.right), (right, left, node.left)):
            _check_choice(side.type, other, sub)
        a, b = left.fn, right.fn
        if left.type.kind == "list" or right.type.kind == "list":
            # a list literal is a tuple, a field or `+` gives a list: compare them as sequences
            eq = (lambda o: _seq(a(o)) == _seq(b(o))) if node.op == "==" else (lambda o: _seq(a(o)) != _seq(b(o)))
            return Typed(BOOL, eq)
        if node.op == "==":
            if right.const:
                v = right.value
                return Typed(BOOL, lambda o: a(o) == v)
            return Typed(BOOL, lambda o: a(o) == b(o))
        if right.const:
            v = right.value
            return Typed(BOOL, lambda o: a(o) != v)
        return Typed(BOOL, lambda o: a(o) != b(o))

    def _order(self, node: Binary, left: Typed, right: Typed) -> Typed:
        lk, rk = left.type.kind, right.type.kind
        ok = {lk, rk} - {"null"}
        if not (ok <= {"int", "float"} or (len(ok) == 1 and ok <= {"string", "timestamp", "duration"})):
            raise ExprError(f"cannot compare {left.type} with {right.type}", node.offset)
        a, b, cmp = left.fn, right.fn, _ORDER[node.op]
        if right.const:
            v = right.value
            if v is None:
                return constant(BOOL.maybe_null(), None)
            if not left.type.nullable:
                return Typed(BOOL, _FAST_ORDER[node.op](a, v))
            return Typed(BOOL.maybe_null(), lambda o: None if (x := a(o)) is None else cmp(x, v))

        def fn(o: Any) -> Any:
            x = a(o)
            if x is None:
                return None
            y = b(o)
            return None if y is None else cmp(x, y)

        return Typed(BOOL.maybe_null(), fn)

    def _membership(self, node: Binary, left: Typed, right: Typed) -> Typed:
        rt, a, b = right.type, left.fn, right.fn
        if rt.kind == "list":
            elem = rt.elem or Type("dyn")
            if _unify(left.type, elem) is None:
                raise ExprError(f"cannot look for {left.type} in {rt}", node.offset)
            _check_choice(left.type, right, node.right)
            if (
                right.const
                and left.type.kind in ("string", "int", "float", "bool", "null", "dyn")
                and all(_hashable(v) for v in right.value)
            ):
                values = frozenset(right.value)  # built once: membership is one hash lookup
                if not left.type.nullable:
                    return Typed(BOOL, lambda o: a(o) in values)
                return Typed(BOOL.maybe_null(), lambda o: None if (x := a(o)) is None else x in values)
        elif rt.kind in ("string", "map"):
            _expect(left.type, node.left, f"'in' on a {rt.kind}", "string")
        elif rt.kind != "null":
            raise ExprError(f"'in' needs a list, a string or a map on the right, got {rt}", node.right.offset)

        def fn(o: Any) -> Any:
            x = a(o)
            if x is None:
                return None
            y = b(o)
            return None if y is None else x in y

        return Typed(BOOL.maybe_null(), fn)

    def _arith(self, node: Binary, left: Typed, right: Typed) -> Typed:
        op, lt, rt = node.op, left.type, right.type
        if op == "+" and lt.kind == rt.kind == "list":
            elem = _unify(lt.elem or NULL, rt.elem or NULL)
            if elem is None:
                raise ExprError(f"cannot join {lt} and {rt}: list items must have one type", node.offset)
            found: tuple[Type, Callable[[Any, Any], Any]] | None = (list_of(elem).maybe_null(), _concat)
        else:
            found = _arith_rule(op, lt.kind, rt.kind)
        if found is None:
            raise ExprError(f"cannot apply '{op}' to {lt} and {rt}", node.offset)
        t, f = found
        a, b = left.fn, right.fn
        if right.const and right.value is not None:
            v = right.value
            if op in ("/", "%") and v == 0:
                raise ExprError("division by zero", node.right.offset)
            return Typed(t, lambda o: None if (x := a(o)) is None else f(x, v))

        def fn(o: Any) -> Any:
            x = a(o)
            if x is None:
                return None
            y = b(o)
            return None if y is None else f(x, y)

        return Typed(t, fn)

    # --- calls -----------------------------------------------------------------------------------

    def _call(self, node: Call) -> Typed:
        spec = FUNCTIONS.get(node.func)
        if spec is None or (node.method and not spec.method):
            if node.method:
                methods = sorted(n for n, s in FUNCTIONS.items() if s.method)
                raise ExprError(f"unknown method '{node.func}'{_hint(node.func, methods, 'methods')}", node.offset)
            raise ExprError(f"unknown function '{node.func}'{_hint(node.func, list(FUNCTIONS), 'known')}", node.offset)
        n = len(node.args) - (1 if node.method else 0)
        lo, hi = spec.min_args - (1 if node.method else 0), (spec.max_args or 99) - (1 if node.method else 0)
        if not lo <= n <= hi:
            want = f"{lo}" if lo == hi else f"at least {lo}" if spec.max_args is None else f"{lo} to {hi}"
            raise ExprError(
                f"{node.func}() takes {want} argument{'s' if want != '1' else ''}, got {n} (usage: {spec.signature})",
                node.offset,
            )
        args = [self.compile(a) for a in node.args]
        out = spec.build(self, args, node)
        if not out.const and not out.type.nullable and any(a.type.nullable for a in args):
            out.type = out.type.maybe_null()  # a null argument gives null: no fast path may assume a value
        return out


# --- typing rules -------------------------------------------------------------------------------


def _hint(name: str, known: list[str], label: str) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" ({label}: {', '.join(sorted(known))})" if known else ""


def _expect(t: Type, node: Node, what: str, *kinds: str) -> None:
    if t.kind not in kinds and t.kind != "null":  # a value of unknown type (dyn) is not accepted either
        raise ExprError(f"{what} needs {' or '.join(kinds)}, got {t}", node.offset)


def _hashable(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float)


def _check_choice(t: Type, other: Typed, node: Node) -> None:
    """`data.analytic == "fier"` can never be true: say so when the field has a closed set of values."""
    if t.choices is None or not other.const:
        return
    values = other.value if isinstance(other.value, tuple | list) else (other.value,)
    for v in values:
        if v is not None and v not in t.choices:
            shown = sorted(map(str, t.choices))
            close = difflib.get_close_matches(str(v), shown, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ExprError(f"{v!r} is not a possible value here ({hint}one of: {', '.join(shown)})", node.offset)


def _unify(a: Type, b: Type) -> Type | None:
    """The common type of two values that may be compared or mixed, or None when they cannot."""
    if a.kind == "null":
        return b.maybe_null()
    if b.kind == "null" or b.kind == "dyn":
        return a.maybe_null() if b.kind == "null" else b
    if a.kind == "dyn":
        return a
    nullable = a.nullable or b.nullable
    if a.kind == b.kind:
        if a.kind == "list" and a.elem and b.elem:
            elem = _unify(a.elem, b.elem)
            return None if elem is None else Type("list", elem, nullable=nullable)
        if a.kind == "object" and set(a.models) != set(b.models):
            return None
        return Type(a.kind, a.elem, a.models, nullable)
    if {a.kind, b.kind} == {"int", "float"}:
        return Type("float", nullable=nullable)
    return None


# Arithmetic never raises: ints stay 64-bit (a result outside gives null), an int too large for a float
# (only an event can carry one) gives null instead of OverflowError, division by zero gives null, a
# timestamp outside years 1..9999 is null, strings and lists built by `+` are cut to MAX_STRING/MAX_LIST.


def _seq(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _iadd(x: int, y: int) -> int | None:
    r = x + y
    return r if INT_MIN <= r <= INT_MAX else None


def _isub(x: int, y: int) -> int | None:
    r = x - y
    return r if INT_MIN <= r <= INT_MAX else None


def _imul(x: int, y: int) -> int | None:
    if x.bit_length() + y.bit_length() > 130:  # an event's huge int: don't build a huger one
        return None
    r = x * y
    return r if INT_MIN <= r <= INT_MAX else None


def _floating(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def fn(x: Any, y: Any) -> Any:
        try:
            return op(x, y)
        except OverflowError:  # an int beyond a float's range
            return None

    return fn


def _div(x: Any, y: Any) -> Any:
    if y == 0:
        return None
    try:
        return x / y
    except OverflowError:
        return None


def _mod(x: int, y: int) -> int | None:
    return None if y == 0 else x % y


def _cat(x: str, y: str) -> str:
    if len(x) >= MAX_STRING:
        return x[:MAX_STRING]
    return x + y[: MAX_STRING - len(x)]


def _concat(x: Any, y: Any) -> list[Any]:
    if len(x) >= MAX_LIST:
        return list(x[:MAX_LIST])
    return [*x, *y[: MAX_LIST - len(x)]]


def _ts_plus(x: Any, y: float) -> Any:
    try:
        return x + timedelta(seconds=y)
    except (OverflowError, ValueError):  # past year 9999 or before year 1; a NaN duration
        return None


def _ts_minus(x: Any, y: float) -> Any:
    try:
        return x - timedelta(seconds=y)
    except (OverflowError, ValueError):
        return None


def _ts_diff(x: Any, y: Any) -> float:
    return float((x - y).total_seconds())


_NUM = ("int", "float")
_ARITH: dict[tuple[str, str, str], tuple[Type, Callable[[Any, Any], Any]]] = {
    ("+", "string", "string"): (STRING, _cat),
    ("+", "timestamp", "duration"): (TIMESTAMP, _ts_plus),
    ("+", "duration", "timestamp"): (TIMESTAMP, lambda x, y: _ts_plus(y, x)),
    ("+", "duration", "duration"): (DURATION, operator.add),
    ("-", "timestamp", "timestamp"): (DURATION, _ts_diff),
    ("-", "timestamp", "duration"): (TIMESTAMP, _ts_minus),
    ("-", "duration", "duration"): (DURATION, operator.sub),
    ("%", "int", "int"): (INT, _mod),
    ("/", "duration", "duration"): (FLOAT, _div),
}
_INT_OPS = {"+": _iadd, "-": _isub, "*": _imul}
_FLOAT_OPS = {"+": _floating(operator.add), "-": _floating(operator.sub), "*": _floating(operator.mul)}
for _l in _NUM:
    for _r in _NUM:
        for _op in ("+", "-", "*"):
            _ARITH[(_op, _l, _r)] = (INT, _INT_OPS[_op]) if _l == _r == "int" else (FLOAT, _FLOAT_OPS[_op])
        _ARITH[("/", _l, _r)] = (FLOAT, _div)  # true division, always a float
    _ARITH[("*", "duration", _l)] = (DURATION, _FLOAT_OPS["*"])
    _ARITH[("*", _l, "duration")] = (DURATION, _FLOAT_OPS["*"])
    _ARITH[("/", "duration", _l)] = (DURATION, _div)


def _arith_rule(op: str, lk: str, rk: str) -> tuple[Type, Callable[[Any, Any], Any]] | None:
    if "null" in (lk, rk):
        other = rk if lk == "null" else lk
        if any(k[0] == op and other in k[1:] for k in _ARITH) or other == "null":
            return Type("null", nullable=True), lambda x, y: None
        return None
    found = _ARITH.get((op, lk, rk))
    return (found[0].maybe_null(), found[1]) if found else None


def conjuncts(node: Node) -> list[Node]:
    """The top-level AND-conjuncts of a condition, in written order."""
    if isinstance(node, Binary) and node.op == "&&":
        return conjuncts(node.left) + conjuncts(node.right)
    return [node]


def equalities(node: Node, paths: dict[int, _Path]) -> tuple[tuple[Path, frozenset[Any]], ...]:
    """(field path, literal values) for each top-level conjunct `path == lit`, `lit == path` or
    `path in [lit, ...]`: the condition can only hold when the field has one of those values."""
    out: list[tuple[Path, frozenset[Any]]] = []
    for c in conjuncts(node):
        if not isinstance(c, Binary):
            continue
        if c.op == "==":
            for p, v in ((c.left, c.right), (c.right, c.left)):
                if id(p) in paths and isinstance(v, Lit) and v.value is not None:
                    out.append((paths[id(p)].names, frozenset((v.value,))))
                    break
        elif (
            c.op == "in"
            and id(c.left) in paths
            and isinstance(c.right, ListLit)
            and c.right.items
            and all(isinstance(i, Lit) and i.value is not None for i in c.right.items)
        ):
            out.append((paths[id(c.left)].names, frozenset(i.value for i in c.right.items if isinstance(i, Lit))))
    return tuple(out)
