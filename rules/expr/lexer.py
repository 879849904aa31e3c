"""Tokens of the expression language. Offsets are 0-based character positions in the expression text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rules.errors import ExprError

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
MAX_TEXT = 10_000


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "int" | "float" | "string" | "const" | "ident" | "op" | "eof"
    value: Any
    offset: int

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of expression"
        if self.kind == "string":
            return f"string {self.value!r}"
        return f"'{self.value}'" if self.kind in ("op", "ident") else repr(self.value)


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_TEXT:
        raise ExprError(f"expression longer than {MAX_TEXT} characters", 0)
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
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
    while j < n and text[j].isdigit():
        j += 1
    is_float = False
    if j < n and text[j] == "." and j + 1 < n and text[j + 1].isdigit():
        is_float = True
        j += 1
        while j < n and text[j].isdigit():
            j += 1
    if j < n and text[j] in "eE":
        k = j + 1
        if k < n and text[k] in "+-":
            k += 1
        if k < n and text[k].isdigit():
            is_float = True
            j = k
            while j < n and text[j].isdigit():
                j += 1
    if j < n and (text[j].isalpha() or text[j] == "_"):
        raise ExprError(f'bad number {text[i : j + 1]!r} (durations are written duration("5m"))', i)
    raw = text[i:j]
    out.append(Token("float", float(raw), i) if is_float else Token("int", int(raw), i))
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
    if j >= n:
        raise ExprError(f"unterminated string (missing closing {quote})", i)
    out.append(Token("string", "".join(chars), i))
    return j + 1
