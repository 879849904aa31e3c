"""The writer: every event and incident version lands once, personal data only as pseudonyms, a redelivery
is never counted twice, and nothing is lost while ClickHouse is down."""

from __future__ import annotations

import socket
from collections import Counter
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from jobs.archive.dsn import connect
from jobs.archive.errors import ArchiveUnavailable
from jobs.archive.writer import ArchiveWriter, Backoff
from rules.privacy import PrivacySettings, is_pseudonym, pseudonymise_phone
from tests.archive.conftest import Sim

PRIVACY = PrivacySettings(b"archive-test-secret-0123456789")


def _writer(client: Client, db: str, **kw: Any) -> ArchiveWriter:
    return ArchiveWriter(lambda: client, db, privacy=PRIVACY, log=lambda m: None, **kw)


def _archive(client: Client, db: str, sim: Sim) -> ArchiveWriter:
    w = _writer(client, db, batch_size=20_000, max_buffered=200_000)
    for rec in sim.records:
        w.add_event(rec)
        if w.due:
            assert w.flush()
    for inc in sim.versions:
        w.add_incident(inc)
    assert w.flush()
    return w


def _one(client: Client, sql: str) -> Any:
    return client.query(sql).result_rows[0][0]


def test_every_event_and_incident_lands_once(chdb_client: Client, db: str, sim: Sim) -> None:
    _archive(chdb_client, db, sim)
    expected = Counter(r.type for r in {r.id: r for r in sim.records}.values())
    rows = chdb_client.query(f"SELECT type, count() FROM {db}.events FINAL GROUP BY type").result_rows
    got = {str(t): int(n) for t, n in rows}
    assert got == dict(expected)
    latest = {i.id: i for i in sim.versions}
    assert _one(chdb_client, f"SELECT count() FROM {db}.incidents_latest") == len(latest)
    assert _one(chdb_client, f"SELECT count() FROM {db}.incidents") == len(sim.versions)
    rows = chdb_client.query(f"SELECT id, version, status FROM {db}.incidents_latest").result_rows
    assert {r[0]: (r[1], r[2]) for r in rows} == {i.id: (i.version, i.status.value) for i in latest.values()}
    links = {(i.id, e) for i in latest.values() for e in i.event_ids}
    got_links = set(chdb_client.query(f"SELECT incident_id, event_id FROM {db}.incident_events FINAL").result_rows)
    assert links <= got_links


def test_typed_columns_carry_the_payload(chdb_client: Client, db: str, sim: Sim) -> None:
    _archive(chdb_client, db, sim)
    anpr = next(r for r in sim.records if r.type == "anpr.read")
    row = chdb_client.query(
        f"SELECT anpr_plate, subject, round(anpr_confidence, 3), lat, lon, cell_r7 != 0, payload "
        f"FROM {db}.events FINAL WHERE id = {{i:String}}",
        parameters={"i": anpr.id},
    ).result_rows[0]
    assert row[0] == anpr.data.plate and row[1] == anpr.data.camera_id
    assert row[2] == pytest.approx(anpr.data.confidence, abs=1e-3)
    assert (row[3], row[4], row[5]) == (anpr.location.lat, anpr.location.lon, True)
    assert anpr.data.plate in row[6]
    n_ref = _one(chdb_client, f"SELECT count() FROM {db}.ref_cameras FINAL")
    assert n_ref == len({r.data.camera_id for r in sim.records if r.type == "ref.camera"})


def test_no_phone_number_is_stored_in_clear_outside_restricted_columns(chdb_client: Client, db: str, sim: Sim) -> None:
    _archive(chdb_client, db, sim)
    phones = {r.data.phone for r in sim.records if r.type == "call.112" and r.data.phone}
    assert len(phones) > 20
    string_cols = {
        table: [
            name
            for name, typ in chdb_client.query(f"SELECT name, type FROM system.columns WHERE database = '{db}' "
                                               f"AND table = '{table}'").result_rows
            if "String" in typ and not name.startswith("restricted_")
        ]
        for table in ("events", "incidents", "incident_events")
    }  # fmt: skip
    for table, cols in string_cols.items():
        blob = " || ".join(f"toString({c})" for c in cols)
        hits = chdb_client.query(
            f"SELECT count() FROM {db}.{table} WHERE multiSearchAny({blob}, {{p:Array(String)}})",
            parameters={"p": sorted(phones)},
        ).result_rows[0][0]
        assert hits == 0, f"{table} stores clear phone numbers"
    stored = {
        r[0] for r in chdb_client.query(f"SELECT call_phone FROM {db}.events WHERE type = 'call.112'").result_rows
    }
    assert all(is_pseudonym(p) for p in stored if p)
    assert {pseudonymise_phone(p, PRIVACY.secret) for p in phones} == stored - {""}
    # The incident keyed on a phone keeps it in clear only in the restricted columns.
    rp = [i for i in sim.versions if i.rule_id == "calls.repeat_phone"]
    if rp:
        key, pseudo, labels = chdb_client.query(
            f"SELECT restricted_key, key_pseudonym, labels FROM {db}.incidents WHERE id = {{i:String}} LIMIT 1",
            parameters={"i": rp[0].id},
        ).result_rows[0]
        assert key == rp[0].key and pseudo == pseudonymise_phone(rp[0].key, PRIVACY.secret)
        assert all(is_pseudonym(v) for k, v in labels.items() if k == "phone")


