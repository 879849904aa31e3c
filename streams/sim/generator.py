"""The simulation: reference data, then hour by hour the background of the city plus planted incidents.

Deterministic for a seed: every random draw comes from generators seeded from it, nothing reads the
wall clock, and each hour's events are sorted by (delivery time, generation order) before writing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from schemas import (
    AdminAreaEvent,
    AdminAreaRecord,
    AdminLevel,
    CameraEvent,
    CameraRecord,
    EventBase,
    GeoPoint,
    GeoPolygon,
    HotlistEntry,
    HotlistEvent,
    ZoneEvent,
    ZoneRecord,
    encode_event,
)
from streams.sim import background
from streams.sim.city import City, load_city
from streams.sim.context import Emitter, SimContext, to_dt
from streams.sim.io import open_binary
from streams.sim.scenarios import Plan, schedule
from streams.sim.truth import TruthItem, write_truth
from streams.sim.units import Fleet

_LETTERS = "ABCDEFHKLMNOPRSTUXYZ"
_REGIONS = ["02"] * 14 + [
    "01",
    "03",
    "04",
    "05",
    "06",
    "07",
    "08",
    "09",
    "10",
    "12",
    "13",
    "14",
    "15",
    "16",
    "17",
    "18",
    "19",
]
_REASONS = (
    ["stolen"] * 6 + ["wanted"] * 4 + ["robbery", "fled_scene", "unpaid_fines", "unpaid_fines", "amber_alert", "other"]
)


SCENARIO_LEAD_S = 600.0  # more than any scenario's earliest event before its start (fire: 240 s)


@dataclass(frozen=True)
class SimConfig:
    city_dir: Path
    hours: float
    seed: int
    start: datetime
    rate_scale: float = 1.0


@dataclass
class SimResult:
    truth: list[TruthItem] = field(default_factory=list)
    events: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    late: int = 0
    duplicates: int = 0


def _plate(rng: random.Random) -> str:
    return f"{rng.randrange(1000):03d}{''.join(rng.choice(_LETTERS) for _ in range(3))}{rng.choice(_REGIONS)}"


def make_hotlist(rng: random.Random, start: datetime, n: int = 50) -> list[HotlistEntry]:
    """~50 wanted plates; the last five expired before the run (their cars still drive: near misses)."""
    out: list[HotlistEntry] = []
    seen: set[str] = set()
    while len(out) < n:
        plate = _plate(rng)
        if plate in seen:
            continue
        seen.add(plate)
        reason = rng.choice(_REASONS)
        expired = len(out) >= n - 5
        prio = 1 if reason == "amber_alert" else 4 if reason == "unpaid_fines" else rng.choice([2, 2, 3])
        valid_from = start - timedelta(days=rng.uniform(1, 90))
        valid_to = (
            start - timedelta(days=rng.uniform(1, 10))
            if expired
            else (start + timedelta(days=rng.uniform(3, 60)) if rng.random() < 0.4 else None)
        )
        out.append(
            HotlistEntry(
                plate=plate,
                country="KZ",
                reason=reason,
                priority=prio,  # type: ignore[arg-type]
                list_id="mvd-wanted",
                valid_from=valid_from,
                valid_to=valid_to,
            )
        )
    return out


def _norm_codes(plates: list[str]) -> np.ndarray[Any, np.dtype[np.uint8]]:
    # O/0 and B/8 fold together, so "distance" below counts only differences OCR would not explain.
    table = str.maketrans({"O": "0", "B": "8"})
    return np.frombuffer("".join(p.translate(table) for p in plates).encode(), dtype=np.uint8).reshape(len(plates), 8)


def make_fleet(npr: np.random.Generator, hotlist: list[HotlistEntry], start: datetime, n: int = 60_000) -> list[str]:
    """Plates of the city's cars, none within 2 characters of a wanted plate (so background reads with
    one OCR error never fall within the rules' fuzzy distance of 1); expired entries are added back."""
    digits = npr.integers(0, 10, size=(n, 3))
    letters = npr.integers(0, len(_LETTERS), size=(n, 3))
    regions = npr.integers(0, len(_REGIONS), size=n)
    plates = [
        f"{d[0]}{d[1]}{d[2]}{_LETTERS[a[0]]}{_LETTERS[a[1]]}{_LETTERS[a[2]]}{_REGIONS[g]}"
        for d, a, g in zip(digits.tolist(), letters.tolist(), regions.tolist(), strict=True)
    ]
    codes, hot = _norm_codes(plates), _norm_codes([h.plate for h in hotlist])
    keep = np.ones(n, dtype=bool)
    for row in hot:
        keep &= (codes != row).sum(axis=1) >= 3
    fleet = list(dict.fromkeys(p for p, k in zip(plates, keep.tolist(), strict=True) if k))
    # Cars whose hotlist entry expired before the run still drive (near misses for the as-of join);
    # they sit among the commuters (see background.anpr), read a few dozen times a day like them.
    expired = [h.plate for h in hotlist if h.valid_to is not None and h.valid_to <= start]
    for i, plate in enumerate(expired):
        fleet.insert(97 + 1_013 * i, plate)
    return fleet


