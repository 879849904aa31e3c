"""Runtime event records: msgspec Structs generated from the pydantic contract.

Why two decoders
----------------
The pydantic models of `schemas` are THE contract: they give the JSON Schema, the docs and the error
messages. Validating through pydantic's discriminated union costs ~10 µs an event though, several
times what msgspec needs to decode the same bytes into typed Structs. So the hot path decodes with
msgspec, into Structs that are *generated at import time from the pydantic models* (one Struct per
model, same field names, same defaults, same constraints), so the two can never drift apart.

How parity is kept
------------------
* Generation is total or fails loudly: every construct of a model (field type, constraint, default,
  validator, alias, config) is either translated exactly or makes this module raise at import.
* The fast path is msgspec in strict mode, which accepts a subset of what pydantic's lax mode accepts
  (the canonical wire form). Whenever msgspec rejects, the same bytes go through
  `schemas.decode_event`: if pydantic rejects, its message (path + reason) is what the caller sees;
  if pydantic accepts (lax input: "3" for an int, 1 for a bool, a geometry without "type", a date
  without seconds, ...), the record is built from pydantic's model. So acceptance and values are
  pydantic's, and only non-canonical input pays for the slow path.
* pydantic's `UtcDatetime` converts non-zero offsets to UTC; the fast path does the same.
* tests/unit/test_records.py checks every event type, a table of rejects and hypothesis fuzzing.

Known divergence (pinned by the tests): for accepted times with more than 6 fractional digits msgspec
rounds to the microsecond where pydantic truncates (a difference of at most 1 µs).

Records are frozen Structs; enum values are carried as plain `str`; an event record's `type` is a class
attribute (it is the msgspec union tag) so `rec.type` reads like the pydantic model's field.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, Literal, Union

import annotated_types as at
import msgspec
from pydantic import AfterValidator, AwareDatetime, BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from schemas.common import _to_utc
from schemas.deadletter import RejectStage
from schemas.events import EVENT_CLASSES, EventBase, decode_event

__all__ = [
    "RecordDecodeError",
    "decode_record",
    "encode_record",
    "record_class",
    "record_from_builtins",
    "record_from_model",
    "record_to_builtins",
    "record_to_model",
]

_UTC = UTC
_ZERO = timedelta(0)


class RecordDecodeError(ValueError):
    """One JSON event that is not a valid event of the contract."""

    def __init__(self, stage: RejectStage, reason: str) -> None:
        super().__init__(f"{stage.value}: {reason}")
        self.stage = stage
        self.reason = reason


class RecordGenerationError(TypeError):
    """A construct of the pydantic contract that this module cannot translate exactly."""


# --- generation ----------------------------------------------------------------------------------

_STRUCTS: dict[type[BaseModel], type[msgspec.Struct]] = {}
_MODELS: dict[type[msgspec.Struct], type[BaseModel]] = {}

# Per Struct class: the fields whose values need UTC normalisation, as (name, kind) pairs where kind is
# _DT (a UtcDatetime, or None), _NESTED (a Struct, or None) or _SEQ (a list/tuple of Structs).
_DT, _NESTED, _SEQ = 0, 1, 2
_FIX: dict[type[msgspec.Struct], tuple[tuple[str, int], ...]] = {}

_CONSTRAINT_KEYS = {
    at.Ge: "ge",
    at.Gt: "gt",
    at.Le: "le",
    at.Lt: "lt",
    at.MinLen: "min_length",
    at.MaxLen: "max_length",
}
_CONFIG_EXPECTED: dict[str, Any] = {"extra": "forbid", "frozen": True}
_CONFIG_HARMLESS = {
    "extra",
    "frozen",
    "use_enum_values",
    "title",
    "json_schema_extra",
    "protected_namespaces",
}
_DECORATOR_KINDS = (
    "validators",
    "field_validators",
    "root_validators",
    "field_serializers",
    "model_serializers",
    "model_validators",
    "computed_fields",
)


class _Translated:
    """What a type translates to, and whether its values need UTC normalisation."""

    __slots__ = ("fix", "tp")

    def __init__(self, tp: Any, fix: int | None = None) -> None:
        self.tp = tp
        self.fix = fix


def _python_pattern(pattern: str, where: str) -> str:
    # pydantic matches with Rust's regex, where `$` is the end of the text; in Python's re a final `$`
    # also matches before a trailing newline, `\Z` does not.
    if "$" in pattern[:-1].replace(r"\$", ""):
        raise RecordGenerationError(f"{where}: pattern {pattern!r} has a `$` that is not at the end")
    if pattern.endswith("$") and not pattern.endswith(r"\$"):
        return pattern[:-1] + r"\Z"
    return pattern


def _collect_meta(items: typing.Iterable[Any], meta: dict[str, Any], validators: list[Any], where: str) -> None:
    for item in items:
        key = _CONSTRAINT_KEYS.get(type(item))
        if key is not None:
            meta[key] = getattr(item, key)
        elif isinstance(item, FieldInfo):
            if item.default is not PydanticUndefined or item.default_factory is not None or item.alias:
                raise RecordGenerationError(f"{where}: Field() inside a type may only carry constraints")
            _collect_meta(item.metadata, meta, validators, where)
        elif isinstance(item, AfterValidator):
            validators.append(item.func)
        elif type(item).__name__ == "_PydanticGeneralMetadata":
            extra = dict(vars(item))
            if "pattern" in extra:
                meta["pattern"] = _python_pattern(extra.pop("pattern"), where)
            if extra:
                raise RecordGenerationError(f"{where}: unsupported constraints {sorted(extra)}")
        else:
            raise RecordGenerationError(f"{where}: unsupported metadata {item!r}")


def _translate(tp: Any, where: str) -> _Translated:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Annotated:
        meta: dict[str, Any] = {}
        validators: list[Any] = []
        _collect_meta(tp.__metadata__, meta, validators, where)
        inner = _translate(args[0], where)
        for func in validators:
            if func is not _to_utc or inner.fix != _DT:
                raise RecordGenerationError(f"{where}: unsupported validator {func!r}")
        return _Translated(Annotated[inner.tp, msgspec.Meta(**meta)] if meta else inner.tp, inner.fix)
    if tp is AwareDatetime:
        return _Translated(Annotated[datetime, msgspec.Meta(tz=True)], _DT)
    if tp in (int, float, str, bool, type(None)):
        return _Translated(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        struct = _struct_for(tp)
        return _Translated(struct, _NESTED if struct in _FIX else None)
    if isinstance(tp, type) and issubclass(tp, Enum):
        values = [m.value for m in tp]
        if not issubclass(tp, str) or not all(type(v) is str for v in values):
            raise RecordGenerationError(f"{where}: only StrEnum enums are supported, not {tp!r}")
        literal: Any = Literal
        return _Translated(literal[tuple(values)])
    if origin is Literal:
        if not all(type(a) in (str, int) for a in args):
            raise RecordGenerationError(f"{where}: unsupported Literal values {args!r}")
        return _Translated(tp)
    if origin in (Union, types.UnionType):
        parts = [_translate(a, where) for a in args]
        structs = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(structs) > 1 and any(_tag_of(m) is None for m in structs):
            raise RecordGenerationError(f"{where}: a union of models needs a Literal `type` on each")
        fixes = {p.fix for p in parts} - {None}
        if len(fixes) > 1:
            raise RecordGenerationError(f"{where}: union mixes values that need different normalisation")
        return _Translated(Union[tuple(p.tp for p in parts)], fixes.pop() if fixes else None)  # noqa: UP007
    if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        item = _translate(args[0], where)
        if item.fix == _DT:
            raise RecordGenerationError(f"{where}: sequences of datetimes are not supported")
        seq = list[item.tp] if origin is list else tuple[item.tp, ...]  # type: ignore[name-defined]
        return _Translated(seq, _SEQ if item.fix is not None else None)
    if origin is tuple:
        items = [_translate(a, where) for a in args]
        if any(i.fix is not None for i in items):
            raise RecordGenerationError(f"{where}: tuples of structs or datetimes are not supported")
        fixed_tuple: Any = tuple
        return _Translated(fixed_tuple[tuple(i.tp for i in items)])
    if origin is dict:
        if args[0] is not str:
            raise RecordGenerationError(f"{where}: only dict[str, X] is supported")
        value = _translate(args[1], where)
        if value.fix is not None:
            raise RecordGenerationError(f"{where}: dict values that need normalisation are not supported")
        return _Translated(dict[str, value.tp])  # type: ignore[name-defined]
    raise RecordGenerationError(f"{where}: unsupported type {tp!r}")


def _tag_of(model: type[BaseModel]) -> str | None:
    """The value of a model's `type` field when it is a one-value Literal defaulting to that value."""
    field = model.model_fields.get("type")
    if field is None or typing.get_origin(field.annotation) is not Literal:
        return None
    values = typing.get_args(field.annotation)
    if len(values) != 1 or type(values[0]) is not str or field.default != values[0] or field.metadata:
        return None
    return values[0]