def test_redelivery_is_not_counted_twice(chdb_client: Client, db: str, sim: Sim) -> None:
    _archive(chdb_client, db, sim)
    calls_before = _one(chdb_client, f"SELECT uniqExactMerge(ids) FROM {db}.map_daily WHERE layer = 'call.112' "
                                      "AND resolution = 8")  # fmt: skip
    # The same batch twice (a retry after a lost acknowledgement): ClickHouse drops the second by its token.
    w = _writer(chdb_client, db, batch_size=10_000, max_buffered=10_000)
    first = sim.records[:5000]
    # no background merge between the two counts: the simulated stream holds redelivered copies (same id),
    # which a merge of the ReplacingMergeTree would collapse, making count() drop by itself
    chdb_client.command(f"SYSTEM STOP MERGES {db}.events")
    try:
        w.add_events(first)
        assert w.flush()
        rows_before = _one(chdb_client, f"SELECT count() FROM {db}.events")
        w.add_events(first)
        assert w.flush()
        assert _one(chdb_client, f"SELECT count() FROM {db}.events") == rows_before
    finally:
        chdb_client.command(f"SYSTEM START MERGES {db}.events")
    # A redelivery in a different batch (after a crash): extra rows until merged, but FINAL and the map count once.
    w.add_events(sim.records[2000:7000])
    for inc in sim.versions:
        w.add_incident(inc)
    assert w.flush()
    assert _one(chdb_client, f"SELECT count() FROM {db}.events FINAL") == len({r.id for r in sim.records})
    assert _one(chdb_client, f"SELECT uniqExactMerge(ids) FROM {db}.map_daily WHERE layer = 'call.112' "
                             "AND resolution = 8") == calls_before  # fmt: skip
    assert _one(chdb_client, f"SELECT count() FROM {db}.incidents_latest") == len({i.id for i in sim.versions})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_clickhouse_down_keeps_everything_and_lands_it_later(chdb_client: Client, db: str, sim: Sim) -> None:
    down_url = f"http://127.0.0.1:{_closed_port()}"
    attempts: list[str] = []

    def connect_flaky() -> Client:
        attempts.append("try")
        if len(attempts) <= 3:
            return connect(down_url)  # a real clickhouse-connect HTTP client against a closed port
        return chdb_client

    slept: list[float] = []
    w = ArchiveWriter(
        connect_flaky, db, privacy=PRIVACY, batch_size=1000, max_buffered=4000,
        backoff=Backoff(0.01, 0.04), sleep=slept.append, log=lambda m: None,
    )  # fmt: skip
    batch = sim.records[:4000]
    w.add_events(batch)
    assert w.full
    assert w.flush() is False  # down: nothing lost, nothing claimed durable
    assert w.buffered == 4000 and w.stats.failures == 1 and "127.0.0.1" in w.stats.last_error
    assert w.flush(wait=True)  # two more failures with backoff, then it lands
    assert slept == [0.01, 0.02] and w.buffered == 0
    ids = {r.id for r in batch}
    got = {r[0] for r in chdb_client.query(f"SELECT id FROM {db}.events FINAL").result_rows}
    assert got == ids


def test_close_raises_when_rows_cannot_be_archived(db: str, sim: Sim) -> None:
    w = ArchiveWriter(
        lambda: connect(f"http://127.0.0.1:{_closed_port()}"), db, privacy=PRIVACY, batch_size=10, max_buffered=10,
        backoff=Backoff(0.01, 0.01), sleep=lambda s: None, log=lambda m: None,
    )  # fmt: skip
    w.add_events(sim.records[:10])
    with pytest.raises(ArchiveUnavailable, match="10 rows could not be archived"):
        w.close(deadline_s=0.05)
