"""Static types of the expression language, and how they are read off the pydantic contract."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import AwareDatetime, BaseModel, FutureDatetime, NaiveDatetime, PastDatetime

NUMERIC = frozenset({"int", "float"})
_DATETIMES = (datetime, AwareDatetime, NaiveDatetime, PastDatetime, FutureDatetime)


@dataclass(frozen=True, slots=True)
class Type:
    """A static type. `nullable` says the value may be null at run time (paths through optional fields)."""

    kind: str  # int float string bool timestamp duration null list map object point dyn
    elem: Type | None = None  # list item / map value
    models: tuple[type[BaseModel], ...] = ()  # object: the model (or union of models)
    nullable: bool = False
    choices: frozenset[Any] | None = None  # string/int from a StrEnum or Literal: the allowed values

    def __str__(self) -> str:
        if self.kind in ("list", "map") and self.elem is not None and self.elem.kind != "dyn":
            return f"{self.kind}({self.elem})"
        if self.kind == "object":
            return " | ".join(m.__name__ for m in self.models)
        return self.kind

    def maybe_null(self) -> Type:
        return self if self.nullable else replace(self, nullable=True)

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC

    def is_geo(self) -> bool:
        """A location: a point() or a record with lat and lon (GeoPoint)."""
        if self.kind == "point":
            return True
        return self.kind == "object" and all({"lat", "lon"} <= set(m.model_fields) for m in self.models)


INT = Type("int")
FLOAT = Type("float")
STRING = Type("string")
BOOL = Type("bool")
TIMESTAMP = Type("timestamp")
DURATION = Type("duration")
NULL = Type("null", nullable=True)
POINT = Type("point")
DYN = Type("dyn", nullable=True)


def list_of(elem: Type) -> Type:
    return Type("list", elem)


def map_of(elem: Type) -> Type:
    return Type("map", elem)


def object_of(*models: type[BaseModel]) -> Type:
    return Type("object", models=models)


def field_names(t: Type) -> list[str]:
    """Fields common to every model of an object type (never names starting with '_')."""
    names = [n for n in t.models[0].model_fields if not n.startswith("_")]
    return [n for n in names if all(n in m.model_fields for m in t.models[1:])]


def field_type(t: Type, name: str) -> Type | None:
    """The type of field `name` of an object type, or None when it has no such field."""
    if name.startswith("_") or name not in field_names(t):
        return None
    info = t.models[0].model_fields[name]
    ft = from_annotation(info.annotation)
    if info.default is None and not ft.nullable:
        ft = ft.maybe_null()
    return ft


def from_python(tp: Any) -> Type:
    """Type of a binding given as a Python type (int, float, str, bool, a model class) or an annotation."""
    return from_annotation(tp)


def from_annotation(tp: Any) -> Type:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Annotated:
        return from_annotation(args[0])
    if tp is type(None):
        return NULL
    if origin in (Union, types.UnionType):
        nullable = type(None) in args
        parts = [from_annotation(a) for a in args if a is not type(None)]
        merged = _merge(parts)
        return merged.maybe_null() if nullable else merged
    if origin is Literal:
        kinds = {type(a) for a in args}
        if kinds == {str}:
            return Type("string", choices=frozenset(args))
        if kinds == {int}:
            return Type("int", choices=frozenset(args))
        if kinds == {bool}:
            return BOOL
        return DYN
    if origin in (list, tuple, set, frozenset):
        items = [a for a in args if a is not Ellipsis]
        return list_of(_merge([from_annotation(a) for a in items]) if items else DYN)
    if origin is dict:
        return map_of(from_annotation(args[1]) if len(args) == 2 else DYN)
    if isinstance(tp, type):
        if issubclass(tp, bool):
            return BOOL
        if issubclass(tp, Enum):
            values = [m.value for m in tp]
            if all(isinstance(v, str) for v in values):
                return Type("string", choices=frozenset(values))
            return DYN
        if issubclass(tp, int):
            return INT
        if issubclass(tp, float):
            return FLOAT
        if issubclass(tp, str):
            return STRING
        if issubclass(tp, _DATETIMES):
            return TIMESTAMP
        if issubclass(tp, BaseModel):
            return object_of(tp)
    return DYN


def _merge(parts: list[Type]) -> Type:
    """One type for a union of alternatives: identical kinds merge, numbers widen to float, else dyn."""
    if not parts:
        return DYN
    kinds = {p.kind for p in parts}
    if len(kinds) == 1:
        kind = kinds.pop()
        if kind == "object":
            models = tuple(dict.fromkeys(m for p in parts for m in p.models))
            return object_of(*models)
        if len(parts) == 1:
            return parts[0]
        choices = [p.choices for p in parts if p.choices is not None]
        merged = frozenset().union(*choices) if len(choices) == len(parts) else None
        return Type(kind, parts[0].elem, choices=merged)
    if kinds <= NUMERIC:
        return FLOAT
    return DYN


Fn = typing.Callable[[Any], Any]


@dataclass(slots=True)
class Typed:
    """A compiled node: its static type and its closure; `const` nodes also carry their value."""

    type: Type
    fn: Fn
    const: bool = False
    value: Any = None


def constant(t: Type, value: Any) -> Typed:
    # a folded null keeps its type but says it is null, so no fast path (for non-null operands) takes it
    return Typed(t.maybe_null() if value is None else t, lambda _o: value, True, value)


def literal_type(value: Any) -> Type:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    return STRING
