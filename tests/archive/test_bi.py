"""The archive as BI users read it: first acknowledgement and first arrival as columns of incidents and
incidents_latest, chained (meta-) and internal incidents flagged, a comment on every column of every table,
local time per city timezone, and the `chdb://` examples of docs/archive.md."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from jobs.archive.writer import ArchiveWriter
from rules.privacy import PrivacySettings
from schemas import GeoPoint, Incident, IncidentStatus, UnitType
from schemas.context import UnitArrival

PRIVACY = PrivacySettings(b"archive-test-secret-0123456789")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "archive.md"
T0 = datetime(2026, 11, 21, 19, 30, tzinfo=UTC)  # 00:30 the next day in Alatau (UTC+5)
NEW_COLUMNS = ("acknowledged_at", "first_on_scene_at", "time_to_arrive_s", "units_on_scene", "chained", "internal")


def incident(n: int, **kw: Any) -> Incident:
    base: dict[str, Any] = {
        "id": f"inc-{n:020x}",
        "version": 1,
        "rule_id": "fire.camera_and_call",
        "rule_version": 1,
        "category": "fire",
        "status": IncidentStatus.OPEN,
        "priority": 2,
        "priority_base": 2,
        "title": "t",
        "key": f"k{n}",
        "location": GeoPoint(lat=43.25, lon=76.9),
        "first_time": T0,
        "last_time": T0,
        "updated_time": T0,
        "event_ids": [f"ev-{n}"],
        "event_count": 1,
    }
    return Incident(**{**base, **kw})


def arrival(unit: str, after_s: float) -> UnitArrival:
    return UnitArrival(
        unit_id=unit, unit_type=UnitType.FIRE, arrived_time=T0 + timedelta(seconds=after_s), time_to_arrive_s=after_s
    )


def archive(client: Client, db: str, incidents: list[Incident]) -> None:
    w = ArchiveWriter(lambda: client, db, privacy=PRIVACY, log=lambda m: None)
    for inc in incidents:
        w.add_incident(inc)
    assert w.flush()


def test_every_column_of_every_table_has_a_comment(chdb_client: Client, db: str) -> None:
    rows = chdb_client.query(
        "SELECT c.table, c.name, c.comment, t.engine FROM system.columns AS c "
        "JOIN system.tables AS t ON t.database = c.database AND t.name = c.table "
        "WHERE c.database = {d:String}",
        parameters={"d": db},
    ).result_rows
    tables = {r[0] for r in rows if r[3] != "MaterializedView"}
    assert {"events", "incidents", "incidents_latest", "incident_events", "map_hourly", "ref_zones"} <= tables
    # materialized views are only the pipes into map_hourly/map_daily, which carry the comments
    missing = sorted(f"{t}.{n}" for t, n, comment, engine in rows if engine != "MaterializedView" and not comment)
    assert missing == []
    assert sum(1 for r in rows if r[0] == "events") >= 60


def test_acknowledgement_arrival_and_chained_flags_are_columns(chdb_client: Client, db: str) -> None:
    ack = T0 + timedelta(seconds=45)
    plain = incident(1)
    worked = [
        incident(2, arrivals=[], acknowledged_at=ack),
        incident(
            2,
            version=2,
            status=IncidentStatus.UPDATED,
            acknowledged_at=ack,
            updated_time=T0 + timedelta(minutes=9),
            arrivals=[arrival("fs-1", 540.0), arrival("fs-2", 600.0)],
            time_to_arrive_s=540.0,
        ),
    ]
    meta = incident(3, rule_id="meta.fire_cluster", event_ids=[f"{plain.id}@1", f"{worked[1].id}@2"], event_count=2)
    helper = incident(4, rule_id="helper.speed", internal=True)
    archive(chdb_client, db, [plain, *worked, meta, helper])
    for table in ("incidents", "incidents_latest"):
        cols = {r[0] for r in chdb_client.query(f"DESCRIBE TABLE {db}.{table}").result_rows}
        assert set(NEW_COLUMNS) <= cols, table
    got = {
        r[0]: r[1:]
        for r in chdb_client.query(
            f"SELECT id, acknowledged_at, first_on_scene_at, time_to_arrive_s, units_on_scene, chained, internal "
            f"FROM {db}.incidents_latest"
        ).result_rows
    }
    assert got[plain.id] == (None, None, None, 0, 0, 0)
    assert got[worked[1].id] == (ack, T0 + timedelta(seconds=540), 540.0, 2, 0, 0)
    assert got[meta.id][4:] == (1, 0)
    assert got[helper.id][4:] == (0, 1)
    # the BI question of issue 20: mean time from incident to first unit on scene, dispatchable incidents only
    mean = chdb_client.query(
        f"SELECT avg(dateDiff('second', first_time, first_on_scene_at)), "
        f"avg(dateDiff('second', first_time, acknowledged_at)) "
        f"FROM {db}.incidents_latest WHERE NOT chained AND NOT internal AND first_on_scene_at IS NOT NULL"
    ).result_rows[0]
    assert mean == (540.0, 45.0)


def test_local_time_views_per_city_timezone(chdb_client: Client, db: str) -> None:
    archive(chdb_client, db, [incident(1)])
    row = chdb_client.query(
        f"SELECT first_time_local, local_date, local_hour, local_weekday FROM {db}.incidents_local(tz = 'Asia/Almaty')"
    ).result_rows[0]
    assert row[0].utcoffset() == timedelta(hours=5) and row[0].hour == 0 and row[0].minute == 30
    assert (str(row[1]), row[2], row[3]) == ("2026-11-22", 0, 7)  # Sunday in Alatau, Saturday in UTC
    utc = chdb_client.query(f"SELECT local_hour FROM {db}.incidents_local(tz = 'UTC')").result_rows[0][0]
    assert utc == 19


def test_archive_docs_show_embedded_chdb_connections() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert len(re.findall(r"chdb://", text)) >= 3
    assert 'get_client(interface="chdb"' in text or 'connect("chdb://' in text
    for name in ("incidents_local", *NEW_COLUMNS):
        assert name in text, name
