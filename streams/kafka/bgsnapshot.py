"""Partition snapshots serialized in a forked child, so that the worker's loop never stops for them.

Serializing a city's state takes 100-200 ms (a 4-6 MB snapshot after an hour of the simulated city, measured on
the 2-core bench machine); done on the loop every `snapshot_interval`, it held back every incident update due
in that time, and those were the kafka benchmark's 99th percentile. A fork instead gives the child a
copy-on-write image of the state as of one moment: the child serializes it into an unlinked temporary file and
exits; the loop polls for it at each commit and produces the snapshots into the transaction open then.

Why a later transaction may carry it: a snapshot holds the input offsets it reflects, and a restore replays
from those offsets with outputs suppressed up to the group's committed offsets (streams.kafka.worker), so a
snapshot older than the commit that carries it restores the same state, as the snapshots between periodic
commits always did. What the worker must still do (and does): drop a job whose state an abort rewound (its
state includes aborted outputs' events) and drop a partition's result when a synchronous snapshot of that
partition was written after the fork (a newer state must never be overwritten by an older one).

Why fork is safe in a process with librdkafka's threads: only the forking thread exists in the child; it runs
pure Python and orjson over objects this thread owns, takes none of the other threads' locks (no Kafka
client, no logging, no metrics), writes one file descriptor and leaves with os._exit, so no atexit handler or
client destructor runs there. glibc's malloc and CPython's own locks are reset after fork.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import struct
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

FRAME = struct.Struct(">iQ")  # partition, length of its snapshot


class SnapshotFailed(RuntimeError):
    pass


def available() -> bool:
    return hasattr(os, "fork")


@dataclass
class SnapshotJob:
    """One child serializing the snapshots of `partitions` as of `started`."""

    pid: int
    fd: int  # an unlinked temporary file: nothing is left behind whoever dies
    started: float  # monotonic
    partitions: frozenset[int]
    superseded: set[int] = field(default_factory=set)  # written synchronously since the fork: drop those
    done: bool = False

    @classmethod
    def start(cls, snapshots: Mapping[int, Callable[[], bytes]]) -> SnapshotJob:
        """Fork a child that writes `p -> snapshots[p]()` for each partition, framed, and exits."""
        fd, path = tempfile.mkstemp(prefix="saqshy-snapshot-")
        os.unlink(path)
        with warnings.catch_warnings():
            # Python 3.12 warns on any fork in a threaded process; this one is safe (module docstring)
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: never returns
            _child(fd, snapshots)
        return cls(pid, fd, time.monotonic(), frozenset(snapshots))

    def poll(self) -> dict[int, bytes] | None:
        """The snapshots once the child has written them (each partition's, less the superseded ones), None
        while it runs. Raises SnapshotFailed when the child did not finish its file."""
        if self.done:
            raise SnapshotFailed("this job was collected or cancelled already")
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else (SIGCHLD ignored): its exit status is gone
            self.done = True
            os.close(self.fd)
            raise SnapshotFailed("the snapshot child was reaped by someone else (is SIGCHLD ignored?)") from None
        if pid == 0:
            return None
        self.done = True
        try:
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                raise SnapshotFailed(f"the snapshot child exited with {code}")
            return {p: data for p, data in _frames(self.fd) if p not in self.superseded}
        finally:
            os.close(self.fd)

    def cancel(self) -> None:
        """Kill the child (if it still runs) and forget its result."""
        if self.done:
            return
        self.done = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def _child(fd: int, snapshots: Mapping[int, Callable[[], bytes]]) -> None:
    code = 1
    try:
        # the state is only read here: a collection would write to every object's header (copy-on-write pages)
        gc.disable()
        # a terminal's Ctrl-C or a group-wide SIGTERM ends the child at once; the worker sees it failed
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with os.fdopen(fd, "wb", closefd=False) as out:
            for p, make in snapshots.items():
                data = make()
                out.write(FRAME.pack(p, len(data)))
                out.write(data)
        code = 0
    finally:
        os._exit(code)


def _frames(fd: int) -> list[tuple[int, bytes]]:
    os.lseek(fd, 0, os.SEEK_SET)
    with os.fdopen(fd, "rb", closefd=False) as f:
        raw = f.read()
    out, at = [], 0
    while at < len(raw):
        if at + FRAME.size > len(raw):
            raise SnapshotFailed("the snapshot file ends inside a frame header")
        p, n = FRAME.unpack_from(raw, at)
        at += FRAME.size
        if at + n > len(raw):
            raise SnapshotFailed(f"the snapshot file ends inside partition {p}'s snapshot")
        out.append((p, raw[at : at + n]))
        at += n
    return out
