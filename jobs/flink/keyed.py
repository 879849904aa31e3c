"""One key of the Flink job, without Flink: the core, the merge of its inputs in event time, and the input
log that makes the in-memory state recoverable from a checkpoint.

Every input of a key (an event, a watermark, the end of input, a reference record) is an `Action`. The
operator applies an action to the live KeyCore and appends it to the key's log in Flink keyed state; every
`SNAPSHOT_EVERY` actions it stores a snapshot and clears the log. State in a checkpoint is therefore
snapshot + log, and a restarted operator rebuilds the live object by restoring the snapshot and applying
the log again with its outputs dropped: they were emitted, and committed with that checkpoint, before.
The core is deterministic, so the rebuilt state is the state that was checkpointed.

Reference records reach a key as "r" actions naming an index into the operator's list of broadcast
reference records (Flink broadcast state); the operator decides when a key applies which (operator.py) and
logs that decision like any input, so a rebuild applies the same ones at the same points. An event of a
file carries how many reference records precede it (`needs`): if the broadcast has not delivered them yet,
the key holds its inputs, in order, until it has. Unit fixes go to a board the operator's keys share
(units.py), which the broadcast feeds as they come.

Inputs are merged like streams.live.AlignedMerge does for the Kafka worker: one FIFO per input (a topic
partition), released in event-time order as Flink's watermark passes the heads. An `ordered` key (one file,
read in order) processes each event at once, exactly as the embedded runner reads the file.
"""

from __future__ import annotations

import math
import pickle
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import cloudpickle  # type: ignore[import-untyped]

from jobs.flink.references import BroadcastReferences
from jobs.flink.routing import NO_TIME, position
from jobs.flink.units import SharedUnits
from rules.loader import RuleSet
from rules.records import decode_record
from streams.embedded import ContextOptions
from streams.live import Output, PartitionRuntime

SNAPSHOT_EVERY = 5_000  # actions between snapshots of a key (docs/flink.md: the measurement behind it)
END_OF_TIME = 2**63 - 1  # Flink's Long.MAX_VALUE watermark: the end of a bounded input


class Action(NamedTuple):
    kind: str  # "e" event, "w" watermark, "f" end of input, "r" reference record
    ts_ms: int = 0  # event time of "e", the watermark of "w"
    source: str = ""  # "file:NAME" or "TOPIC:PARTITION"
    offset: int = 0  # the line or Kafka offset of "e"; the reference record's index for "r"
    replica: bool = False
    raw: bytes = b""
    needs: int = 0  # reference records to apply before this input (a file's order; 0: whatever has come)


class RuleTemplate:
    """Copies of one loaded rule set, one per key. A RuleSet carries its reference tables (and compiled
    zone predicates hold them), so keys must not share one; loading the YAML again costs ~0.4 s a key, a
    copy ~15 ms (the YAML documents, kept only for error locations, are left out)."""

    def __init__(self, ruleset: RuleSet):
        self.data = cloudpickle.dumps(replace(ruleset, docs={}))

    def fresh(self) -> RuleSet:
        ruleset: RuleSet = pickle.loads(self.data)  # our own bytes, made just above
        return ruleset


