"""The Faust worker mends faust-streaming's transactional commit through private attributes
(streams/kafka/faust_worker.py, _mend_faust_transactions, and the transactional id it computes itself). They
are only safe for the version the mends were written for: this fails when the pin or the internals change."""

from __future__ import annotations

import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

faust = pytest.importorskip("faust")

ROOT = Path(__file__).resolve().parents[2]


def _pinned() -> str:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = [re.fullmatch(r"faust-streaming==([\w.]+)", d) for d in extras["kafka"]]
    found = [m.group(1) for m in pins if m]
    assert found, "faust-streaming must be pinned exactly (==) in the kafka extra"
    return found[0]


def test_installed_faust_is_the_pinned_version() -> None:
    assert version("faust-streaming") == _pinned()


def test_transaction_internals_the_worker_mends_are_there() -> None:
    from faust.transport.drivers.aiokafka import Producer

    # class-level dicts shared by every app: the worker replaces them per producer
    assert isinstance(Producer.__dict__.get("_transaction_producers"), dict)
    assert isinstance(Producer.__dict__.get("_trn_locks"), dict)
    params = list(inspect.signature(Producer.commit_transactions).parameters)
    assert params == ["self", "tid_to_offset_map", "group_id", "start_new_transaction"]
    source = inspect.getsource(Producer.commit_transactions)
    # the mend replaces exactly this sequence, under the same per-transaction lock
    for step in ("_trn_locks[transactional_id]", "send_offsets_to_transaction", "commit_transaction()"):
        assert step in source, step


def test_transactional_id_format_matches_the_workers() -> None:
    from faust.transport.consumer import TransactionManager

    # the worker computes `{app id}-{group for topic}-{partition}` to find a partition's transaction
    assert TransactionManager.transactional_id_format == "{group_id}-{tpg.group}-{tpg.partition}"


def test_app_attributes_the_worker_sets_or_reads() -> None:
    from faust.app.base import App
    from faust.assignor.partition_assignor import PartitionAssignor

    assert "in_worker" in inspect.getsource(App)  # read by app.in_transaction; the worker sets it like faust.Worker
    assert callable(PartitionAssignor.group_for_topic)