def _check_model(model: type[BaseModel]) -> None:
    name = model.__name__
    config = dict(model.model_config)
    for key, expected in _CONFIG_EXPECTED.items():
        if config.get(key) != expected:
            raise RecordGenerationError(f"{name}: model_config[{key!r}] must be {expected!r}")
    unknown = {k for k, v in config.items() if v not in (None, False)} - _CONFIG_HARMLESS
    if unknown:
        raise RecordGenerationError(f"{name}: unsupported model_config {sorted(unknown)}")
    decorators = model.__pydantic_decorators__
    for kind in _DECORATOR_KINDS:
        if getattr(decorators, kind):
            raise RecordGenerationError(f"{name}: {kind} are not supported")
    if getattr(model, "__pydantic_root_model__", False):
        raise RecordGenerationError(f"{name}: root models are not supported")


def _struct_for(model: type[BaseModel]) -> type[msgspec.Struct]:
    cached = _STRUCTS.get(model)
    if cached is not None:
        return cached
    _check_model(model)
    tag = _tag_of(model)
    fields: list[tuple[str, Any, Any]] = []
    fix: list[tuple[str, int]] = []
    for fname, info in model.model_fields.items():
        where = f"{model.__name__}.{fname}"
        if fname == "type" and tag is not None:
            continue
        if info.alias or info.validation_alias or info.serialization_alias or info.exclude or info.discriminator:
            raise RecordGenerationError(f"{where}: aliases, exclude and discriminator are not supported")
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        translated = _translate(annotation, where)
        if translated.fix is not None:
            fix.append((fname, translated.fix))
        if info.default_factory is not None:
            factory: Callable[[], Any] = info.default_factory  # type: ignore[assignment]
            fields.append((fname, translated.tp, msgspec.field(default_factory=factory)))
        elif info.default is not PydanticUndefined:
            default = info.default.value if isinstance(info.default, Enum) else info.default
            fields.append((fname, translated.tp, default))
        else:
            fields.append((fname, translated.tp, msgspec.NODEFAULT))
    struct = msgspec.defstruct(
        f"{model.__name__}Record",
        [(n, t) if d is msgspec.NODEFAULT else (n, t, d) for n, t, d in fields],
        module=__name__,
        namespace={"type": tag} if tag is not None else None,
        tag_field="type" if tag is not None else None,
        tag=tag,
        frozen=True,
        kw_only=True,
        forbid_unknown_fields=True,
        omit_defaults=False,
        # Records are trees of values, never cycles: untracked by the cycle collector, so the hundreds
        # of thousands buffered in windows cost no GC traversal time.
        gc=False,
    )
    _STRUCTS[model] = struct
    _MODELS[struct] = model
    if fix:
        _FIX[struct] = tuple(fix)
    return struct


