"""Event-time timers: one heap for the whole core; owners ignore timers that no longer apply."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass
class Timers:
    _heap: list[tuple[float, int, str, str, str]] = field(default_factory=list)
    _seq: int = 0

    def register(self, ts: float, owner: str, kind: str, ref: str) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (ts, self._seq, owner, kind, ref))

    def due(self, watermark: float) -> list[tuple[float, str, str, str]]:
        out = []
        heap = self._heap
        while heap and heap[0][0] <= watermark:
            ts, _, owner, kind, ref = heapq.heappop(heap)
            out.append((ts, owner, kind, ref))
        return out

    def next(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)
