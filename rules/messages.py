"""pydantic's validation errors in the project's words, each at the YAML key or value it is about.

"Input should be a valid integer" becomes "`count` must be a whole number, got 'three'"; an unknown key, an
unknown `kind` or a value outside a closed set gets a did-you-mean from the model's own field names and values.
"""

from __future__ import annotations

import difflib
import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from rules.errors import RuleError
from rules.yamlsrc import Path, YamlDoc

_KINDS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "datetime_type": "a time like 2026-01-05T12:00:00Z",
    "datetime_parsing": "a time like 2026-01-05T12:00:00Z",
    "datetime_from_date_parsing": "a time like 2026-01-05T12:00:00Z",
    "timezone_aware": "a time with its offset (Z or +05:00)",
}
_KNOWN_PATTERNS = {
    r"^[a-z][a-z0-9_]*$": "lowercase letters, digits and _, starting with a letter",
    r"^[a-z0-9][a-z0-9_.-]*$": "lowercase letters, digits, '.', '-' and '_'",
    r"^[a-z][a-z0-9_.-]*$": "lowercase letters, digits, '.', '-' and '_', starting with a letter",
}


# where playbooks come from, for a rule that names one when none was loaded (linting one file)
PLAYBOOK_HINT = (
    ": no playbooks were loaded. Playbooks are read from a playbooks/ folder inside a directory given to the"
    " command (saqshy rules lint rules/catalog); with a single rule file, pass that folder too:"
    " saqshy rules lint FILE rules/catalog/playbooks"
)