def _build_event_structs() -> dict[str, type[msgspec.Struct]]:
    out: dict[str, type[msgspec.Struct]] = {}
    for event_type, model in EVENT_CLASSES.items():
        if _tag_of(model) != event_type:
            raise RecordGenerationError(f"{model.__name__}: `type` must be Literal[{event_type!r}]")
        out[event_type] = _struct_for(model)
    return out


_EVENT_STRUCTS: dict[str, type[msgspec.Struct]] = _build_event_structs()
_EVENT_UNION: Any = Union[tuple(_EVENT_STRUCTS.values())]  # noqa: UP007
_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(_EVENT_UNION)
# Event classes with times below the envelope (the envelope's own `time` and `received_time` are
# checked inline by _decode_fast).
_ENVELOPE_FIX = {("time", _DT), ("received_time", _DT)}
if any(not set(_FIX.get(s, ())) >= _ENVELOPE_FIX for s in _EVENT_STRUCTS.values()):
    raise RecordGenerationError("every event needs the envelope's UtcDatetime `time` and `received_time`")
_NESTED_FIX = frozenset(s for s in _EVENT_STRUCTS.values() if set(_FIX[s]) - _ENVELOPE_FIX)
_ENCODER = msgspec.json.Encoder()


# --- UTC normalisation ---------------------------------------------------------------------------


