"""The archiver against a real Kafka broker: everything lands, nothing is committed before it is in
ClickHouse, memory stays bounded while ClickHouse is down, bad messages become dead letters."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from jobs.archive.consumer import KafkaArchiver
from jobs.archive.dsn import connect
from jobs.archive.writer import ArchiveWriter, Backoff
from rules.privacy import PrivacySettings
from rules.records import encode_record
from schemas.topics import DEAD_LETTERS, EVENT_TOPICS, INCIDENTS
from streams.kafka.settings import KafkaSettings
from tests.archive.conftest import ROOT, Sim
from tests.kafka_broker import unique
from tests.scrape import free_port, scrape, total

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
N_EVENTS = 3000


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_archiver_survives_clickhouse_down_and_commits_after_insert(
    kafka_bootstrap: str, chdb_client: Client, db: str, sim: Sim
) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=unique("arch") + ".")
    topics = sorted({settings.topic(t) for t in (*EVENT_TOPICS.values(), INCIDENTS, DEAD_LETTERS)})
    admin = AdminClient(settings.admin_config())
    for fut in admin.create_topics([NewTopic(t, 2, 1) for t in topics]).values():
        fut.result(30)
    producer = Producer(settings.producer_config())
    records = [r for r in sim.records if r.type in EVENT_TOPICS][:N_EVENTS]
    for rec in records:
        producer.produce(settings.topic(EVENT_TOPICS[rec.type]), encode_record(rec), rec.id.encode())
    for inc in sim.versions:
        producer.produce(settings.topic(INCIDENTS), inc.model_dump_json().encode(), inc.id.encode())
    producer.produce(settings.topic(EVENT_TOPICS["call.112"]), b'{"id": "broken", "type": "call.112"', b"x")
    assert producer.flush(30) == 0

    group = unique("archive")
    watcher = Consumer(settings.consumer_config(group))
    in_topics = [settings.topic(t) for t in (*EVENT_TOPICS.values(), INCIDENTS)]
    parts = [TopicPartition(t, p) for t in in_topics for p in (0, 1)]
    committed_while_down: list[int] = []
    down = f"http://127.0.0.1:{_closed_port()}"
    attempts = [0]

    def flaky() -> Client:
        attempts[0] += 1
        if attempts[0] <= 4:
            committed_while_down.extend(tp.offset for tp in watcher.committed(parts, timeout=10))
            return connect(down)  # ClickHouse is down: a real HTTP client to a closed port
        return chdb_client

    writer = ArchiveWriter(
        flaky, db, privacy=PrivacySettings(), batch_size=400, max_buffered=1000, backoff=Backoff(0.05, 0.2),
        log=lambda m: None,
    )  # fmt: skip
    port = free_port()
    archiver = KafkaArchiver(
        settings, writer, group_id=group, flush_interval_s=0.5, report=lambda s: None, metrics_port=port
    )
    stats = archiver.run(stop_after_s=120, idle_exit_s=3)

    assert writer.stats.failures == 4
    assert committed_while_down and all(o < 0 for o in committed_while_down), "offsets committed before insert"
    assert stats.paused >= 1 and stats.max_buffered <= 1000 + 1
    ids = {r[0] for r in chdb_client.query(f"SELECT id FROM {db}.events FINAL").result_rows}
    assert ids == {r.id for r in records}
    versions = chdb_client.query(f"SELECT count() FROM {db}.incidents FINAL").result_rows[0][0]
    assert versions == len({(i.id, i.version) for i in sim.versions})
    assert stats.dead_letters == 1 and stats.total_lag == 0
    final = watcher.committed(parts, timeout=10)
    highs = [watcher.get_watermark_offsets(tp, timeout=10)[1] for tp in parts]
    assert [tp.offset if tp.offset >= 0 else 0 for tp in final] == highs
    watcher.close()

    dlq = Consumer(settings.consumer_config(unique("dlq")))
    dlq.subscribe([settings.topic(DEAD_LETTERS)])
    letters: list[bytes] = []
    for _ in range(40):
        msg = dlq.poll(0.5)
        if msg is not None and msg.error() is None:
            letters.append(msg.value() or b"")
            break
    dlq.close()
    assert letters and b"archiver:" in letters[0] and b'"offset"' in letters[0]

    m = scrape(port)  # the metrics endpoint, as Prometheus reads it
    n_incidents = len(sim.versions)
    assert total(m, "saqshy_archive_rows_in_total", table="events") == len(records)
    assert total(m, "saqshy_archive_rows_in_total", table="incidents") == n_incidents
    assert total(m, "saqshy_archive_rows_out_total", table="events") == len(records)
    assert total(m, "saqshy_archive_rows_out_total", table="incidents") == n_incidents
    assert total(m, "saqshy_archive_rows_out_total", table="incident_events") > 0
    assert total(m, "saqshy_archive_insert_failures_total") == 4
    assert total(m, "saqshy_archive_insert_seconds_count") == writer.stats.batches
    assert total(m, "saqshy_archive_commits_total") == stats.commits
    assert total(m, "saqshy_archive_dead_letters_total", stage="decode") == 1
    assert total(m, "saqshy_archive_consumer_lag") == 0
    assert (settings.topic(INCIDENTS), "0") in {
        (dict(ls)["topic"], dict(ls)["partition"]) for n, ls in m if n == "saqshy_archive_consumer_lag"
    }


def test_the_archive_command_drains_the_topics(kafka_bootstrap: str, sim: Sim, tmp_path: Path) -> None:
    prefix = unique("cmd") + "."
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix)
    topics = sorted({settings.topic(t) for t in (*EVENT_TOPICS.values(), INCIDENTS, DEAD_LETTERS)})
    admin = AdminClient(settings.admin_config())
    for fut in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
        fut.result(30)
    producer = Producer(settings.producer_config())
    records = [r for r in sim.records if r.type in EVENT_TOPICS][:500]
    for rec in records:
        producer.produce(settings.topic(EVENT_TOPICS[rec.type]), encode_record(rec))
    assert producer.flush(30) == 0
    env = {**os.environ, "SAQSHY_KAFKA_TOPIC_PREFIX": prefix}
    dsn = f"chdb://{tmp_path / 'archive'}"
    cmd = [sys.executable, "-m", "saqshy", "archive", "--archive", dsn, "--bootstrap", kafka_bootstrap,
           "--group", unique("g"), "--until-idle", "2", "--stop-after", "90"]  # fmt: skip
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=150, check=False)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["archive"]["events"] == len(records) and out["archive"]["total_lag"] == 0
    assert out["writer"]["events"] == len(records) and out["archive"]["commits"] >= 1
