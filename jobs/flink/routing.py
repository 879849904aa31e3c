"""Where a raw input line goes: the keys of the partition plan, or a dead letter. Pure, no Flink.

The key is the one the Kafka producer uses (streams.partitioning): the single key, or the event's spatial cell plus,
as replicas, the neighbouring cells its rules' radius reaches; under a spatial plan a unit fix is also broadcast
(`observed`), for the unit board that the keys of an operator share (units.py). Flink re-keys events itself, so it
reads topics written under any plan once the copies a spatial producer wrote (replicas, observed fixes) are dropped
(their headers say so). Reference records (hotlists, cameras, zones) go to every key: the job broadcasts them
(operator.py); one that does not decode is rejected here, as the Kafka workers' reference reader does. Lines that
cannot be read as an event at all are rejected here with the embedded runner's reason; events that parse but fail
validation go to their key, where the core rejects them at their position.

LineGuard is the time guard (docs/semantics.md, 8) over raw lines: the job runs it before anything reads an event's
time for a watermark, so that no single event can move Flink's watermark past the stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from rules.core.timeguard import ACCEPT, HOLD, TimeGuard, Verdict
from rules.model import RuleSetSettings
from rules.records import RecordDecodeError, decode_record
from schemas import REFERENCE_TYPES, DeadLetter, RejectStage, SourcePosition
from schemas.partitioning import OBSERVED_TYPES
from streams.dlq import dead_letter
from streams.embedded import MAX_EVENT_BYTES, OVERSIZE_KEPT, oversize_reason
from streams.partitioning import PartitionPlan

NO_TIME = -(2**62)  # an event whose time cannot be read: processed at its position, the core says why
REJECTED = "!dlq"  # the key of router output that is already a dead letter (its raw bytes are the JSON)


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    replica: bool


@dataclass(frozen=True, slots=True)
class Routed:
    ts_ms: int
    targets: tuple[Target, ...] = ()
    rejected: DeadLetter | None = None
    reference: bool = False  # a reference record: broadcast to every key
    observed: bool = False  # a unit fix under a spatial plan: also broadcast, to every key's unit board


def position(source: str, offset: int) -> SourcePosition:
    """A file's line ("file:NAME") or a Kafka record ("TOPIC:PARTITION") as a dead letter's source."""
    if source.startswith("file:"):
        return SourcePosition(file=source[5:], line=offset)
    topic, _, partition = source.rpartition(":")
    return SourcePosition(topic=topic, partition=int(partition), offset=offset)


def _reject(raw: bytes, source: str, offset: int) -> Routed | None:
    """The dead letter of a line the router cannot read (None if the decoder reads it after all)."""
    if len(raw) > MAX_EVENT_BYTES:
        letter = dead_letter(
            raw[:OVERSIZE_KEPT], RejectStage.OVERSIZE, oversize_reason(len(raw)), position(source, offset)
        )
        return Routed(NO_TIME, rejected=letter)
    try:
        decode_record(raw)
    except RecordDecodeError as exc:
        return Routed(NO_TIME, rejected=dead_letter(raw, exc.stage, exc.reason, position(source, offset)))
    return None


def event_time_ms(raw: bytes) -> int:
    """A line's event time for Flink's watermarks; reference records and unreadable times get NO_TIME, so
    that they never move the watermark (the embedded runner's watermark follows events only)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return NO_TIME
    if not isinstance(doc, dict) or doc.get("type") in REFERENCE_TYPES:
        return NO_TIME
    return _time_ms(doc.get("time"))


def _time_ms(value: object) -> int:
    if not isinstance(value, str):
        return NO_TIME
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return NO_TIME
    if t.tzinfo is None:
        return NO_TIME  # naive times are rejected by the core (validate); route them at their position
    return int(t.timestamp() * 1000)


def route(raw: bytes, plan: PartitionPlan, source: str, offset: int) -> Routed:
    """The keys of one raw line; `source` and `offset` only name it in a dead letter."""
    try:
        doc = orjson.loads(raw) if len(raw) <= MAX_EVENT_BYTES else None
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        rejected = _reject(raw, source, offset)
        if rejected is not None:
            return rejected
        doc = {}
    ts = _time_ms(doc.get("time"))
    if doc.get("type") in REFERENCE_TYPES:
        try:
            decode_record(raw)  # every key decodes it again: a bad record is rejected once, here
        except RecordDecodeError as exc:
            return Routed(NO_TIME, rejected=dead_letter(raw, exc.stage, exc.reason, position(source, offset)))
        return Routed(NO_TIME, reference=True)
    lat = lon = None
    loc = doc.get("location")
    if isinstance(loc, dict):
        lat, lon = loc.get("lat"), loc.get("lon")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            lat = lon = None
    eid = doc.get("id")
    own = plan.key(lat, lon, eid if isinstance(eid, str) else raw[:64].decode("utf-8", "replace"))
    targets = [Target(own.decode(), False)]
    targets.extend(Target(k.decode(), True) for k in plan.replica_keys(lat, lon))
    return Routed(ts, tuple(targets), observed=plan.mode == "spatial" and doc.get("type") in OBSERVED_TYPES)


Line = tuple[str, int, bytes]  # source ("file:NAME" or "TOPIC:PARTITION"), line or offset, raw


class LineGuard:
    """The time guard over raw lines, in arrival order: (line, None) to route now, or (line, its dead letter).
    Lines that are not events of the contract, and reference records, pass unjudged (the router and the core
    deal with them, as the embedded runner's guard never sees them). With `clock` (the job's wall clock, for
    Kafka) nothing is held; without, a file's own stream is the reference, exactly as in the embedded runner.
    `lines` counts the lines admitted (a file's line numbers); the state goes to and from builtins."""

    def __init__(self, settings: RuleSetSettings, clock: Callable[[], float] | None = None):
        self.guard: TimeGuard[Line] = TimeGuard.from_settings(settings)
        self.clock = clock
        self.lines = 0

    def admit(self, raw: bytes, source: str, offset: int) -> list[tuple[Line, DeadLetter | None]]:
        line = (source, offset, raw)
        if len(raw) > MAX_EVENT_BYTES:
            return [(line, None)]
        try:
            record = decode_record(raw)
        except RecordDecodeError:
            return [(line, None)]
        if record.type in REFERENCE_TYPES:
            return [(line, None)]
        guard = self.guard
        received = record.received_time
        verdict = guard.admit(
            record.time.timestamp(),
            record.id,
            record.source,
            line,
            None if received is None else received.timestamp(),
            None if self.clock is None else self.clock(),
        )
        out: list[tuple[Line, DeadLetter | None]] = []
        if verdict is ACCEPT:
            out.append((line, None))
        elif verdict is not HOLD:
            out.append((line, _letter(line, verdict, record.id)))
        if guard.pending:
            out.extend(self._decided(guard.take()))
        return out

    def flush(self) -> list[tuple[Line, DeadLetter | None]]:
        """The end of a bounded input: every held line is decided."""
        return self._decided(self.guard.flush())

    def _decided(self, items: list[tuple[Line, Verdict]]) -> list[tuple[Line, DeadLetter | None]]:
        return [(line, None if v is ACCEPT else _letter(line, v, _event_id(line[2]))) for line, v in items]

    def to_builtins(self) -> dict[str, Any]:
        return {"lines": self.lines, "guard": self.guard.to_builtins(lambda x: [x[0], x[1], x[2].decode("utf-8")])}

    def restore(self, doc: dict[str, Any]) -> None:
        self.lines = int(doc["lines"])
        self.guard.restore(doc["guard"], lambda x: (str(x[0]), int(x[1]), str(x[2]).encode("utf-8")))


def _letter(line: Line, verdict: Verdict, event_id: str | None) -> DeadLetter:
    assert verdict.stage is not None
    source, offset, raw = line
    return dead_letter(raw, verdict.stage, verdict.reason, position(source, offset), event_id)


def _event_id(raw: bytes) -> str | None:
    eid = orjson.loads(raw).get("id")  # a line the guard held: it decoded
    return eid if isinstance(eid, str) else None
