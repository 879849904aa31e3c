"""Dead-letter sinks: rejected input is kept whole with where it came from and why."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Protocol

from schemas import DeadLetter, RejectStage, SourcePosition

MAX_REASON = 2000


class DeadLetterSink(Protocol):
    def put(self, letter: DeadLetter) -> None: ...
    def close(self) -> None: ...


def dead_letter(
    raw: bytes, stage: RejectStage, reason: str, source: SourcePosition, event_id: str | None = None
) -> DeadLetter:
    original, encoding = DeadLetter.wrap_original(raw.rstrip(b"\r\n"))
    return DeadLetter(
        stage=stage,
        reason=reason[:MAX_REASON],
        original=original,
        original_encoding=encoding,
        source=source,
        event_id=event_id,
    )


class FileDeadLetters:
    """JSON lines of schemas.DeadLetter; opened lazily so a clean run leaves no empty file behind."""

    def __init__(self, path: Path):
        self.path = path
        self._fh: IO[bytes] | None = None
        self.count = 0

    def put(self, letter: DeadLetter) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("wb")
        self._fh.write(letter.model_dump_json(exclude_none=True).encode() + b"\n")
        self.count += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    def put(self, letter: DeadLetter) -> None:
        self.letters.append(letter)

    def close(self) -> None:
        pass
