"""Dead letters: input the engine could not use, kept whole with where it came from and why."""

from __future__ import annotations

import base64
from enum import StrEnum

from schemas.common import SCHEMA_VERSION, Contract, UtcDatetime


class RejectStage(StrEnum):
    DECODE = "decode"  # not JSON / not UTF-8
    VALIDATE = "validate"  # JSON, but not a valid event of the contract
    UNKNOWN_TYPE = "unknown_type"
    OVERSIZE = "oversize"
    LATE = "late"  # behind the watermark by more than the allowed lateness
    DUPLICATE = "duplicate"
    FUTURE = "future"  # time further ahead of its reference clock than max_future (docs/semantics.md, 8)
    STALE = "stale"  # time further behind its reference clock than max_age


class SourcePosition(Contract):
    """Where the original came from: a topic/partition/offset or a file/line."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    file: str | None = None
    line: int | None = None


class DeadLetter(Contract):
    """Rejected input, whole except for personal data: `original` has a call's phone and caller name (and
    phone-like digit runs of a line that is not JSON) replaced by pseudonyms 'h1:<hex>' (streams.dlq.redact),
    so history still matches by phone while the dead-letter topic and files never hold them in clear."""

    stage: RejectStage
    reason: str
    original: str
    original_encoding: str = "utf-8"  # or "base64" when the bytes were not text
    source: SourcePosition
    event_id: str | None = None
    rejected_time: UtcDatetime | None = None
    schema_version: str = SCHEMA_VERSION

    @staticmethod
    def wrap_original(raw: bytes) -> tuple[str, str]:
        try:
            return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii"), "base64"

    def original_bytes(self) -> bytes:
        if self.original_encoding == "base64":
            return base64.b64decode(self.original)
        return self.original.encode("utf-8")
