"""A transaction left open on the group's offsets (a producer of another transactional id that never ends it)
makes the group's committed offsets unreadable: the worker keeps retrying its restore instead of dying, and
after `hanging_after` seconds it says what is wrong and which command aborts the transaction; once the
transaction is gone it restores and works."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from schemas.topics import EVENT_TOPICS
from streams.kafka.offsets import offsets_on_record
from streams.kafka.settings import KafkaSettings
from streams.kafka.worker import Worker, WorkerConfig
from tests.golden.harness import CATALOG
from tests.kafka.helpers import isolated, produce, simulated
from tests.kafka_broker import Broker, unique

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _hanging(kafka_broker: Broker | str, tmp_path: Path, name: str) -> tuple[KafkaSettings, str, Producer]:
    """Topics with some events, and a group whose offsets another producer writes in a transaction it never
    ends (as a process killed between send_offsets_to_transaction and commit, whose transactional id never
    comes back). Returns that producer: abort_transaction is what the operator runs."""
    bootstrap = kafka_broker if isinstance(kafka_broker, str) else kafka_broker.bootstrap
    settings = isolated(bootstrap, partitions=1)
    group = unique(name)
    produce(settings, [CATALOG], simulated(tmp_path, hours=1, seed=41)[:200])
    stranger = Producer(
        settings.producer_config(**{"transactional.id": unique("stranger"), "transaction.timeout.ms": 600_000})
    )
    stranger.init_transactions(10)
    stranger.begin_transaction()
    meta = Consumer(settings.consumer_config(group)).consumer_group_metadata()
    stranger.send_offsets_to_transaction([TopicPartition(settings.topic(EVENT_TOPICS["anpr.read"]), 0, 1)], meta, 10)
    return settings, group, stranger


def test_a_hanging_transaction_on_the_groups_offsets_is_named_with_the_command_that_aborts_it(
    kafka_broker: Broker | str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings, group, stranger = _hanging(kafka_broker, tmp_path, "hanging")

    # what the worker reads when it closes a transaction of its own that the broker left open: the offsets on
    # record without the pending ones, where a read that requires stable offsets times out
    key = f"{settings.topic(EVENT_TOPICS['anpr.read'])}:0"
    assert offsets_on_record(settings, group, [key]) == {key: -1001}  # none committed yet (OFFSET_INVALID)
    probe = Consumer(settings.consumer_config(group))
    with pytest.raises(KafkaException):
        probe.committed([TopicPartition(settings.topic(EVENT_TOPICS["anpr.read"]), 0)], timeout=3)
    probe.close()

    worker = Worker(WorkerConfig(rules=(CATALOG,), group=group, hanging_after=5.0), settings)
    runner = threading.Thread(target=worker.run, kwargs={"stop_after": 60.0}, daemon=True)
    with caplog.at_level(logging.INFO, logger="saqshy.worker"):
        runner.start()
        deadline = time.monotonic() + 45
        while not any("kafka-transactions.sh" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "no word of the hanging transaction"
            assert runner.is_alive(), "the worker died instead of waiting for its offsets"
            time.sleep(0.5)
        hint = next(r for r in caplog.records if "kafka-transactions.sh" in r.getMessage())
        assert hint.levelno == logging.ERROR and group in hint.getMessage() and "abort" in hint.getMessage()

        stranger.abort_transaction(10)  # what the operator runs; the worker goes on by itself
        deadline = time.monotonic() + 45
        while not any("restored" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the worker did not restore once the transaction was aborted"
            time.sleep(0.5)
    worker.stop()
    runner.join(30)
    assert not runner.is_alive()


def test_the_faust_engine_names_a_hanging_transaction_and_the_command_that_aborts_it(
    kafka_broker: Broker | str, tmp_path: Path
) -> None:
    """The Faust engine, assigned partitions whose group offsets a hanging transaction holds, ends with an error
    that names the group and the kafka-transactions commands (aiokafka alone waits without a word)."""
    from streams.kafka.faust_worker import FaustWorker
    from streams.kafka.worker import WorkerError

    settings, group, stranger = _hanging(kafka_broker, tmp_path, "hanging-faust")
    try:
        with pytest.raises(WorkerError) as failed:
            FaustWorker(WorkerConfig(rules=(CATALOG,), group=group, hanging_after=5.0), settings).run(stop_after=60)
        said = str(failed.value)
        assert "kafka-transactions.sh" in said and group in said and "abort" in said, said
    finally:
        stranger.abort_transaction(10)
