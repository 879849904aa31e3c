"""Templates: text with `{expr}` placeholders (`{{` and `}}` are literal braces)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rules.errors import ExprError
from rules.expr.limits import MAX_PLACEHOLDERS, MAX_TEMPLATE_CHARS, cut


@dataclass(frozen=True, slots=True)
class Piece:
    """Literal text (`expr` None) or a placeholder whose expression starts at `offset` in the template."""

    text: str
    offset: int
    expr: bool


def split_template(text: str) -> list[Piece]:
    if len(text) > MAX_TEMPLATE_CHARS:
        raise ExprError(f"template longer than {MAX_TEMPLATE_CHARS} characters ({len(text)})", 0)
    pieces: list[Piece] = []
    buf: list[str] = []
    placeholders = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "{" and text.startswith("{{", i):
            buf.append("{")
            i += 2
        elif c == "}" and text.startswith("}}", i):
            buf.append("}")
            i += 2
        elif c == "}":
            raise ExprError("unmatched '}' in template (write }} for a literal brace)", i)
        elif c == "{":
            end = _closing(text, i)
            if buf:
                pieces.append(Piece("".join(buf), 0, False))
                buf = []
            if not text[i + 1 : end].strip():
                raise ExprError("empty placeholder {} in template", i)
            placeholders += 1
            if placeholders > MAX_PLACEHOLDERS:
                raise ExprError(f"template with more than {MAX_PLACEHOLDERS} placeholders", i)
            pieces.append(Piece(text[i + 1 : end], i + 1, True))
            i = end + 1
        else:
            buf.append(c)
            i += 1
    if buf:
        pieces.append(Piece("".join(buf), 0, False))
    return pieces


def _closing(text: str, start: int) -> int:
    """Index of the '}' closing the placeholder opened at `start`, skipping quoted strings."""
    i, quote = start + 1, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "}":
            return i
        elif c == "{":
            break
        i += 1
    raise ExprError("placeholder '{' is not closed by '}' (write {{ for a literal brace)", start)


def join_parts(parts: list[str | Callable[[Any], str]]) -> Callable[[Any], str]:
    """One closure rendering the template (cut to MAX_STRING characters); adjacent literal text is merged."""
    merged: list[str | Callable[[Any], str]] = []
    for p in parts:
        if isinstance(p, str) and merged and isinstance(merged[-1], str):
            merged[-1] += p
        else:
            merged.append(p)
    if not merged:
        return lambda _o: ""
    if len(merged) == 1:
        only = merged[0]
        if isinstance(only, str):
            return lambda _o: only
        return lambda o: cut(only(o))
    fns = tuple((lambda _o, s=p: s) if isinstance(p, str) else p for p in merged)
    return lambda o: cut("".join([f(o) for f in fns]))
