"""The reference records a Flink operator keeps in broadcast state, bounded as every runtime bounds them
(rules.core.reference.ReferenceLog: the latest record per table key, every hotlist version, the newest time).

Keys apply broadcast records lazily by index (operator.py), so indexes stay what they were on arrival: a record
made unneeded by a later one leaves a hole, which a key steps over. On a live stream a key applies every record
that has come before its next input, so it applies the later record too before any event sees the tables, and
applying it alone gives what applying both would (the later one replaces the earlier in its table). A key's log
carries the records it applied (operator.py), so a rebuild never needs a hole. A file is not bounded: its events
apply exactly the records before their line, and the one that replaces a record may come after that line.
Every parallel instance gets the broadcast in one order and drops the same indexes,
so a key that moves between instances on a rescale finds the same numbering.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from rules.core.reference import ReferenceLog
from rules.records import decode_record

COUNT_KEY = -1  # broadcast-state key of the number of records ever broadcast (the next index)


class BroadcastReferences:
    def __init__(self, bounded: bool = True) -> None:
        self.bounded = bounded
        self.raw: dict[int, bytes] = {}  # index -> the record's bytes, for the records still needed
        self.count = 0  # records broadcast so far, dropped ones included: the next index
        self._log = ReferenceLog()
        self._index: dict[int, int] = {}  # the log's arrival number -> broadcast index

    def __len__(self) -> int:
        return self.count

    def get(self, index: int) -> bytes | None:
        return self.raw.get(index)

    def add(self, raw: bytes) -> tuple[int, list[int]]:
        """Record the next broadcast record; returns its index and the indexes no longer needed."""
        index = self.count
        self.count += 1
        record = decode_record(raw)  # the router sent only records that decode
        number, forgotten = self._log.add(record, record.time.timestamp())
        if number is None:  # a copy of a record already kept: the core drops it as well
            return index, []
        self.raw[index] = raw
        if not self.bounded:
            return index, []
        self._index[number] = index
        dropped = [self._index.pop(n) for n in forgotten]
        for i in dropped:
            del self.raw[i]
        return index, dropped

    def restore(self, stored: Iterable[tuple[int, bytes]]) -> None:
        """From broadcast state after a restore: the kept records by index, and the count under COUNT_KEY."""
        restore_indexed(self, stored)


class Indexed(Protocol):
    count: int  # records broadcast so far: the next index

    def add(self, raw: bytes) -> tuple[int, list[int]]: ...


def restore_indexed(target: Indexed, stored: Iterable[tuple[int, bytes]]) -> None:
    """Broadcast state (index -> raw record, and the count under COUNT_KEY) back into `target`: each record re-added
    in index order at the index it had, so every instance numbers the records as before the restore."""
    count = 0
    for index, raw in sorted(stored):
        if index == COUNT_KEY:
            count = int(raw.decode())
            continue
        target.count = index
        target.add(raw)
    target.count = max(count, target.count)