def _normalise(rec: Any) -> Any:
    """`rec` with every UtcDatetime at a non-zero offset converted to UTC, as pydantic's `_to_utc` does."""
    spec = _FIX.get(type(rec))
    if spec is None:
        return rec
    changes: dict[str, Any] | None = None
    for name, kind in spec:
        value = getattr(rec, name)
        if value is None:
            continue
        if kind == _DT:
            if value.tzinfo is not _UTC and value.utcoffset() != _ZERO:
                new = value.astimezone(_UTC)
            else:
                continue
        elif kind == _NESTED:
            new = _normalise(value)
        else:
            items = [_normalise(v) for v in value]
            new = type(value)(items) if any(a is not b for a, b in zip(items, value, strict=True)) else value
        if new is not value:
            if changes is None:
                changes = {}
            changes[name] = new
    return msgspec.structs.replace(rec, **changes) if changes else rec


# --- decoding ------------------------------------------------------------------------------------


def decode_record(raw: bytes | str) -> Any:
    """Decode and validate one JSON event into its record; raises RecordDecodeError."""
    try:
        return _decode_fast(raw)
    except msgspec.DecodeError:
        return _decode_slow(raw)


def _decode_fast(raw: bytes | str) -> Any:
    """msgspec alone (strict, canonical input); raises msgspec.DecodeError on anything else."""
    rec = _DECODER.decode(raw)
    received = rec.received_time
    if rec.time.tzinfo is _UTC and (received is None or received.tzinfo is _UTC) and type(rec) not in _NESTED_FIX:
        return rec  # the common case: every event time on the wire ends in "Z"
    if type(rec) in _FIX:
        try:
            rec = _normalise(rec)
        except OverflowError as exc:  # a time near year 1 or 9999 whose UTC instant is out of range
            raise msgspec.ValidationError(str(exc)) from None
    return rec


def _decode_slow(raw: bytes | str) -> Any:
    """msgspec said no: pydantic, the contract, decides, and explains."""
    try:
        model = decode_event(raw)
    except ValidationError as exc:
        stage, reason = _explain(exc)
        raise RecordDecodeError(stage, _one_line(reason)) from None
    except Exception as exc:  # a validator of the contract that raised something else (e.g. OverflowError)
        raise RecordDecodeError(RejectStage.VALIDATE, _one_line(f"{type(exc).__name__}: {exc}")) from None
    try:
        return record_from_model(model)
    except Exception as exc:
        reason = _one_line(f"valid event that no record can hold: {exc}")
        raise RecordDecodeError(RejectStage.VALIDATE, reason) from None


def _one_line(text: str) -> str:
    return " ".join(text.split("\n"))


