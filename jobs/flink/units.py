"""The unit board that the keys of one Flink operator share, fed every unit fix of the city by the broadcast.

Under a spatial plan a key (a cell) sees only the fixes of its cell and its neighbours, but the nearest free unit
may be anywhere: the router also broadcasts every fix (`observed`, jobs/flink/routing.py), and each parallel
instance keeps one `UnitBoard` for all its keys (rules/context/units.py), which its keys' own fixes reach too.
Units are judged as of each incident version's time, so the answer depends only on the board holding every fix
up to that time, not on when a key enriches. With one instance the keyed fixes alone arrive in the file's order:
exact. With several, a fix of another instance's cell comes by the broadcast, which may lag the keyed lines by
its network buffering: a version enriched within that lag can miss it (not held back for it: holding every
line for the fixes before it made a parallel file run crawl, measured in docs/flink.md).

The fixes kept are checkpointed in broadcast state (index -> raw fix), bounded as the board bounds itself: those
at most the board's `keep_s` behind the newest fix. Every instance receives the broadcast in one order and drops
the same indexes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from jobs.flink.references import restore_indexed
from rules.context.units import UnitBoard
from rules.records import decode_record


class SharedUnits:
    def __init__(self, board: UnitBoard) -> None:
        self.board = board
        self.count = 0  # fixes broadcast so far (the next index)
        self._kept: deque[tuple[float, int]] = deque()  # (time, index) of the fixes in state, in arrival order
        self._high = float("-inf")

    def add(self, raw: bytes) -> tuple[int, list[int]]:
        """Put the next broadcast fix on the board; returns its index and the indexes no longer kept."""
        index = self.count
        self.count += 1
        record = decode_record(raw)  # the router sent only lines that decode
        ts = record.time.timestamp()
        self.board.observe(record, ts)
        self._kept.append((ts, index))
        self._high = max(self._high, ts)
        cutoff = self._high - self.board.keep_s
        dropped = []
        while self._kept and self._kept[0][0] < cutoff:
            dropped.append(self._kept.popleft()[1])
        return index, dropped

    def restore(self, stored: Iterable[tuple[int, bytes]]) -> None:
        """From broadcast state after a restore: the kept fixes by index, and the count under COUNT_KEY."""
        restore_indexed(self, stored)
