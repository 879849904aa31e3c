"""Snapshots serialized in a forked child (streams.kafka.bgsnapshot): the state as of the fork, whatever the
loop changes afterwards; failures and cancellations leave no child and no file behind."""

from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path

import orjson
import pytest

from rules.loader import load_rules
from streams.kafka.bgsnapshot import SnapshotFailed, SnapshotJob
from streams.live import PartitionRuntime
from tests.golden.harness import CATALOG
from tests.kafka.helpers import simulated

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _wait(job: SnapshotJob, timeout: float = 30.0) -> dict[int, bytes]:
    deadline = time.monotonic() + timeout
    while (got := job.poll()) is None:
        assert time.monotonic() < deadline, "the snapshot child did not finish"
        time.sleep(0.005)
    return got


def _children() -> set[int]:
    """This process's child pids (Linux /proc)."""
    me = os.getpid()
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            out.add(int(stat.parent.name))
    return out


def test_the_child_writes_the_state_as_of_the_fork(tmp_path: Path) -> None:
    lines = simulated(tmp_path, hours=1, seed=5)
    runtimes = {p: PartitionRuntime(load_rules([CATALOG]), guard=False) for p in (0, 2)}
    half = len(lines) // 2
    for i, raw in enumerate(lines[:half]):
        runtimes[2 * (i % 2)].feed(raw, "events", 0, i)
    offsets = {p: {f"events:{p}": half} for p in runtimes}
    expected = {p: rt.snapshot(offsets[p]) for p, rt in runtimes.items()}

    job = SnapshotJob.start({p: functools.partial(rt.snapshot, offsets[p]) for p, rt in runtimes.items()})
    for i, raw in enumerate(lines[half:], half):  # the loop goes on while the child serializes
        runtimes[2 * (i % 2)].feed(raw, "events", 0, i)
    got = _wait(job)

    assert got == expected
    assert orjson.loads(got[0])["offsets"] == {"events:0": half}
    assert runtimes[0].snapshot(offsets[0]) != expected[0]  # the parent's state did move on
    assert job.pid not in _children()


def test_superseded_partitions_are_dropped() -> None:
    job = SnapshotJob.start({0: lambda: b"zero", 1: lambda: b"one" * 100_000, 7: lambda: b""})
    job.superseded.add(1)
    assert _wait(job) == {0: b"zero", 7: b""}


def test_a_failing_child_is_reported_and_reaped() -> None:
    def boom() -> bytes:
        raise ValueError("no")

    job = SnapshotJob.start({0: lambda: b"fine", 1: boom})
    with pytest.raises(SnapshotFailed, match="exited with 1"):
        _wait(job)
    assert job.pid not in _children()
    with pytest.raises(SnapshotFailed, match="collected or cancelled"):
        job.poll()


def test_cancel_kills_a_running_child() -> None:
    def slow() -> bytes:
        time.sleep(60)
        return b""

    job = SnapshotJob.start({0: slow})
    assert job.poll() is None
    job.cancel()
    assert job.pid not in _children()
    job.cancel()  # twice is harmless


def test_no_file_is_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    job = SnapshotJob.start({0: lambda: b"x" * 1000})
    assert list(tmp_path.iterdir()) == []  # unlinked at once: a worker killed now leaves nothing
    assert _wait(job) == {0: b"x" * 1000}


def test_a_child_reaped_elsewhere_is_a_failure_not_a_crash() -> None:
    old = signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps children itself
    try:
        job = SnapshotJob.start({0: lambda: b"x"})
        time.sleep(0.5)
        with pytest.raises(SnapshotFailed, match="reaped by someone else"):
            job.poll()
    finally:
        signal.signal(signal.SIGCHLD, old)
