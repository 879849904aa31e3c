"""One partition of a live runtime: a core, the event-time clocks of its inputs, and what it rejects.

Transport-independent, so the Kafka worker (and later other live runtimes) drive the same thing. Events of
one partition come from several topics whose reading interleaves arbitrarily; AlignedMerge puts them back in
event-time order, so the partition sees what the embedded runner sees reading one file, and the watermark
is the same: the newest event time minus the rule set's out-of-orderness. An input with nothing to read
never holds the others back (the merge only waits for inputs that still have data).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from rules.context.runtime import ContextCorrelator
from rules.context.units import UnitBoard
from rules.core.engine import Correlator
from rules.core.timeguard import ACCEPT, HOLD, TimeGuard, Verdict
from rules.errors import CoreError
from rules.loader import RuleSet
from rules.records import RecordDecodeError, decode_record, record_from_model
from schemas import REFERENCE_TYPES, DeadLetter, Incident, PublicAlert, RejectStage, SourcePosition
from streams.dlq import dead_letter
from streams.embedded import MAX_EVENT_BYTES, OVERSIZE_KEPT, ContextOptions, late_reason, oversize_reason

SNAPSHOT_FORMAT = "saqshy.partition.snapshot"
SNAPSHOT_VERSION = 1


@dataclass
class Output:
    incidents: list[Incident] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    alerts: list[PublicAlert] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.incidents or self.dead_letters or self.alerts)


def _pos(topic: str, partition: int, offset: int) -> SourcePosition:
    return SourcePosition(topic=topic, partition=partition, offset=offset)


# What a message is to its partition (streams/partitioning.py): an event of its own cell, a replica of a
# neighbour's event near the border, or a unit fix from anywhere that only the enricher observes.
OWN, REPLICA, OBSERVED = 0, 1, 2
Held = tuple[bytes, str, int, int, int]  # an event the time guard holds: raw, topic, partition, offset, role


def _held_to_builtins(item: Held) -> list[Any]:
    raw, topic, partition, offset, role = item
    return [raw.decode("utf-8"), topic, partition, offset, role]  # it decoded: it is UTF-8


def _held_from_builtins(doc: Any) -> Held:
    raw, topic, partition, offset, role = doc
    return raw.encode("utf-8"), str(topic), int(partition), int(offset), int(role)  # older snapshots: a bool


class PartitionRuntime:
    def __init__(
        self,
        ruleset: RuleSet,
        context: ContextOptions | None = None,
        clock: Callable[[], float] | None = None,
        guard: bool = True,
        units: UnitBoard | None = None,
    ):
        """With `context`, incidents are enriched and public alerts decided (rules.context), as in the
        embedded runner with the same options.

        The time guard (docs/semantics.md, 8) judges each event's time before the core: against its
        received_time, else `clock()` (POSIX seconds: a live runtime passes its wall clock, time.time), else,
        without a clock, the partition's own stream as the embedded runner does a file's. `guard=False`: the
        caller has judged the times already (the Flink job does, before its watermarks). `units`: a unit board
        shared with other partitions (a Flink operator's keys), fed by the caller."""
        self.ruleset = ruleset
        self.context = context
        self.core: Correlator | ContextCorrelator
        if context is None:
            self.core = Correlator(ruleset)
        else:
            self.core = ContextCorrelator(ruleset, None, context.settings, context.alerts, units)
            for ev in context.reference:
                self.core.on_event(record_from_model(ev))
        self.ooo = ruleset.settings.max_out_of_orderness
        self.high = float("-inf")  # newest event time seen
        self.clock = clock
        self.units = units
        self.guard: TimeGuard[Held] | None = TimeGuard.from_settings(ruleset.settings) if guard else None

    # --- input ---------------------------------------------------------------------------------
    def feed(
        self, raw: bytes, topic: str, partition: int, offset: int, replica: bool = False, observed: bool = False
    ) -> Output:
        """One message of an input; its position is only spelled out when something is rejected. `observed`: a
        unit fix that another partition owns, copied here for the enricher alone (nearest units are answered
        from the whole fleet); what is wrong with it is said by its own partition, so here it is only dropped."""
        if observed:
            return self._observed(raw, topic, partition, offset)
        out = Output()
        if len(raw) > MAX_EVENT_BYTES:
            reason = oversize_reason(len(raw))
            out.dead_letters.append(
                dead_letter(raw[:OVERSIZE_KEPT], RejectStage.OVERSIZE, reason, _pos(topic, partition, offset))
            )
            return out
        try:
            record = decode_record(raw)
        except RecordDecodeError as exc:
            out.dead_letters.append(dead_letter(raw, exc.stage, exc.reason, _pos(topic, partition, offset)))
            return out
        if record.type in REFERENCE_TYPES:
            self.core.on_event(record)
            return out
        guard = self.guard
        if guard is None:
            return self._correlate(out, record, raw, topic, partition, offset, replica)
        verdict = self._admit(guard, record, (raw, topic, partition, offset, REPLICA if replica else OWN))
        if verdict is ACCEPT:
            self._correlate(out, record, raw, topic, partition, offset, replica)
        elif verdict is not HOLD:
            out.dead_letters.append(self._guard_letter(raw, topic, partition, offset, record.id, verdict))
        if guard.pending:
            self._decided(out, guard.take())
        return out

    def _admit(self, guard: TimeGuard[Held], record: Any, item: Held) -> Verdict:
        received = record.received_time
        return guard.admit(
            record.time.timestamp(),
            record.id,
            record.source,
            item,
            None if received is None else received.timestamp(),
            None if self.clock is None else self.clock(),
        )

    def _observed(self, raw: bytes, topic: str, partition: int, offset: int) -> Output:
        """A unit fix for the enricher alone: judged by the time guard like any event (one wrong clock must not
        move a partition's unit board either), never the core's input, never its watermark."""
        out = Output()
        if self.context is None or len(raw) > MAX_EVENT_BYTES:
            return out
        try:
            record = decode_record(raw)
        except RecordDecodeError:
            return out
        if record.type != "unit.gps":
            return out
        guard = self.guard
        verdict = ACCEPT if guard is None else self._admit(guard, record, (raw, topic, partition, offset, OBSERVED))
        if verdict is ACCEPT:
            self.core.observe(record)  # type: ignore[union-attr]
        if guard is not None and guard.pending:
            self._decided(out, guard.take())
        return out

    @staticmethod
    def _guard_letter(raw: bytes, topic: str, partition: int, offset: int, eid: str, verdict: Verdict) -> DeadLetter:
        assert verdict.stage is not None
        return dead_letter(raw, verdict.stage, verdict.reason, _pos(topic, partition, offset), eid)

    def _decided(self, out: Output, items: list[tuple[Held, Verdict]]) -> Output:
        """Held events the guard has decided on: correlated in the order given, or dead-lettered."""
        for (raw, topic, partition, offset, role), verdict in items:
            record = decode_record(raw)  # it decoded when it came
            if role == OBSERVED:
                if verdict is ACCEPT:
                    self.core.observe(record)  # type: ignore[union-attr]
            elif verdict is ACCEPT:
                self._correlate(out, record, raw, topic, partition, offset, role == REPLICA)
            else:
                out.dead_letters.append(self._guard_letter(raw, topic, partition, offset, record.id, verdict))
        return out

    def _correlate(
        self, out: Output, record: Any, raw: bytes, topic: str, partition: int, offset: int, replica: bool
    ) -> Output:
        ts = record.time.timestamp()
        fired: list[Incident] = []
        if ts > self.high:
            self.high = ts
            fired = self.core.on_watermark(ts - self.ooo)
            if fired:
                out.incidents.extend(fired)
        found = self.core.on_event(record, replica=replica, ts=ts)
        if found:
            out.incidents.extend(found)
        if self.core._late:
            for drop in self.core.take_late():
                out.dead_letters.append(
                    dead_letter(raw, RejectStage.LATE, late_reason(drop), _pos(topic, partition, offset), drop.event_id)
                )
        if found or fired:
            self._alerts(out)
        return out

    def _alerts(self, out: Output) -> None:
        if self.context is not None:
            out.alerts.extend(self.core.take_alerts())  # type: ignore[union-attr]

    @property
    def corrections(self) -> int:
        """Corrections and retractions this runtime has sent (docs/semantics.md, section 7): the only outputs
        that depend on the arrival order. A worker that replays inputs after a restart may replay them in another
        order (the event-time merge across topics follows what has been fetched), so it snapshots the partition
        in the transaction that sends one: the replay then starts after it and numbers later versions on."""
        stats = self.core.stats
        return int(stats.corrections + stats.retractions)

    def apply_reference(self, record: Any) -> None:
        """Reference records reach every partition; the core applies them as of their event time."""
        self.core.on_event(record)

    def advance(self, ts: float) -> Output:
        """Event time moves on without an event of this partition: an idle partition follows the others (the
        newest event time its worker has seen), so its timers (absences, window closings) still fire."""
        out = Output()
        if ts > self.high:
            self.high = ts
            out.incidents.extend(self.core.on_watermark(ts - self.ooo))
            if out.incidents:
                self._alerts(out)
        return out

    def finish(self) -> Output:
        """End of a bounded input: the guard decides on the events it holds, then event time runs out, every
        timer fires."""
        out = Output() if self.guard is None else self._decided(Output(), self.guard.flush())
        out.incidents.extend(self.core.on_watermark(float("inf")))
        self._alerts(out)
        return out

    # --- state ---------------------------------------------------------------------------------
    def snapshot(self, offsets: dict[str, int]) -> bytes:
        """The core's state and the input offsets it reflects (topic:partition -> next offset)."""
        doc = {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "offsets": offsets,
            "high": self.high if self.high != float("-inf") else None,
            "core": self.core.snapshot().decode(),
            "guard": None if self.guard is None else self.guard.to_builtins(_held_to_builtins),
        }
        return orjson.dumps(doc)

    def restore(self, data: bytes) -> dict[str, int]:
        """Load a snapshot; returns the offsets to resume reading from."""
        doc = orjson.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
            raise CoreError("not a partition snapshot")
        if doc.get("version") != SNAPSHOT_VERSION:
            raise CoreError(f"partition snapshot version {doc.get('version')} is not supported")
        self.core.restore(doc["core"].encode())
        self.high = float("-inf") if doc["high"] is None else float(doc["high"])
        if self.guard is not None and doc.get("guard") is not None:  # snapshots before the guard have none
            self.guard.restore(doc["guard"], _held_from_builtins)
        return {k: int(v) for k, v in doc["offsets"].items()}

    def with_rules(self, ruleset: RuleSet) -> PartitionRuntime:
        """The same partition under a new rule set: unchanged rules (id@version) keep their state."""
        fresh = PartitionRuntime(ruleset, self.context, self.clock, self.guard is not None, self.units)
        fresh.core.restore(self.core.snapshot())
        fresh.high = self.high
        if fresh.guard is not None and self.guard is not None:
            fresh.guard.restore(self.guard.to_builtins(_held_to_builtins), _held_from_builtins)
        return fresh


class AlignedMerge:
    """Merges the inputs of one partition in event-time order, so that a replay gives the same incidents as
    the embedded runner however the reading of the topics interleaves. A message is released when every
    other input either has a message waiting or has nothing more to read right now (drained), so a quiet
    input never holds the others back. `max_buffered` bounds memory: past it, order yields to progress."""

    def __init__(self, max_buffered: int = 50_000):
        self.queues: dict[str, deque[tuple[float, Any]]] = {}
        self.buffered = 0
        self.max_buffered = max_buffered

    def add(self, input_name: str, ts: float, item: Any) -> None:
        queue = self.queues.get(input_name)
        if queue is None:
            queue = self.queues[input_name] = deque()
        queue.append((ts, item))
        self.buffered += 1

    def queued(self, input_name: str) -> int:
        queue = self.queues.get(input_name)
        return len(queue) if queue else 0

    def ready(self, inputs: Iterable[str], drained: Callable[[str], bool]) -> Iterator[Any]:
        """Items in event-time order while no input that may still deliver earlier ones is empty."""
        names = list(inputs)
        known: dict[str, bool] = {}  # nothing is fetched during one call: ask `drained` once per input
        while self.buffered:
            head_name = None
            head_ts = float("inf")
            for name in names:
                queue = self.queues.get(name)
                if queue:
                    if queue[0][0] < head_ts:
                        head_ts, head_name = queue[0][0], name
                elif self.buffered < self.max_buffered:
                    done = known.get(name)
                    if done is None:
                        done = known[name] = drained(name)
                    if not done:
                        return  # this input may still bring something earlier
            if head_name is None:
                return
            self.buffered -= 1
            yield self.queues[head_name].popleft()[1]
