"""Durations ("90s", "10m", "2h", "1d") and distances ("300m", "1.5km") as analysts write them."""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DISTANCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|km)\s*$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_DURATION = 366 * 86400.0  # a year: longer windows and timeouts are mistakes, and state would never expire
MAX_DISTANCE = 20_000_000.0  # half the Earth's circumference


def parse_duration(value: object, at_most: float = MAX_DURATION) -> float:
    """Seconds. A bare number is seconds; strings need a unit so "10" vs "10m" is never ambiguous. Rule fields
    (windows, gaps, timeouts) are at most a year; expressions pass their own bound."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number with a unit, e.g. 90s, 10m, 2h, 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _SECONDS[m.group(2)]
    else:
        raise ValueError(f"not a duration: {value!r} (write e.g. 90s, 10m, 2h, 1d)")
    if not math.isfinite(seconds):
        raise ValueError("a duration must be a finite number")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > at_most:
        raise ValueError("a duration is at most a year (366d)" if at_most == MAX_DURATION else "duration out of range")
    return seconds


def parse_distance(value: object) -> float:
    """Metres. A bare number is metres."""
    if isinstance(value, bool):
        raise ValueError("a distance is a number with a unit, e.g. 300m or 1.5km")
    if isinstance(value, int | float):
        metres = float(value)
    elif isinstance(value, str) and (m := _DISTANCE.match(value)):
        metres = float(m.group(1)) * (1000.0 if m.group(2) == "km" else 1.0)
    else:
        raise ValueError(f"not a distance: {value!r} (write e.g. 300m or 1.5km)")
    if not math.isfinite(metres):
        raise ValueError("a distance must be a finite number")
    if metres <= 0:
        raise ValueError("a distance must be positive")
    if metres > MAX_DISTANCE:
        raise ValueError("a distance is at most 20000km")
    return metres


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
