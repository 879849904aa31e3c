"""Where a raw input line goes: the keys of the partition plan, or a dead letter. Pure, no Flink.

The key is the one the Kafka producer uses (streams.partitioning): the single key, or the event's spatial
cell plus, as replicas, the neighbouring cells its rules' radius reaches. Flink re-keys events itself, so it
reads topics written under any plan once replicas written by a spatial producer are dropped (their header
says so). Reference records (hotlists, cameras, zones) go to every key: the job broadcasts them (operator.py);
one that does not decode is rejected here, as the Kafka workers' reference reader does. Lines that cannot be
read as an event at all are rejected here with the embedded runner's reason; events that parse but fail
validation go to their key, where the core rejects them at their position.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson

from rules.records import RecordDecodeError, decode_record
from schemas import REFERENCE_TYPES, DeadLetter, RejectStage, SourcePosition
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
    return Routed(ts, tuple(targets))
