"""Importers: real public data files turned into contract events (sorted by event time, tz-aware UTC).

Rows without a usable time or place are counted per reason and skipped, never fatal. Event ids derive
from the source's own ids, so importing the same file twice gives the same events. Each importer knows the
export layouts of its source and picks one from the file's header (`detect_layout`); a file that fits none is
refused with the columns each layout misses, before any row is read.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from schemas import EventBase, encode_event
from streams.sim.io import open_binary


@dataclass
class ImportResult:
    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    events: list[EventBase] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, event: EventBase) -> None:
        self.events.append(event)
        self.counts[getattr(event, "type", "?")] += 1

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def write(self, out: str | Path) -> int:
        self.events.sort(key=lambda e: (e.time, e.id))
        with open_binary(out, "wb") as fh:
            for ev in self.events:
                fh.write(encode_event(ev) + b"\n")
        return len(self.events)


class ImportFormatError(ValueError):
    """The file is not an export layout the importer knows; the message names the columns each one misses."""


@dataclass(frozen=True)
class Layout:
    """One known export layout of a source: a name people recognise and the columns it must have."""

    name: str
    required: tuple[str, ...]


def read_header(path: str | Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [h.strip() for h in next(csv.reader(fh), [])]


def detect_layout(path: str | Path, kind: str, layouts: Sequence[Layout]) -> Layout:
    """The first layout whose required columns are all in the header, else ImportFormatError saying what
    each known layout misses (the closest first)."""
    header = read_header(path)
    if not header:
        raise ImportFormatError(f"{path}: empty file, expected a CSV export of {kind} with a header row")
    have = set(header)
    missing = [(layout, [c for c in layout.required if c not in have]) for layout in layouts]
    for layout, gone in missing:
        if not gone:
            return layout
    shown = ", ".join(header[:12]) + (f", ... ({len(header)} columns)" if len(header) > 12 else "")
    known = "; ".join(
        f"{layout.name} misses {', '.join(gone)}" for layout, gone in sorted(missing, key=lambda m: len(m[1]))
    )
    raise ImportFormatError(f"{path}: not a known {kind} export (its header: {shown}). {known}")


def read_rows(path: str | Path) -> Iterator[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        yield from csv.DictReader(fh)


def local_time(value: str, fmt: str, tz: ZoneInfo) -> datetime | None:
    """Parse a naive local timestamp of the source's city and return it in UTC; None when unusable."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return datetime.strptime(value, fmt).replace(tzinfo=tz).astimezone(UTC)
    except ValueError:
        return None


_PAIR = re.compile(r"\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)")


def lat_lon(lat: str | None, lon: str | None) -> tuple[float, float] | None:
    try:
        la, lo = float(lat or ""), float(lon or "")
    except ValueError:
        return None
    if la == 0.0 or lo == 0.0 or not (-90 <= la <= 90 and -180 <= lo <= 180):
        return None  # (0, 0) is the sources' "no place" marker
    return la, lo


def paren_lat_lon(value: str | None) -> tuple[float, float] | None:
    """'(37.74, -122.45)' -> (37.74, -122.45)."""
    m = _PAIR.search(value or "")
    return lat_lon(m.group(1), m.group(2)) if m else None


IMPORTERS = ("sf-fire", "nyc-collisions", "sf-police")
