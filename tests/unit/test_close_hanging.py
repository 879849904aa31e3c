"""The bookkeeping behind closing a transaction the broker left open on the group's offsets
(streams/kafka/worker.py, `_close_hanging`): which offsets the worker re-commits, and when it knows none.

The broker side (a commit marker lost in the broker's shutdown window) cannot be made on demand: the chaos
suite (tests/chaos/test_broker_restart.py) met it in 4 of 19 runs at `make test`'s scale, and
tests/kafka/test_hanging.py reads offsets on record from the real broker while a transaction holds them. Here
the worker's transactions and the broker's answers are stand-ins, to pin the rules themselves."""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import TopicPartition

import streams.kafka.worker as worker_module
from streams.kafka.settings import KafkaSettings
from streams.kafka.txn import TransactionAborted
from streams.kafka.worker import Worker, WorkerConfig
from tests.support import CATALOG


class _Txn:
    def __init__(self, fail: bool = False) -> None:
        self.commits: list[list[tuple[str, int, int]]] = []
        self.fail = fail
        self.in_doubt = False

    def commit(self, offsets: list[TopicPartition], group_metadata: object) -> None:
        if self.fail:
            raise TransactionAborted("the broker is away")
        self.commits.append(sorted((tp.topic, tp.partition, tp.offset) for tp in offsets))


class _Consumer:
    def consumer_group_metadata(self) -> object:
        return object()


def _worker(committed: dict[str, int], assigned: set[tuple[str, int]], failing_for: float, txn: _Txn) -> Worker:
    """A worker with only what _close_hanging reads: no broker, no consumer, no producer."""
    w = object.__new__(Worker)
    w.config = WorkerConfig(rules=(CATALOG,), group="g")
    w.settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    w._committed = dict(committed)
    w._assigned = set(assigned)
    w._restore_failing_since = time.monotonic() - failing_for
    w._closed_hanging_at = 0.0
    w.txn = txn  # type: ignore[assignment]
    w.consumer = _Consumer()  # type: ignore[assignment]
    return w


@pytest.fixture
def on_record(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """What the group coordinator holds, as offsets_on_record would read it (the test fills it)."""
    held: dict[str, int] = {}

    def read(settings: Any, group: str, keys: list[str]) -> dict[str, int]:
        return {k: held.get(k, -1001) for k in keys}

    monkeypatch.setattr(worker_module, "offsets_on_record", read)
    return held


def test_the_last_committed_offsets_of_owned_partitions_are_committed_again(on_record: dict[str, int]) -> None:
    txn = _Txn()
    committed = {"calls:0": 10, "calls:1": 20, "anpr:0": 30, "video:2": 5}
    on_record.update({"calls:0": 7, "calls:1": 20, "anpr:0": 31})  # anpr:0: someone committed past ours
    w = _worker(committed, {("calls", 0), ("calls", 1), ("anpr", 0)}, failing_for=6.0, txn=txn)  # video:2 not ours
    w._close_hanging()
    assert txn.commits == [[("calls", 0, 10), ("calls", 1, 20)]]


def test_nothing_is_committed_before_reclose_after_or_without_a_last_commit(on_record: dict[str, int]) -> None:
    txn = _Txn()
    _worker({"calls:0": 10}, {("calls", 0)}, failing_for=1.0, txn=txn)._close_hanging()  # too soon
    _worker({}, {("calls", 0)}, failing_for=60.0, txn=txn)._close_hanging()  # a restarted worker knows nothing
    assert txn.commits == []


def test_a_failed_try_is_retried_ten_seconds_later_not_at_every_restore(on_record: dict[str, int]) -> None:
    txn = _Txn(fail=True)
    w = _worker({"calls:0": 10}, {("calls", 0)}, failing_for=6.0, txn=txn)
    w._close_hanging()
    txn.fail = False
    w._close_hanging()  # within 10 s of the first try
    assert txn.commits == []
    w._closed_hanging_at -= 10.0
    w._close_hanging()
    assert txn.commits == [[("calls", 0, 10)]]


def test_a_commit_in_doubt_forgets_the_last_offsets(monkeypatch: pytest.MonkeyPatch) -> None:
    """commit_transaction timed out: the broker may hold newer offsets than the worker's last known commit."""
    txn = _Txn()
    w = _worker({"calls:0": 10}, {("calls", 0)}, failing_for=0.0, txn=txn)
    w._rewind_due = False

    def aborted(snapshot: bool, background: bool = False) -> None:
        txn.in_doubt = True
        raise TransactionAborted("commit_transaction did not return within 10 s")

    monkeypatch.setattr(w, "_commit", aborted)
    monkeypatch.setattr(w, "_rewind", lambda: None)
    w.commit()
    assert w._committed == {}


def test_an_abort_before_the_commit_was_asked_keeps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    txn = _Txn()
    w = _worker({"calls:0": 10}, {("calls", 0)}, failing_for=0.0, txn=txn)
    w._rewind_due = False

    def aborted(snapshot: bool, background: bool = False) -> None:
        txn.in_doubt = False  # send_offsets_to_transaction failed: nothing committed
        raise TransactionAborted("send_offsets_to_transaction did not return within 10 s")

    monkeypatch.setattr(w, "_commit", aborted)
    monkeypatch.setattr(w, "_rewind", lambda: None)
    w.commit()
    assert w._committed == {"calls:0": 10}
