"""Dead-letter sinks: rejected input is kept whole with where it came from and why."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import IO, Protocol

from rules.privacy import PrivacySettings, redact_raw_event, scrub_phones
from schemas import DeadLetter, RejectStage, SourcePosition

MAX_REASON = 2000


class DeadLetterSink(Protocol):
    def put(self, letter: DeadLetter) -> None: ...
    def close(self) -> None: ...


@lru_cache(maxsize=1)
def _privacy() -> PrivacySettings:
    return PrivacySettings.from_env()


def redact(raw: bytes, settings: PrivacySettings | None = None) -> bytes:
    """Personal data out of a rejected line: a call's phone and caller name are pseudonymised (history still
    matches by phone), and phone-like digit runs in a line that is not JSON; everything else stays as it came."""
    settings = settings or _privacy()
    out = redact_raw_event(raw, settings)
    if out is raw and not raw.lstrip().startswith(b"{"):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw
        out = scrub_phones(text, settings).encode("utf-8")
    return out


def dead_letter(
    raw: bytes, stage: RejectStage, reason: str, source: SourcePosition, event_id: str | None = None
) -> DeadLetter:
    """The dead letter of a rejected input, its personal data pseudonymised (rules.privacy)."""
    original, encoding = DeadLetter.wrap_original(redact(raw.rstrip(b"\r\n")))
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
