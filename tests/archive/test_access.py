"""Access control. Roles and row policies need a ClickHouse server (chDB has no users), so the SQL is checked
as text here, and each scope's row condition is checked for meaning by running it as a WHERE clause over an
archived city on chDB: a district scope sees exactly its district, the city scope sees all of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from jobs.archive.access import SCOPED_TABLES, Scope, access_statements, load_scopes
from jobs.archive.errors import MigrationError
from jobs.archive.rows import INCIDENT_COLUMNS
from jobs.archive.writer import ArchiveWriter
from rules.privacy import PrivacySettings
from tests.archive.conftest import ROOT, Sim

SCOPES = ROOT / "infra" / "clickhouse" / "scopes.yaml"


def test_reader_role_is_read_only_and_never_sees_restricted_columns() -> None:
    sql = access_statements("saqshy", load_scopes(SCOPES), INCIDENT_COLUMNS)
    reader = [s for s in sql if s.endswith("TO saqshy_reader") and s.startswith("GRANT")]
    assert reader and all(s.startswith("GRANT SELECT") for s in reader)
    incident_grant = next(s for s in reader if ".incidents " in s + " " and "SELECT(" in s)
    granted = re.search(r"SELECT\((.*)\) ON", incident_grant).group(1).split(", ")  # type: ignore[union-attr]
    assert "restricted_key" not in granted and "restricted_payload" not in granted and "key_pseudonym" in granted
    assert any("saqshy_restricted_reader" in s and "ON saqshy.incidents " in s + " " for s in sql)
    assert any("readonly = 1" in s for s in sql)
    assert not any(re.search(r"\b(INSERT|ALTER|DROP|TRUNCATE)\b", s) for s in sql if s.startswith("GRANT"))


def test_every_scope_gets_a_policy_on_every_scoped_table() -> None:
    scopes = load_scopes(SCOPES)
    sql = access_statements("db1", scopes, INCIDENT_COLUMNS)
    for scope in scopes:
        policies = [s for s in sql if s.startswith(f"CREATE ROW POLICY OR REPLACE {scope.role} ")]
        assert sorted(re.search(r" ON db1\.(\w+) ", p).group(1) for p in policies) == sorted(SCOPED_TABLES)  # type: ignore[union-attr]
        assert all(p.endswith(f"USING {scope.condition()} TO {scope.role}") for p in policies)
        # A scoped role must not inherit the reader role, whose allow-all policy would widen it.
        assert f"GRANT saqshy_reader TO {scope.role}" not in sql


def test_scope_values_are_quoted_and_names_checked(tmp_path: Path) -> None:
    s = Scope("odd", city="O'Hare \\ City")
    assert s.condition() == "city = 'O\\'Hare \\\\ City'"
    with pytest.raises(MigrationError):
        Scope("Bad-Name", city="x")
    with pytest.raises(MigrationError):
        Scope("empty")
    f = tmp_path / "s.yaml"
    f.write_text("scopes:\n  - {name: a, city: X}\n  - {name: a, city: Y}\n")
    with pytest.raises(MigrationError, match="duplicate"):
        load_scopes(f)


def test_scope_conditions_select_their_own_rows(chdb_client: Client, db: str, sim: Sim) -> None:
    w = ArchiveWriter(lambda: chdb_client, db, privacy=PrivacySettings(), batch_size=50_000, max_buffered=200_000)
    w.add_events(sim.records)
    for inc in sim.versions:
        w.add_incident(inc)
    assert w.flush(wait=True)
    scopes = load_scopes(SCOPES)
    districts = {s.district: s for s in scopes if s.district}
    city = next(s for s in scopes if s.district is None)
    for table in ("events", "incidents", "map_daily"):
        total = chdb_client.query(f"SELECT count() FROM {db}.{table} WHERE district != ''").result_rows[0][0]
        assert total > 0
        seen = 0
        for name, scope in districts.items():
            rows = chdb_client.query(
                f"SELECT DISTINCT district FROM {db}.{table} WHERE {scope.condition()}"
            ).result_rows
            assert {r[0] for r in rows} <= {name}, f"{scope.role} on {table} sees other districts"
            seen += chdb_client.query(f"SELECT count() FROM {db}.{table} WHERE {scope.condition()}").result_rows[0][0]
        assert seen == total, f"district scopes on {table} do not cover every row with a district"
        city_rows = chdb_client.query(f"SELECT count() FROM {db}.{table} WHERE {city.condition()}").result_rows[0][0]
        assert city_rows == total