class KeyCore:
    def __init__(
        self,
        ruleset: RuleSet,
        context: ContextOptions | None = None,
        ordered: bool = True,
        references: BroadcastReferences | Sequence[bytes] = (),
        units: SharedUnits | None = None,
    ):
        # event times were judged by the job's time guard, before Flink's watermarks (job.py)
        # the operator's unit board, shared by its keys (units.py); None: the key's own
        board = units.board if units is not None and context is not None else None
        self.runtime = PartitionRuntime(ruleset, context, guard=False, units=board)
        self.ooo_ms = int(ruleset.settings.max_out_of_orderness * 1000)
        self.ordered = ordered
        # the operator's broadcast reference records by arrival index (holes: records no longer needed)
        self.references = references
        self.applied = 0  # how many of them this key has applied
        self.held: deque[Action] = deque()  # inputs waiting for reference records still on their way
        self.queues: dict[str, deque[Action]] = {}
        self.queued = 0
        self.watermark = NO_TIME

    def due(self, available: int, action: Action | None = None) -> range:
        """The reference records to apply before `action` (None: only what held inputs wait for). A live
        key applies whatever has arrived; a file's event exactly those before its line, so that the key
        sees the file's order; a watermark or the end of input everything that has arrived."""
        if action is None or (self.ordered and action.kind == "e"):
            want = max(self.held[-1].needs if self.held else 0, action.needs if action else 0)
        else:
            want = available
        return range(self.applied, min(want, available))

    def _ready(self, action: Action) -> bool:
        return action.needs <= self.applied

    def apply(self, action: Action) -> Output:
        if action.kind == "r":
            return self._reference(action.offset, action.raw)
        if self.held or not self._ready(action):
            self.held.append(action)
            return Output()
        return self._apply(action)

    def release(self) -> Output:
        """Held inputs whose reference records have all come, in order."""
        out = Output()
        while self.held and self._ready(self.held[0]):
            _extend(out, self._apply(self.held.popleft()))
        return out

    def _reference(self, index: int, raw: bytes = b"") -> Output:
        """Apply broadcast record `index`: the bytes the action carries (an "r" action in a key's log carries
        its record, so a rebuild does not depend on what broadcast state still holds), else broadcast state's.
        An index with no record is a hole: a later record replaced it, and this key applies that one before
        its next input (live keys apply everything that has arrived), so stepping over it changes nothing."""
        if index != self.applied:
            raise ValueError(f"reference record {index} applied after {self.applied} of them")
        if not raw:
            refs = self.references
            raw = (refs.get(index) if isinstance(refs, BroadcastReferences) else refs[index]) or b""
        if raw:
            self.runtime.apply_reference(decode_record(raw))
        self.applied += 1
        return self.release()

    def _apply(self, action: Action) -> Output:
        kind = action.kind
        if kind == "e":
            if self.ordered or action.ts_ms == NO_TIME:
                return self._feed(action)  # an unreadable time is rejected at once, wherever it is
            queue = self.queues.get(action.source)
            if queue is None:
                queue = self.queues[action.source] = deque()
            queue.append(action)
            self.queued += 1
            return self._release(self.watermark) if action.ts_ms <= self.watermark else Output()
        if kind == "w":
            return self._advance(action.ts_ms)
        if kind == "f":
            out = self._release(END_OF_TIME)
            _extend(out, self.runtime.finish())
            return out
        raise ValueError(f"unknown action kind {kind!r}")

    def _feed(self, a: Action) -> Output:
        out = self.runtime.feed(a.raw, a.source, 0, a.offset, a.replica)
        if out.dead_letters:  # name the line or the record the way the embedded runner and the worker do
            pos = position(a.source, a.offset)
            out.dead_letters = [d.model_copy(update={"source": pos}) for d in out.dead_letters]
        return out

    def _release(self, wm: int) -> Output:
        """Queued events up to the watermark, in event-time order across inputs (FIFO within one)."""
        out = Output()
        while self.queued:
            head: deque[Action] | None = None
            for queue in self.queues.values():
                if queue and (head is None or queue[0].ts_ms < head[0].ts_ms):
                    head = queue
            if head is None or head[0].ts_ms > wm:
                break
            self.queued -= 1
            _extend(out, self._feed(head.popleft()))
        return out

    def _advance(self, wm: int) -> Output:
        """Flink's watermark `wm` (every event up to wm has arrived): release, then fire the core's timers
        as the embedded runner would once the newest event time is wm + 1 ms."""
        self.watermark = max(self.watermark, wm)
        out = self._release(wm)
        runtime = self.runtime
        fired = runtime.core.on_watermark((wm + 1) / 1000.0 - runtime.ooo)
        if fired:
            out.incidents.extend(fired)
            runtime._alerts(out)
        return out

    def next_timer(self) -> int | None:
        """When Flink should call back with its watermark: the earliest queued event or core deadline."""
        due = [q[0].ts_ms for q in self.queues.values() if q]
        deadline = self.runtime.core.next_deadline()
        if deadline is not None:
            due.append(self.fires_at(deadline.timestamp()))
        return min(due) if due else None

    def fires_at(self, deadline: float) -> int:
        """The first Flink watermark (ms) at which `_advance` gives the core a watermark past `deadline`: the
        core fires a timer once its watermark is strictly after it (docs/semantics.md, 7). A timer registered
        earlier would fire, change nothing and be registered again at the same instant, for ever."""
        ooo = self.runtime.ooo
        wm = math.floor((deadline + ooo) * 1000) - 1
        while (wm + 1) / 1000.0 - ooo <= deadline:  # the very arithmetic of _advance, float rounding included
            wm += 1
        return wm

    # --- state ---------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        queues = {name: list(q) for name, q in self.queues.items() if q}
        state = (self.runtime.snapshot({}), queues, self.watermark, self.applied, list(self.held))
        return pickle.dumps(state, protocol=5)

    def restore(self, data: bytes) -> None:
        # our own keyed state, never user input
        runtime_state, queues, self.watermark, self.applied, held = pickle.loads(data)
        self.runtime.restore(runtime_state)
        self.queues = {name: deque(Action(*a) for a in items) for name, items in queues.items()}
        self.queued = sum(len(q) for q in self.queues.values())
        self.held = deque(Action(*a) for a in held)


def _extend(out: Output, more: Output) -> None:
    out.incidents.extend(more.incidents)
    out.dead_letters.extend(more.dead_letters)
    out.alerts.extend(more.alerts)
