"""Value types of the camera config's pydantic models, each with its error in the project's words.

A marker in `Annotated[float, Num(0, 1)]` replaces pydantic's own check of that value, so a config error reads
"must be a number in [0, 1], got 'x'" rather than pydantic's wording, and a YAML `true` is never a number (YAML
strings are not coerced either: `sample_fps: "5"` is refused). Validators raise `Invalid` to place an error at a
key below the one pydantic reports (detectors/config.py turns every error into file:line:col: key: message).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

# Every section of a camera config: unknown keys are refused; a field with a YAML alias (zones[].schedule) may be
# given by its Python name from code. Frozen is set on each @dataclass (pydantic warns when both set it).
SECTION = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)


class Invalid(ValueError):
    """A config value is wrong at `at`, a path below the key that pydantic reports (the key itself when empty);
    `key`: the error is about the key (an unknown one), not its value."""

    def __init__(self, message: str, at: tuple[str | int, ...] = (), *, key: bool = False) -> None:
        super().__init__(message)
        self.message, self.at, self.key = message, at, key


def _plain(check: Callable[[Any], Any]) -> CoreSchema:
    return core_schema.no_info_plain_validator_function(check)


def _bound(v: float) -> str:
    return f"{v:g}"


@dataclass(frozen=True)
class Num:
    """A number (int or float, never a bool or a string) in [lo, hi]."""

    lo: float = 0.0
    hi: float = math.inf

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _plain(self.check)

    def check(self, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not self.lo <= v <= self.hi:
            raise Invalid(f"must be a number in [{_bound(self.lo)}, {_bound(self.hi)}], got {shown(v)}")
        return float(v)


@dataclass(frozen=True)
class Int:
    """A whole number >= lo (a float such as 2.0 is refused: counts and sizes are written as integers)."""

    lo: int = 0

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _plain(self.check)

    def check(self, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < self.lo:
            raise Invalid(f"must be an integer >= {self.lo}, got {shown(v)}")
        return v


@dataclass(frozen=True)
class Flag:
    """true or false (not "yes", not 1)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _plain(self.check)

    def check(self, v: Any) -> bool:
        if not isinstance(v, bool):
            raise Invalid(f"must be true or false, got {shown(v)}")
        return v


@dataclass(frozen=True)
class Text:
    """A non-empty string."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _plain(self.check)

    def check(self, v: Any) -> str:
        if not isinstance(v, str) or not v:
            raise Invalid(f"must be a non-empty string, got {shown(v)}")
        return v


@dataclass(frozen=True)
class Names:
    """A list of names (class labels, provider names): a frozenset, or a tuple where order matters."""

    ordered: bool = False
    nonempty: bool = False

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _plain(self.check)

    def check(self, v: Any) -> frozenset[str] | tuple[str, ...]:
        if not isinstance(v, list | tuple | frozenset | set) or not all(isinstance(n, str) and n for n in v):
            raise Invalid(f"must be a list of names, got {shown(v)}")
        if self.nonempty and not v:
            raise Invalid("must list at least one name")
        return tuple(v) if self.ordered else frozenset(v)


Point = tuple[float, float]


@dataclass(frozen=True)
class Points:
    """A list of at least `minimum` [x, y] points in pixels of the source frame."""

    minimum: int

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _plain(self.check)

    def check(self, v: Any) -> tuple[Point, ...]:
        return points(v, self.minimum)


def points(v: Any, minimum: int) -> tuple[Point, ...]:
    def ok(p: Any) -> bool:
        return (
            isinstance(p, list | tuple)
            and len(p) == 2
            and all(isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c) for c in p)
        )

    if not isinstance(v, list | tuple) or len(v) < minimum or not all(ok(p) for p in v):
        raise Invalid(f"must be a list of at least {minimum} [x, y] points (pixels), got {shown(v)}")
    return tuple((float(p[0]), float(p[1])) for p in v)


@dataclass(frozen=True)
class PointXY:
    """One [x, y] point in pixels."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _plain(self.check)

    def check(self, v: Any) -> Point:
        if not isinstance(v, list | tuple) or len(v) != 2:
            raise Invalid(f"must be an [x, y] point (pixels), got {shown(v)}")
        return points([v], 1)[0]


def shown(v: Any, limit: int = 60) -> str:
    """A value as an error quotes it: its repr, cut short."""
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."
