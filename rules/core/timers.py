"""Event-time timers: one heap for the whole core; owners ignore timers that no longer apply.

Timers due together pop in the order of their content (time, owner, kind, ref), never of registration,
so a core restored from a snapshot (which re-registers its timers) fires them in the same order. Owners
begin with their rule's chain depth, so at equal times an upstream rule's timers fire before those of the
rules that chain on it. A timer fires once the watermark is past its time (a timer at t comes after every
event at t)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass
class Timers:
    _heap: list[tuple[float, str, str, str]] = field(default_factory=list)

    def register(self, ts: float, owner: str, kind: str, ref: str) -> None:
        heapq.heappush(self._heap, (ts, owner, kind, ref))

    def due(self, watermark: float) -> list[tuple[float, str, str, str]]:
        out: list[tuple[float, str, str, str]] = []
        heap = self._heap
        while heap and heap[0][0] < watermark:  # a timer at t fires after every event at t
            item = heapq.heappop(heap)
            if not out or out[-1] != item:  # the same timer registered twice fires once
                out.append(item)
        return out

    def next(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)
