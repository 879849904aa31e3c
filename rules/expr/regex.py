"""Regular expressions of matches(): run on RE2 (google-re2), whose time is linear in the input, so that no
pattern and no event can hang a partition.

A pattern is checked when the rule loads (lint), and every refusal is an ExprError at the pattern:
- constructs that need backtracking (backreferences, lookahead and lookbehind, atomic groups, possessive
  quantifiers, conditionals) are refused with their name, since RE2 cannot run them;
- a pattern may have at most MAX_REGEX_POSITIONS characters and classes once its counted repetitions are
  written out (`a{3}` is `aaa`, `(ab){3}` six): RE2's time is linear in the input, but on its slow path
  (when the DFA's cache thrashes) proportional to the pattern's size too -- `[ab]*a[ab]{999}c` takes
  0.2 s on 10,000 random a/b characters; and RE2's program may have at most MAX_REGEX_PROGRAM instructions
  (a Unicode class such as \\pL is some 1,200 of them, and each thread of RE2's slow path walks them);
- whatever else RE2 refuses is reported with RE2's reason.
At run time matches() of a string longer than MAX_MATCH_INPUT characters is null: the worst accepted
pattern on the worst input then costs tens of milliseconds (tests/unit/test_expr_bounds.py), a typical
one microseconds.

Fallback, when `re2` cannot be imported: Python's backtracking `re` runs the patterns that cannot
backtrack badly, on at most FALLBACK_MATCH_INPUT characters (longer input gives null). On top of the
refusals above, a pattern is refused when it repeats a group that holds a repetition (`(a+)+`) or an
alternation (`(a|ab)*`) -- the exponential cases -- or when its ways through alternatives times the
input ** (variable repetitions, plus one for the start unless the pattern begins with ^) exceed
FALLBACK_BUDGET, input ** 3: in practice at most two of `*`, `+`, `?`, `{m,n}` (three after a leading
^), fewer with alternatives -- the polynomial cases. The worst accepted pattern then takes about 0.15 s
on the worst 300 characters.
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rules.errors import ExprError
from rules.expr.limits import (
    FALLBACK_BUDGET,
    FALLBACK_MATCH_INPUT,
    MAX_DEPTH,
    MAX_MATCH_INPUT,
    MAX_REGEX,
    MAX_REGEX_POSITIONS,
    MAX_REGEX_PROGRAM,
)


def _load_re2() -> Any:
    try:
        return importlib.import_module("re2")
    except ImportError:
        return None


RE2: Any = _load_re2()  # the google-re2 module, or None (tests monkeypatch it to exercise the fallback)
_ENGINE = "the linear-time engine (RE2)"

Search = Callable[[str], bool | None]


@dataclass(frozen=True, slots=True)
class Construct:
    """A construct found in a pattern: what it is, where (0-based index in the pattern) and its text."""

    what: str
    at: int
    text: str


@dataclass(slots=True)
class Shape:
    unsupported: list[Construct] = field(default_factory=list)  # RE2 cannot run these
    backtracking: list[Construct] = field(default_factory=list)  # exponential on a backtracking engine
    positions: int = 0  # characters, classes and escapes, counted repetitions expanded
    variable: int = 0  # repetitions of variable length: * + ? {m,n} {m,}
    ways: int = 1  # ways through the alternatives
    depth: int = 0  # groups inside groups


@dataclass(slots=True)
class _Item:
    """An atom (a character, a class, an escape or a group) that a quantifier may follow."""

    start: int
    positions: int = 1
    variable: bool = False  # holds a repetition of variable length
    alternation: bool = False  # a group holding '|'
    ways: int = 1


@dataclass(slots=True)
class _Group:
    start: int
    positions: int = 0
    variable: bool = False
    alternation: bool = False
    ways_done: int = 0  # ways of the finished branches
    ways: int = 1  # ways of the branch being read


_QUANT = re.compile(r"\{(\d*)(,?)(\d*)\}")
_PLAIN_GROUP = re.compile(r"\(\?(?:P?<[A-Za-z_][A-Za-z0-9_]*>|[a-zA-Z-]*:)")
_FLAGS = re.compile(r"\(\?[a-zA-Z-]*\)")
_BIG = 10**9
_ANCHORED = re.compile(r"\^|\\A")
_MULTILINE = re.compile(r"\(\?[a-zA-Z]*m")


def scan(pattern: str) -> Shape:
    """What a pattern is made of, read with the syntax RE2 and Python's re share (no recursion).

    It does not validate: the engine does. It finds what the engine would refuse less clearly, and
    measures what makes matching slow."""
    shape = Shape()
    stack = [_Group(0)]
    item: _Item | None = None
    i, n = 0, len(pattern)

    def commit() -> None:
        nonlocal item
        if item is not None:
            g = stack[-1]
            g.positions = min(_BIG, g.positions + item.positions)
            g.variable = g.variable or item.variable
            g.ways = min(_BIG, g.ways * item.ways)
            item = None

    while i < n:
        c = pattern[i]
        if c == "\\":
            commit()
            item, i = _Item(i), _escape(pattern, i, shape)
        elif c == "[":
            commit()
            item, i = _Item(i), _class_end(pattern, i)
        elif c == "(":
            commit()
            j, atom = _open(pattern, i, shape, stack)
            shape.depth = max(shape.depth, len(stack) - 1)
            if atom:
                item = _Item(i, 0)
            i = j
        elif c == ")":
            commit()
            if len(stack) > 1:
                g = stack.pop()
                item = _Item(g.start, g.positions, g.variable, g.alternation, min(_BIG, g.ways_done + g.ways))
            i += 1
        elif c == "|":
            commit()
            g = stack[-1]
            g.alternation = True
            g.ways_done, g.ways = min(_BIG, g.ways_done + g.ways), 1
            i += 1
        elif c in "*+?{":
            quant = _quantifier(pattern, i)
            if quant is None:  # a literal '{'
                commit()
                item, i = _Item(i), i + 1
                continue
            end, lo, hi = quant
            if end < n and pattern[end] == "+":
                shape.unsupported.append(Construct("a possessive quantifier", i, pattern[i : end + 1]))
                end += 1
            elif end < n and pattern[end] == "?":
                end += 1  # lazy: the same cost
            if item is not None:  # kept: a second quantifier (a{10}{10}, where allowed) multiplies
                _repeat(item, lo, hi, pattern[i:end], shape)
            i = end
        else:
            commit()
            item, i = _Item(i), i + 1
    commit()
    while len(stack) > 1:  # unbalanced: the engine reports it; measure what was read
        g = stack.pop()
        stack[-1].positions = min(_BIG, stack[-1].positions + g.positions)
    top = stack[0]
    shape.positions = top.positions
    shape.ways = min(_BIG, top.ways_done + top.ways)
    return shape


def _repeat(item: _Item, lo: int, hi: int | None, text: str, shape: Shape) -> None:
    """Apply a quantifier {lo,hi} (hi None: unbounded) to `item`."""
    variable = hi is None or hi != lo
    many = hi is None or hi > 1
    if many and item.variable:
        shape.backtracking.append(Construct("a repetition inside a repeated group", item.start, text))
    elif many and variable and item.alternation:
        shape.backtracking.append(Construct("an alternation inside a repeated group", item.start, text))
    if text[0] == "{":  # a{3} is aaa to the engine
        item.positions = min(_BIG, max(lo, hi or 0) * item.positions)
    if not variable:
        item.ways = min(_BIG, item.ways ** min(lo, 30))
    # else: x? and x* are counted as variable repetitions below (a repeated alternation is refused above)
    if variable:
        shape.variable += 1
        item.variable = True


def _quantifier(p: str, i: int) -> tuple[int, int, int | None] | None:
    """(end, lo, hi) of the quantifier at i; None when '{' is a literal brace."""
    c = p[i]
    if c == "*":
        return i + 1, 0, None
    if c == "+":
        return i + 1, 1, None
    if c == "?":
        return i + 1, 0, 1
    m = _QUANT.match(p, i)
    if m is None or not (m.group(1) or m.group(3)):
        return None
    lo = int(m.group(1)[:6] or 0)
    hi = None if m.group(2) and not m.group(3) else int((m.group(3) or m.group(1))[:6])
    return m.end(), lo, hi


def _escape(p: str, i: int, shape: Shape) -> int:
    """Index after the escape at i; backreferences are noted."""
    if i + 1 >= len(p):
        return i + 1
    c = p[i + 1]
    if c in "123456789":
        j = i + 2
        while j < len(p) and p[j].isdigit():
            j += 1
        shape.unsupported.append(Construct("a backreference", i, p[i:j]))
        return j
    if c in "kg" and i + 2 < len(p) and p[i + 2] in "<{'":
        close = {"<": ">", "{": "}", "'": "'"}[p[i + 2]]
        j = p.find(close, i + 3)
        j = len(p) if j < 0 else j + 1
        shape.unsupported.append(Construct("a backreference", i, p[i:j]))
        return j
    if c in "pPx" and i + 2 < len(p) and p[i + 2] == "{":
        j = p.find("}", i + 3)
        return len(p) if j < 0 else j + 1
    if c in "pP":  # \pL: a one-letter class
        return min(len(p), i + 3)
    if c == "Q":  # RE2: literal text up to \E
        j = p.find("\\E", i + 2)
        return len(p) if j < 0 else j + 2
    return i + 2


def _class_end(p: str, i: int) -> int:
    """Index after the character class opened at i."""
    j = i + 1
    if j < len(p) and p[j] == "^":
        j += 1
    if j < len(p) and p[j] == "]":
        j += 1  # a leading ']' is a literal
    while j < len(p):
        c = p[j]
        if c == "\\":
            j += 2
        elif c == "[" and p.startswith("[:", j):
            end = p.find(":]", j + 2)
            j = j + 1 if end < 0 else end + 2
        elif c == "]":
            return j + 1
        else:
            j += 1
    return len(p)


_LOOKAROUND = (
    ("(?<=", "a lookbehind"),
    ("(?<!", "a lookbehind"),
    ("(?=", "a lookahead"),
    ("(?!", "a lookahead"),
    ("(?>", "an atomic group"),
    ("(?(", "a conditional"),
)


def _open(p: str, i: int, shape: Shape, stack: list[_Group]) -> tuple[int, bool]:
    """Read the '(' at i: (index after it, whether it was a whole atom); a group is pushed, inline flags
    and comments are skipped."""
    if p.startswith("(?P=", i):  # a named backreference
        j = p.find(")", i)
        j = len(p) if j < 0 else j + 1
        shape.unsupported.append(Construct("a backreference", i, p[i:j]))
        return j, True
    if p.startswith("(?#", i):  # a comment (Python re)
        j = p.find(")", i)
        return (len(p) if j < 0 else j + 1), False
    m = _FLAGS.match(p, i)
    if m is not None:  # (?i): flags for the rest, no group
        return m.end(), False
    for prefix, what in _LOOKAROUND:
        if p.startswith(prefix, i):
            shape.unsupported.append(Construct(what, i, prefix + "...)"))
            stack.append(_Group(i))
            return i + len(prefix), False
    m = _PLAIN_GROUP.match(p, i)
    stack.append(_Group(i))
    return (m.end() if m is not None else i + 1), False


# --- compiling -----------------------------------------------------------------------------------


def compile_regex(pattern: str) -> Search:
    """A search function for `pattern` (True/False, or None for too long an input); ExprError (offset 0:
    the caller points at the pattern) when the pattern is refused."""
    if len(pattern) > MAX_REGEX:
        raise ExprError(f"regular expression longer than {MAX_REGEX} characters", 0)
    shape = scan(pattern)
    if shape.depth > MAX_DEPTH:
        raise ExprError(f"regular expression nested too deeply (more than {MAX_DEPTH} groups in groups)", 0)
    if shape.unsupported:
        c = shape.unsupported[0]
        raise ExprError(
            f"this regular expression uses {c.what} ({_show(c.text)} at character {c.at + 1}), which "
            f"{_ENGINE} cannot run",
            0,
        )
    if shape.positions > MAX_REGEX_POSITIONS:
        count = shape.positions if shape.positions < _BIG else f"over {_BIG}"
        raise ExprError(
            f"this regular expression is too large: {count} characters and classes once its counted "
            f"repetitions ({{n}}, {{n,m}}) are written out, at most {MAX_REGEX_POSITIONS}",
            0,
        )
    return _compile_re2(pattern) if RE2 is not None else _compile_fallback(pattern, shape)


def _show(text: str) -> str:
    return "'" + (text if len(text) <= 20 else text[:20] + "...") + "'"


def _compile_re2(pattern: str) -> Search:
    options = RE2.Options()
    options.log_errors = False
    options.never_capture = True  # a yes/no answer: no submatches to track
    try:
        compiled = RE2.compile(pattern, options)
    except RE2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ExprError(f"bad regular expression: {reason}", 0) from None
    if compiled.programsize > MAX_REGEX_PROGRAM:
        raise ExprError(
            f"this regular expression is too large for {_ENGINE}: {compiled.programsize} instructions, at most "
            f"{MAX_REGEX_PROGRAM} (a class such as \\pL is about 1,200; repeat it less)",
            0,
        )
    search = compiled.search

    def run(s: str) -> bool | None:
        if len(s) > MAX_MATCH_INPUT:
            return None
        try:
            return search(s) is not None
        except UnicodeEncodeError:  # a lone surrogate: not text RE2 can read
            return None

    return run


def _compile_fallback(pattern: str, shape: Shape) -> Search:
    if shape.backtracking:
        c = shape.backtracking[0]
        raise ExprError(
            f"this regular expression has {c.what} ({_show(c.text)} at character {c.at + 1}), which can take "
            f"exponential time, and {_ENGINE} is not installed",
            0,
        )
    # a search tries every start, unless the pattern is anchored at the start of the text
    starts = 0 if _ANCHORED.match(pattern) and not _MULTILINE.search(pattern) and "|" not in pattern else 1
    cost = shape.ways * FALLBACK_MATCH_INPUT ** (min(shape.variable, 50) + starts)
    if cost > FALLBACK_BUDGET:
        raise ExprError(
            f"this regular expression could take too long without {_ENGINE}, which is not installed: "
            f"it has {shape.variable} repetitions (*, +, ?, {{m,n}}) and {shape.ways} ways through its "
            "alternatives (|); at most two repetitions, fewer with alternatives",
            0,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FutureWarning: "possible nested set" and the like
            search = re.compile(pattern).search
    except (re.error, OverflowError, RecursionError) as exc:
        raise ExprError(f"bad regular expression: {exc}", 0) from None

    def run(s: str) -> bool | None:
        return None if len(s) > FALLBACK_MATCH_INPUT else search(s) is not None

    return run
