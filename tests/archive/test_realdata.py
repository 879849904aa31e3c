"""Real public data through the archive: San Francisco police incident reports (Dec 2018) and NYC motor
vehicle collisions. Expected figures are counted straight from the CSV files, independently of the pipeline."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from clickhouse_connect.driver.client import Client

from jobs.archive.writer import ArchiveWriter
from jobs.crimemap.query import MapQuery, fetch
from rules.privacy import PrivacySettings
from rules.records import record_from_model
from schemas import CallCategory, EventBase
from streams.importers.nyc_collisions import import_nyc_collisions
from streams.importers.sf_police import CATEGORIES, import_sf_police
from tests.archive.conftest import DATA

SF = DATA / "crime" / "sf_police_incidents_dec2018.csv"
NYC = DATA / "accidents" / "nyc_mv_collisions_crashes_sample.csv"
pytestmark = pytest.mark.realdata


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"needs the public data file ../shared/data/{path.relative_to(DATA)}")


def _archive(client: Client, db: str, events: Sequence[EventBase]) -> None:
    w = ArchiveWriter(lambda: client, db, privacy=PrivacySettings(), batch_size=50_000, max_buffered=100_000)
    w.add_events([record_from_model(e) for e in events])
    assert w.flush(wait=True)


def _sf_expected() -> tuple[Counter[str], Counter[str]]:
    """Per category and per UTC day: one report per Incident ID (first row), with a time and a place."""
    by_cat: Counter[str] = Counter()
    by_day: Counter[str] = Counter()
    seen: set[str] = set()
    tz = ZoneInfo("America/Los_Angeles")
    with SF.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            iid = row["Incident ID"].strip()
            if not iid or iid in seen:
                continue
            try:
                lat, lon = float(row["Latitude"]), float(row["Longitude"])
                local = datetime.strptime(row["Incident Datetime"], "%Y/%m/%d %I:%M:%S %p")
            except ValueError:
                continue
            if lat == 0 or lon == 0:
                continue
            seen.add(iid)
            by_cat[CATEGORIES.get(row["Incident Category"].strip(), CallCategory.CRIME).value] += 1
            by_day[local.replace(tzinfo=tz).astimezone(UTC).date().isoformat()] += 1
    return by_cat, by_day


def test_sf_police_reports_on_the_crime_map(chdb_client: Client, db: str) -> None:
    _need(SF)
    imported = import_sf_police(SF)
    _archive(chdb_client, db, imported.events)
    by_cat, by_day = _sf_expected()
    assert sum(by_cat.values()) > 5000
    start, end = datetime(2018, 11, 30, tzinfo=UTC), datetime(2019, 1, 2, tzinfo=UTC)
    data = fetch(chdb_client, MapQuery(start, end, "call.112", resolution=8, bucket="day"), db)
    assert data.by_category == dict(by_cat)
    per_day: Counter[str] = Counter()
    for c in data.cells:
        for day, n in c.counts.items():
            per_day[day] += n  # a report is in exactly one cell, so cell counts add up per day
    assert per_day == by_day
    # Most reports fall inside San Francisco's bounding box, at city scale cells.
    lats = [lat for c in data.cells for lat, _ in c.boundary]
    assert min(lats) > 37.6 and max(lats) < 37.9
    violent = fetch(chdb_client, MapQuery(start, end, "call.112", ("violence",), resolution=7, bucket="day"), db)
    assert violent.total == by_cat["violence"]


def test_nyc_collisions_on_the_accident_layer(chdb_client: Client, db: str) -> None:
    _need(NYC)
    imported = import_nyc_collisions(NYC)
    _archive(chdb_client, db, imported.events)
    ids: set[str] = set()
    severities: Counter[str] = Counter()
    with NYC.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            cid = row["COLLISION_ID"].strip()
            try:
                lat, lon = float(row["LATITUDE"] or "x"), float(row["LONGITUDE"] or "x")
            except ValueError:
                continue
            if not cid or cid in ids or lat == 0 or lon == 0 or abs(lon) > 180 or not row["CRASH_DATE"].strip():
                continue
            ids.add(cid)
            killed, injured = int(row["KILLED_PERSONS"] or 0), int(row["INJURED_PERSONS"] or 0)
            severities["fatal" if killed else "minor_or_serious" if injured else "property_damage"] += 1
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)
    data = fetch(chdb_client, MapQuery(start, end, "accident.record", resolution=7, bucket="day"), db)
    assert data.total == len(ids) > 1000
    got = Counter(
        {
            "fatal": data.by_category.get("fatal", 0),
            "property_damage": data.by_category.get("property_damage", 0),
            "minor_or_serious": data.by_category.get("minor_injury", 0) + data.by_category.get("serious_injury", 0),
        }
    )
    assert +got == +severities
    stored = chdb_client.query(
        f"SELECT sum(accident_injured), sum(accident_killed) FROM {db}.events FINAL WHERE type = 'accident.record'"
    ).result_rows[0]
    assert stored == (
        sum(e.data.injured for e in imported.events),  # type: ignore[attr-defined]
        sum(e.data.killed for e in imported.events),  # type: ignore[attr-defined]
    )
