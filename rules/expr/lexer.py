"""Tokens of the expression language. Offsets are 0-based character positions in the expression text."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rules.errors import ExprError
from rules.expr.limits import MAX_EXPR_CHARS, MAX_NUMBER_CHARS, MAX_STRING_LITERAL, shorten

KEYWORDS = {"true": True, "false": False, "null": None}
WORD_OPS = {"and": "&&", "or": "||", "not": "!", "in": "in"}
# Longest first, so "<=" wins over "<".
PUNCT = (
    "&&",
    "||",
    "==",
    "!=",
    "<=",
    ">=",
    "<",
    ">",
    "!",
    "+",
    "-",
    "*",
    "/",
    "%",
    "?",
    ":",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}
MAX_TEXT = MAX_EXPR_CHARS
_DIGITS = frozenset("0123456789")  # not str.isdigit(): '¹' is a digit to it, and int('¹') raises


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "int" | "float" | "string" | "const" | "ident" | "op" | "eof"
    value: Any
    offset: int

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of expression"
        if self.kind == "string":
            return f"string {shorten(repr(self.value))}"
        return f"'{shorten(self.value)}'" if self.kind in ("op", "ident") else shorten(repr(self.value))


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_TEXT:
        raise ExprError(f"expression longer than {MAX_TEXT} characters ({len(text)})", 0)
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            i = _number(text, i, out)
        elif c in "'\"":
            i = _string(text, i, out)
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            if word in KEYWORDS:
                out.append(Token("const", KEYWORDS[word], i))
            elif word in WORD_OPS:
                out.append(Token("op", WORD_OPS[word], i))
            else:
                out.append(Token("ident", word, i))
            i = j
        else:
            op = next((p for p in PUNCT if text.startswith(p, i)), None)
            if op is None:
                hint = " (use == to compare)" if c == "=" else ""
                raise ExprError(f"unexpected character {c!r}{hint}", i)
            out.append(Token("op", op, i))
            i += len(op)
    out.append(Token("eof", None, n))
    return out


def _number(text: str, i: int, out: list[Token]) -> int:
    j, n = i, len(text)
    while j < n and text[j] in _DIGITS:
        j += 1
    is_float = False
    if j < n and text[j] == "." and j + 1 < n and text[j + 1] in _DIGITS:
        is_float = True
        j += 1
        while j < n and text[j] in _DIGITS:
            j += 1
    if j < n and text[j] in "eE":
        k = j + 1
        if k < n and text[k] in "+-":
            k += 1
        if k < n and text[k] in _DIGITS:
            is_float = True
            j = k
            while j < n and text[j] in _DIGITS:
                j += 1
    if j < n and (text[j].isalpha() or text[j] == "_"):
        raise ExprError(f'bad number {shorten(text[i : j + 1])!r} (durations are written duration("5m"))', i)
    if j - i > MAX_NUMBER_CHARS:
        # Checked before converting: int() of more than 4300 digits raises ValueError (Python's limit
        # on int/str conversion), which used to escape lint and replay as a traceback.
        raise ExprError(f"number literal too long ({j - i} characters, at most {MAX_NUMBER_CHARS})", i)
    raw = text[i:j]
    if not is_float:
        out.append(Token("int", int(raw), i))  # its 64-bit range is checked by the compiler (after a '-')
        return j
    value = float(raw)
    if math.isinf(value):
        raise ExprError(f"number {raw} is out of range (a float is at most about 1.8e308)", i)
    out.append(Token("float", value, i))
    return j


def _string(text: str, i: int, out: list[Token]) -> int:
    quote, j, n = text[i], i + 1, len(text)
    chars: list[str] = []
    while j < n and text[j] != quote:
        if text[j] == "\\":
            if j + 1 >= n:
                break
            esc = text[j + 1]
            if esc not in _ESCAPES:
                raise ExprError(f"unknown escape '\\{esc}' in string", j)
            chars.append(_ESCAPES[esc])
            j += 2
        else:
            chars.append(text[j])
            j += 1
        if len(chars) > MAX_STRING_LITERAL:
            raise ExprError(f"string literal longer than {MAX_STRING_LITERAL} characters", i)
    if j >= n:
        raise ExprError(f"unterminated string (missing closing {quote})", i)
    out.append(Token("string", "".join(chars), i))
    return j + 1