def reference_events(city: City, hotlist: list[HotlistEntry], start: datetime) -> list[EventBase]:
    refs: list[EventBase] = []
    a = city.admin
    b = city.bbox
    ring = [(b[1], b[0]), (b[3], b[0]), (b[3], b[2]), (b[1], b[2]), (b[1], b[0])]
    kz = [(46.5, 40.6), (87.3, 40.6), (87.3, 55.4), (46.5, 55.4), (46.5, 40.6)]
    areas = [
        AdminAreaRecord(
            area_id="kz",
            name=a.republic or "",
            level=AdminLevel.REPUBLIC,
            geometry=GeoPolygon(coordinates=[kz]),
        ),
        AdminAreaRecord(
            area_id="kz-alatau-region",
            name=a.region or "",
            level=AdminLevel.REGION,
            parent_id="kz",
            geometry=GeoPolygon(coordinates=[ring]),
        ),
        AdminAreaRecord(
            area_id="alatau",
            name=a.city or "",
            level=AdminLevel.CITY,
            parent_id="kz-alatau-region",
            geometry=GeoPolygon(coordinates=[ring]),
        ),
    ]
    areas += [
        AdminAreaRecord(
            area_id=d.area_id,
            name=d.name,
            level=AdminLevel.DISTRICT,
            parent_id="alatau",
            geometry=GeoPolygon.model_validate(d.geometry),
        )
        for d in city.districts
    ]
    refs += [AdminAreaEvent(id=f"ref-area-{x.area_id}", source="sim/ref", time=start, data=x) for x in areas]
    for z in city.zones:
        rec = ZoneRecord(zone_id=z.zone_id, name=z.name, kind=z.kind, geometry=GeoPolygon.model_validate(z.geometry))
        refs.append(ZoneEvent(id=f"ref-zone-{z.zone_id}", source="sim/ref", time=start, data=rec))
    for c in city.cameras:
        cam = CameraRecord(
            camera_id=c.camera_id,
            location=GeoPoint(lat=c.lat, lon=c.lon),
            owner=c.owner,
            kind="anpr" if c.anpr else "overview",
            name=f"{c.road} ({', '.join(c.analytics)})",
        )
        refs.append(CameraEvent(id=f"ref-camera-{c.camera_id}", source="sim/ref", time=start, data=cam))
    refs += [HotlistEvent(id=f"ref-hotlist-{h.plate}", source="sim/ref", time=start, data=h) for h in hotlist]
    return refs


def generate(cfg: SimConfig, result: SimResult) -> Iterator[bytes]:
    """Yield encoded events (without newline) in delivery order; fills `result` as it goes."""
    city = load_city(cfg.city_dir)
    tz = ZoneInfo(city.timezone)
    start = cfg.start.timestamp()
    end = start + cfg.hours * 3600
    rng = random.Random(cfg.seed)
    npr = np.random.default_rng(cfg.seed)
    hotlist = make_hotlist(random.Random(f"{cfg.seed}:hotlist"), cfg.start)
    fleet_plates = make_fleet(npr, hotlist, cfg.start)
    ctx = SimContext(city, rng, Emitter(random.Random(f"{cfg.seed}:delivery"), end))
    fleet = Fleet(city, random.Random(f"{cfg.seed}:units"), start)
    plan = Plan(
        wanted=[h for h in hotlist if h.valid_to is None or h.valid_to.timestamp() > end],
        cloned=fleet_plates[-1:-200:-7],  # from the rarely read end of the fleet
    )
    planted = schedule(random.Random(f"{cfg.seed}:schedule"), start, end, tz)
    bg = background.Background(ctx, npr, fleet_plates, tz, cfg.rate_scale)

    for ev in reference_events(city, hotlist, cfg.start):
        result.events += 1
        yield encode_event(ev)
    for h in range(math.ceil(cfg.hours)):
        h0, h1 = start + h * 3600, min(start + (h + 1) * 3600, end)
        # A scenario's first event can precede its start by up to 4 minutes (the caller before the camera):
        # one starting early in the next hour is made now, before this hour is flushed, or that event would
        # be delivered minutes late and dead-lettered.
        while planted and planted[0][0] < h1 + SCENARIO_LEAD_S:
            t0, sc = planted.pop(0)
            result.truth += sc.run(ctx, plan, t0)
        bg.hour(h0, h1)
        due = sorted((r for r in ctx.requests if r.t < h1), key=lambda r: (r.t, r.ref))
        ctx.requests = [r for r in ctx.requests if r.t >= h1]
        for req in due:
            fleet.dispatch(req)
        fleet.gps(ctx, h0, h1)
        bg.anpr(h0, h1)
        bg.video(h0, h1)
        for line in ctx.emitter.flush(h1):
            result.events += 1
            yield line
    for line in ctx.emitter.flush(math.inf):
        result.events += 1
        yield line
    result.counts = dict(sorted(ctx.emitter.counts.items()))
    result.late, result.duplicates = ctx.emitter.late, ctx.emitter.duplicates
    result.truth.sort(key=lambda t: (t.time, t.truth_id))


def simulate(cfg: SimConfig, out: str | Path, truth_out: str | Path | None = None) -> SimResult:
    result = SimResult()
    with open_binary(out, "wb") as fh:
        batch: list[bytes] = []
        for line in generate(cfg, result):
            batch.append(line)
            if len(batch) >= 4096:
                fh.write(b"\n".join(batch) + b"\n")
                batch.clear()
        if batch:
            fh.write(b"\n".join(batch) + b"\n")
    write_truth(truth_out or default_truth_path(out), result.truth)
    return result


def default_truth_path(out: str | Path) -> Path:
    p = Path(out)
    name = p.name
    for suffix in (".jsonl.gz", ".jsonl", ".gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + ".truth.jsonl")


__all__ = ["SimConfig", "SimResult", "default_truth_path", "generate", "simulate", "to_dt"]
