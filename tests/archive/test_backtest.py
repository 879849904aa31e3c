"""Backtest: the deployed rules replayed over the archive give back what they produced; a changed rule shows
its difference per day."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from jobs.archive.errors import ArchiveError
from jobs.archive.writer import ArchiveWriter
from jobs.backtest.backtest import backtest, candidate_ids, candidate_ruleset
from rules.errors import RuleSetError
from rules.privacy import PrivacySettings
from tests.archive.conftest import ROOT, Sim

CATALOG = ROOT / "rules" / "catalog"
START, END = datetime(2026, 11, 21, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)


def _archive(client: Client, db: str, sim: Sim) -> None:
    w = ArchiveWriter(lambda: client, db, privacy=PrivacySettings(), batch_size=50_000, max_buffered=200_000)
    w.add_events(sim.records)
    for inc in sim.versions:
        w.add_incident(inc)
    assert w.flush(wait=True)


UNACK = "dispatch.unacknowledged"


def test_the_deployed_rules_reproduce_the_archive(chdb_client: Client, db: str, sim: Sim) -> None:
    _archive(chdb_client, db, sim)
    ids = candidate_ids([CATALOG])
    report = backtest(chdb_client, candidate_ruleset([CATALOG], CATALOG), ids, START, END + (END - START), db)
    assert report.rejected == 0
    deployed = {i.rule_id for i in sim.versions}
    assert len(deployed) >= 8
    totals = report.totals()
    for rule in deployed:
        assert totals[rule][0] == totals[rule][1], rule
    # keyed on a phone: the archive only has its pseudonym, so its ids differ, and so do the ids of the
    # escalations chained on its incidents (an incident's id comes from its opening evidence)
    phone_keyed = "calls.repeat_phone"
    escalations = {i.id for i in sim.versions if i.rule_id == UNACK and i.labels.get("rule") == phone_keyed}
    for row in report.rows:
        if row.rule_id != phone_keyed:
            differ = len(escalations) if row.rule_id == UNACK else 0
            assert row.archived == row.backtest and row.same_ids == row.archived - differ, row


def test_a_stricter_rule_shows_fewer_incidents(chdb_client: Client, db: str, sim: Sim, tmp_path: Path) -> None:
    _archive(chdb_client, db, sim)
    src = (CATALOG / "calls" / "gas_leak_cluster.yaml").read_text()
    assert "at_least: 2}" in src
    strict = tmp_path / "gas_leak_cluster.yaml"
    strict.write_text(src.replace("at_least: 2}", "at_least: 40}").replace("version: 2\n", "version: 3\n", 1))
    report = backtest(chdb_client, candidate_ruleset([strict], CATALOG), ["calls.gas_leak_cluster"], START, END, db)
    [row] = report.rows
    deployed = len({i.id for i in sim.versions if i.rule_id == "calls.gas_leak_cluster"})
    assert (row.backtest, row.archived, row.diff) == (0, deployed, -deployed) and deployed >= 1
    loose = tmp_path / "loose" / "gas.yaml"
    loose.parent.mkdir()
    loose.write_text(src.replace("window: 30m", "window: 3h").replace("within: 500m", "within: 5km"))
    wide = backtest(chdb_client, candidate_ruleset([loose.parent], CATALOG), ["calls.gas_leak_cluster"], START, END, db)
    assert wide.totals()["calls.gas_leak_cluster"][0] >= deployed


def test_errors_in_a_candidate_name_its_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: broken.rule\nversion: 1\ncategory: x\nselect: {}\n")
    with pytest.raises(RuleSetError) as exc:
        candidate_ruleset([bad], CATALOG)
    assert any("bad.yaml" in str(e) for e in exc.value.errors)


def test_an_empty_range_is_refused(chdb_client: Client, db: str) -> None:
    with pytest.raises(ArchiveError):
        backtest(chdb_client, candidate_ruleset([CATALOG], CATALOG), [], END, START, db)
