"""Shared by the forecast tests and benchmark: the SF police reports (../shared/data) loaded into chDB."""

from __future__ import annotations

import os
from pathlib import Path

from clickhouse_connect.driver.client import Client

from jobs.archive.migrate import migrate
from jobs.archive.writer import ArchiveWriter
from rules.privacy import PrivacySettings
from rules.records import record_from_model
from streams.importers.sf_police import import_sf_police

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("SAQSHY_SHARED_DATA", ROOT / ".." / "shared" / "data"))
SF_POLICE = DATA / "crime" / "sf_police_incidents_dec2018.csv"


def load_sf_police(client: Client, db: str, path: Path = SF_POLICE) -> int:
    """Import the reports as call.112 events and archive them; returns how many were archived."""
    migrate(client, db, server=False)
    events = import_sf_police(path).events
    w = ArchiveWriter(lambda: client, db, privacy=PrivacySettings(), batch_size=50_000, max_buffered=100_000)
    w.add_events([record_from_model(e) for e in events])
    if not w.flush(wait=True):
        raise RuntimeError("the archive writer did not flush the SF reports")
    return len(events)
