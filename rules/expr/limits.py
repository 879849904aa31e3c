"""Every bound of the expression language in one place (docs/rules.md, Expressions, lists them).

Lint refuses what a rule file may not carry (with file:line:col); the run-time bounds never raise, they
cut or give null, so that no expression and no event can hang or crash the engine.
"""

from __future__ import annotations

# --- refused at lint --------------------------------------------------------------------------------

MAX_EXPR_CHARS = 2_000  # one expression, or one template placeholder (rules/model.py's Expr agrees)
MAX_NUMBER_CHARS = 64  # the characters of one number literal
INT_MIN = -(2**63)  # ints are 64-bit: a literal outside the range is refused, arithmetic gives null
INT_MAX = 2**63 - 1
MAX_STRING_LITERAL = 1_000  # characters of one string literal
MAX_LIST_LITERAL = 500  # items of one list literal
MAX_DEPTH = 64  # levels of the syntax tree (parentheses, operands of chained operators, calls, ...)
MAX_TEMPLATE_CHARS = 10_000  # one template
MAX_PLACEHOLDERS = 64  # {placeholders} in one template
MAX_REGEX = 512  # characters of the pattern of matches()
MAX_REGEX_POSITIONS = 256  # characters and classes of a pattern, counted repetitions written out (a{3}: 3)
MAX_REGEX_PROGRAM = 50_000  # instructions of its RE2 program (\pL alone is about 1,200)
MIN_CELL_M, MAX_CELL_M = 1.0, 1_000_000.0  # cell() sizes

# --- run time: cut or null, never an exception --------------------------------------------------------

MAX_STRING = 10_000  # characters of a string built by `+`, string(), lower(), upper() or a template
MAX_LIST = 10_000  # items of a list built by `+`
MAX_MATCH_INPUT = 2_000  # matches() of a longer string is null (a call's description is at most 2,000)

# --- without RE2 (google-re2 not importable): Python's backtracking `re` on bounded input ----------------

FALLBACK_MATCH_INPUT = 300  # matches() of a longer string is null
FALLBACK_BUDGET = FALLBACK_MATCH_INPUT**3  # ways through alternatives x input ** (variable repetitions + starts)


def cut(s: str) -> str:
    """A string built at run time, cut to MAX_STRING characters."""
    return s if len(s) <= MAX_STRING else s[:MAX_STRING]


def shorten(text: str, keep: int = 40) -> str:
    """Text quoted in an error message: long tokens are shown by their start and their length."""
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text)} characters)"