def did_you_mean(word: str, known: list[str] | set[str] | tuple[str, ...]) -> str:
    """' (did you mean 'x'?)' for a close known word, else ' (known: a, b, ...)' (empty when none known)."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (known: {', '.join(sorted(known))})" if known else ""


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _quoted_values(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


def _message(err: dict[str, Any], name: str, model: type[BaseModel] | None, label: str = "") -> str:
    """One pydantic error as a sentence that names the field (`name`), never pydantic's wording."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    field = label or (f"`{name}`" if name else "the value")
    if kind in _KINDS:
        return f"{field} must be {_KINDS[kind]}, got {_shown(value)}"
    if kind == "missing":
        return f"missing field '{err['loc'][-1]}'"
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        return f"unknown field '{key}'" + did_you_mean(key, _fields_at(model, err["loc"][:-1]))
    if kind in ("literal_error", "enum"):
        allowed = _quoted_values(str(ctx.get("expected", ""))) or [str(ctx.get("expected", ""))]
        close = difflib.get_close_matches(str(value), allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{field} must be one of: {', '.join(allowed)}; got {_shown(value)}{hint}"
    if kind == "union_tag_invalid":
        allowed = _quoted_values(str(ctx.get("expected_tags", "")))
        tag = str(ctx.get("tag", ""))
        disc = _quoted_values(str(ctx.get("discriminator", "")))
        full = name if not disc or name.split(".")[-1] == disc[0] else ".".join(filter(None, (name, disc[0])))
        what = f"`{full}`" if full else field
        return f"{what} must be one of: {', '.join(allowed)}; got {tag!r}" + did_you_mean(tag, allowed).replace(
            f" (known: {', '.join(sorted(allowed))})", ""
        )
    if kind == "union_tag_not_found":
        disc = _quoted_values(str(ctx.get("discriminator", "")))
        return f"missing field '{disc[0] if disc else 'kind'}'"
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        return (
            f"{field} must be at least {bound}, got {_shown(value)}"
            if kind.endswith("equal")
            else (f"{field} must be more than {bound}, got {_shown(value)}")
        )
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        return (
            f"{field} must be at most {bound}, got {_shown(value)}"
            if kind.endswith("equal")
            else (f"{field} must be less than {bound}, got {_shown(value)}")
        )
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        form = _KNOWN_PATTERNS.get(pattern, f"text of the form {pattern}")
        return f"{field} must be {form}; got {_shown(value)}"
    if kind in ("string_too_long", "too_long"):
        return f"{field} is too long: at most {ctx.get('max_length')} " + (
            "characters" if kind.startswith("string") else "items"
        )
    if kind in ("string_too_short", "too_short"):
        n = ctx.get("min_length")
        if kind.startswith("string"):
            return f"{field} must not be empty"
        return f"{field} needs at least {n} item(s)"
    if kind in ("value_error", "assertion_error"):
        text = str(ctx.get("error", "")) or err["msg"]
        text = text.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return f"`{name}`: {text}" if name else text
    # anything else: pydantic's sentence without its framing
    text = re.sub(r"^Input should be", "must be", str(err["msg"]))
    return f"{field} {text}" if text.startswith("must") else f"{field}: {text}"


def _unwrap(tp: Any) -> list[Any]:
    """The concrete types an annotation stands for (Annotated, Optional and unions opened)."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        return [t for arg in get_args(tp) for t in _unwrap(arg)]
    return [tp]


def _step(candidates: list[Any], part: int | str) -> list[Any]:
    """The types one level down from `candidates` along a pydantic error location part."""
    out: list[Any] = []
    for tp in candidates:
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            for fname, info in tp.model_fields.items():
                if part in (fname, info.alias):
                    out.extend(_unwrap(info.annotation))
        elif origin in (list, tuple) and isinstance(part, int):
            out.extend(_unwrap(get_args(tp)[0]))
        elif origin is dict and isinstance(part, str):
            out.extend(_unwrap(get_args(tp)[1]))
    if out:
        return out
    # a union's branch or tag in the location ('threshold', 'list[ExpectSpec]'): keep the members it names
    named = [
        tp
        for tp in candidates
        if isinstance(tp, type)
        and issubclass(tp, BaseModel)
        and any(part in get_args(_unwrap(f.annotation)[0]) for f in tp.model_fields.values() if _is_literal(f))
    ]
    return named or candidates


def _is_literal(info: Any) -> bool:
    return any(get_origin(t) is Literal for t in _unwrap(info.annotation))


def _fields_at(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> list[str]:
    """The field names (aliases where given) of the model that sits at `loc` under `model`."""
    if model is None:
        return []
    candidates: list[Any] = [model]
    for part in loc:
        candidates = _step(candidates, part)
    names: list[str] = []
    for tp in candidates:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            names.extend(info.alias or fname for fname, info in tp.model_fields.items())
    return sorted(set(names))


def validation_errors(
    exc: ValidationError, doc: YamlDoc, rule_id: str | None = None, model: type[BaseModel] | None = None
) -> list[RuleError]:
    """pydantic's errors, each placed at the YAML key or value it is about and said in the project's words.
    A value that fits no branch of a union gets one error ("must be text or a list"), not one per branch."""
    out: list[RuleError] = []
    by_place: dict[tuple[Path, bool], int] = {}
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        if loc and loc[-1] == "[key]":  # a mapping key that is not allowed: point at the key itself
            path, _ = _doc_path(doc.value, loc[:-1])
            name = ".".join(str(p) for p in path[:-1])
            key = str(path[-1]) if path else ""
            label = "" if err["type"] == "value_error" else f"the key {key!r} of `{name}`" if name else "the key"
            message = _message({**err, "input": key}, "", model, label)
            out.append(RuleError(message, doc.location(path, key=True), rule_id))
            continue
        path, missing_or_extra = _doc_path(doc.value, loc)
        if err["type"] == "union_tag_invalid":  # point at the `kind:` (or `type:`) value that chose no branch
            disc = _quoted_values(str((err.get("ctx") or {}).get("discriminator", "")))
            if disc and (*path, disc[0]) in doc.values:
                path, err = (*path, disc[0]), {**err, "loc": (*loc, disc[0])}
        is_key = err["type"] == "extra_forbidden"
        name = ".".join(str(p) for p in path)
        message = _message(dict(err), name, model)
        place = (path, is_key)
        if err["type"] in _KINDS and place in by_place and not missing_or_extra:
            # another branch of a union refused the same value: one error that lists what would do
            prev = out[by_place[place]]
            want = _KINDS[err["type"]]
            if f" {want}," not in prev.message and f" or {want}," not in prev.message:
                prev.message = prev.message.replace(", got ", f" or {want}, got ", 1)
            continue
        if err["type"] == "literal_error" and place in by_place:
            prev = out[by_place[place]]
            allowed = ", ".join(_quoted_values(str((err.get("ctx") or {}).get("expected", ""))))
            prev.message = prev.message.replace(", got ", f" or one of: {allowed}, got ", 1)
            continue
        by_place[place] = len(out)
        out.append(RuleError(message, doc.location(path, key=is_key), rule_id))
    return out


def _doc_path(value: Any, loc: tuple[int | str, ...]) -> tuple[Path, bool]:
    """The path into the YAML data for a pydantic error location (which also names union branches)."""
    path: list[str | int] = []
    current = value
    for part in loc:
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        ):
            path.append(part)
            current = current[part]  # type: ignore[index]
        elif isinstance(current, dict) and isinstance(part, str) and part == loc[-1]:
            # a missing or unknown key: point at the mapping that should (not) have it
            return tuple(path), True
    return tuple(path), False