_DECODE_ERRORS = {"json_invalid", "json_type", "model_type", "model_attributes_type", "dict_type"}
_TAG_ERRORS = {"union_tag_not_found", "union_tag_invalid"}


def _explain(exc: ValidationError) -> tuple[RejectStage, str]:
    errors = exc.errors(include_url=False)
    first = errors[0]
    kind, loc = first["type"], first["loc"]
    if kind == "json_invalid":
        return RejectStage.DECODE, f"not JSON: {first['ctx'].get('error', first['msg'])}"
    if not loc and kind in _DECODE_ERRORS:
        return RejectStage.DECODE, f"not a JSON object (got {_json_kind(first['input'])})"
    if not loc and kind in _TAG_ERRORS:
        value = first.get("ctx", {}).get("tag")
        if kind == "union_tag_not_found" or value is None:
            return RejectStage.UNKNOWN_TYPE, "type: missing (expected one of the event types)"
        return RejectStage.UNKNOWN_TYPE, f"type: unknown event type {value!r}"
    if loc and loc[0] in EVENT_CLASSES:
        loc = loc[1:]
    path = "".join(_path_part(p) for p in loc).lstrip(".") or "event"
    reason = f"{path}: {first['msg']}"
    if kind not in ("missing", "extra_forbidden"):
        reason += f" (got {_short(first['input'])})"
    if len(errors) > 1:
        reason += f" (+{len(errors) - 1} more)"
    return RejectStage.VALIDATE, reason


def _path_part(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    return f".{part}" if part.isidentifier() else f"[{_short(part)}]"


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return _short(value)


def _short(value: Any) -> str:
    if isinstance(value, dict | list):
        return _json_kind(value)
    try:
        text = _ENCODER.encode(value).decode()
    except Exception:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- conversions ---------------------------------------------------------------------------------


def record_class(event_type: str) -> type[msgspec.Struct]:
    """The Struct class of an event type, e.g. record_class("video.detection")."""
    try:
        return _EVENT_STRUCTS[event_type]
    except KeyError:
        raise KeyError(f"unknown event type {event_type!r}") from None


def record_from_model(model: BaseModel) -> Any:
    """The record of a pydantic contract model (an event, or any model this module generated from)."""
    struct = _STRUCTS.get(type(model))
    if struct is None:
        raise TypeError(f"no record class for {type(model).__name__}")
    target: Any = _EVENT_UNION if isinstance(model, EventBase) else struct
    try:
        rec = msgspec.json.decode(model.model_dump_json(), type=target)
    except msgspec.DecodeError:  # values JSON cannot carry (nan/inf serialise as null)
        rec = msgspec.convert(model.model_dump(mode="python"), target)
    return _normalise(rec)


def record_to_model(rec: Any) -> BaseModel:
    """The pydantic model of a record, validated by the contract."""
    model = _MODELS.get(type(rec))
    if model is None:
        raise TypeError(f"not a record: {type(rec).__name__}")
    return model.model_validate(msgspec.to_builtins(rec, builtin_types=(datetime,)))


def encode_record(rec: Any) -> bytes:
    """JSON of a record, shaped like schemas.encode_event of its model (None fields left out)."""
    return _ENCODER.encode(_drop_none(msgspec.to_builtins(rec)))


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def record_to_builtins(rec: Any) -> Any:
    """Plain JSON-able data of a record (datetimes as RFC 3339 strings), for snapshots."""
    return msgspec.to_builtins(rec)


def record_from_builtins(data: Any) -> Any:
    """The event record of record_to_builtins' output; exact round trip."""
    return msgspec.convert(data, _EVENT_UNION)


def struct_of(model: type[BaseModel]) -> type[msgspec.Struct]:
    """The record class generated from a contract model (e.g. HotlistEntry's, for a snapshot's hotlist hit)."""
    try:
        return _STRUCTS[model]
    except KeyError:
        raise KeyError(f"no record class for {model.__name__}") from None
