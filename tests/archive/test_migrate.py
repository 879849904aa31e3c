"""Migrations: ordered, recorded, idempotent, refusing edited history; the statement splitter."""

from __future__ import annotations

from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from jobs.archive.errors import MigrationError
from jobs.archive.migrate import applied, discover, migrate, split_statements

EXPECTED_TABLES = {
    "events", "incidents", "incidents_latest", "incident_events", "ref_hotlist", "ref_cameras", "ref_zones",
    "ref_admin_areas", "map_hourly", "map_daily", "map_hourly_incidents_mv", "map_daily_incidents_mv",
    "map_hourly_events_mv", "map_daily_events_mv", "schema_migrations",
}  # fmt: skip


def test_migrate_creates_the_schema_and_is_idempotent(chdb_client: Client, db: str) -> None:
    tables = {r[0] for r in chdb_client.query(f"SHOW TABLES FROM {db}").result_rows}
    assert tables >= EXPECTED_TABLES
    names = [m.name for m in discover()]
    assert names == sorted(names) and names[0] == "001_events"
    again = migrate(chdb_client, db, server=False)
    assert [a.name for a in again] == names and all(a.skipped for a in again)
    assert set(applied(chdb_client, db)) == set(names)


def test_events_are_partitioned_by_month_and_ordered_for_time_and_place(chdb_client: Client, db: str) -> None:
    key, partition, engine = chdb_client.query(
        "SELECT sorting_key, partition_key, engine FROM system.tables WHERE database = {d:String} AND name = 'events'",
        parameters={"d": db},
    ).result_rows[0]
    assert partition == "toYYYYMM(time)"
    assert key.startswith("toStartOfHour(time), cell_r7") and key.endswith("id")
    assert engine == "ReplacingMergeTree"


def test_an_edited_applied_migration_is_refused(chdb_client: Client, db: str, tmp_path: Path) -> None:
    root = tmp_path / "mig"
    root.mkdir()
    (root / "001_one.sql").write_text("CREATE TABLE IF NOT EXISTS ${db}.one (a UInt8) ENGINE = MergeTree ORDER BY a;")
    assert [a.skipped for a in migrate(chdb_client, db, server=False, root=root)] == [False]
    (root / "001_one.sql").write_text("CREATE TABLE IF NOT EXISTS ${db}.one (a UInt16) ENGINE = MergeTree ORDER BY a;")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(chdb_client, db, server=False, root=root)


def test_a_failing_statement_names_the_migration(chdb_client: Client, db: str, tmp_path: Path) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    (root / "001_bad.sql").write_text("CREATE TABLE ${db}.x (a NoSuchType) ENGINE = Memory;")
    with pytest.raises(MigrationError, match="001_bad"):
        migrate(chdb_client, db, server=False, root=root)
    assert "001_bad" not in applied(chdb_client, db)


def test_server_only_migrations_are_skipped_on_chdb(chdb_client: Client, db: str, tmp_path: Path) -> None:
    root = tmp_path / "srv"
    (root / "server").mkdir(parents=True)
    (root / "001_a.sql").write_text("SELECT 1;")
    (root / "server" / "001_roles.sql").write_text("CREATE ROLE nobody_can_on_chdb;")
    done = migrate(chdb_client, db, server=False, root=root)
    assert [d.name for d in done] == ["001_a"]


def test_split_statements_respects_quotes_and_comments() -> None:
    sql = "-- a; comment\nSELECT 'a;b' AS x; -- trailing; note\nSELECT `we;ird`;\n\n-- only a comment;\n"
    assert split_statements(sql) == ["SELECT 'a;b' AS x", "SELECT `we;ird`"]
    assert split_statements("SELECT 'it\\'s; fine'") == ["SELECT 'it\\'s; fine'"]


def test_migration_file_names_are_checked(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="NNN_lowercase_name"):
        discover(tmp_path)
