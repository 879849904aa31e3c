"""An undo journal: how a rule goes back to an earlier point when an event arrives out of canonical order.

Every change the incident book makes (and every timer a rule fires) appends the record that undoes it.
`mark()` names a point; `undo_to(mark, apply)` hands the records after it to `apply`, newest first. The
records are plain tuples of builtins and ids (never closures), so a snapshot can carry them.
Records older than anything a late event can still reach are dropped with `trim`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Op = tuple[Any, ...]


class Journal:
    __slots__ = ("base", "ops")

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.base = 0  # the mark of ops[0]

    def mark(self) -> int:
        return self.base + len(self.ops)

    def add(self, op: Op) -> None:
        self.ops.append(op)

    def undo_to(self, mark: int, apply: Callable[[Op], None]) -> None:
        if mark < self.base:
            raise AssertionError(f"journal mark {mark} was trimmed (kept from {self.base})")
        ops = self.ops
        stop = mark - self.base
        while len(ops) > stop:
            apply(ops.pop())

    def trim(self, mark: int) -> None:
        """Forget the records before `mark`: nothing can go back past it any more."""
        n = mark - self.base
        if n <= 0:
            return
        if n >= len(self.ops):
            self.ops.clear()
        else:
            del self.ops[:n]
        self.base = mark

    def __len__(self) -> int:
        return len(self.ops)
