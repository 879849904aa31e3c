"""Fixtures for the forecast tests over chDB: one embedded chDB per test module (one path per process, as in
tests/archive), and a synthetic city of located 112 calls archived through the real writer."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from clickhouse_connect.driver.client import Client

from jobs.archive.writer import ArchiveWriter
from rules.privacy import PrivacySettings
from rules.records import record_from_model
from schemas import AdminPath, CallCategory, EmergencyCall, EmergencyCallEvent, GeoPoint
from streams.importers import ImportResult
from tests.archive.conftest import chdb_client, db  # noqa: F401  (the archive tests' chDB fixtures)

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
DAYS = 21
HOT = (43.2567, 76.9286)  # a hotspot: a third of the calls within ~150 m of it
_N = itertools.count()


def city_calls(seed: int = 4, per_day: int = 60) -> list[EmergencyCallEvent]:
    """DAYS days of located calls over a ~6 x 6 km box, a third at one hotspot; west/east districts."""
    rng = np.random.default_rng(seed)
    out: list[EmergencyCallEvent] = []
    for k in range(DAYS * per_day):
        at = START + timedelta(seconds=float(rng.uniform(0, DAYS * 86_400)))
        if k % 3 == 0:
            lat, lon = HOT[0] + rng.normal(0, 0.0012), HOT[1] + rng.normal(0, 0.0015)
        else:
            lat, lon = 43.23 + rng.uniform(0, 0.054), 76.89 + rng.uniform(0, 0.074)
        district = "West" if lon < 76.927 else "East"
        out.append(
            EmergencyCallEvent(
                id=f"call-{seed}-{k}",
                source="test",
                time=at,
                location=GeoPoint(lat=float(lat), lon=float(lon)),
                admin=AdminPath(republic="R", region="Rg", city="C", district=district),
                data=EmergencyCall(call_id=f"c{k}", category=CallCategory.CRIME if k % 4 else CallCategory.VIOLENCE),
            )
        )
    return out


def archive_calls(client: Client, db: str, calls: list[EmergencyCallEvent]) -> None:  # noqa: F811
    w = ArchiveWriter(lambda: client, db, privacy=PrivacySettings(), batch_size=50_000, max_buffered=100_000)
    w.add_events([record_from_model(e) for e in calls])
    assert w.flush(wait=True)


def write_calls(path: Path, calls: list[EmergencyCallEvent]) -> Path:
    res = ImportResult()
    for c in calls:
        res.add(c)
    res.write(path)
    return path
