"""The KeyedProcessFunction that drives one KeyCore per key, with its state in Flink keyed state.

State per key: `snapshot` (ValueState, KeyCore.snapshot bytes) and `log` (ListState of the actions since),
replaced by a new snapshot when the log reaches `snapshot_every` actions or outweighs the snapshot.
Live KeyCores stay in memory between elements: snapshotting a city's core on every event would cost more
than the event (docs/flink.md). A key missing from memory (a new operator after a restore or a rescale)
is rebuilt from its snapshot and log with outputs dropped. Timers: one event-time timer at the earliest
queued event or core deadline, and one at the end of time for the end of a bounded input.

Outputs are (kind, key, value) with kind "incident", "alert" or "dlq"; job.py routes them to the sinks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyflink.common import Types  # type: ignore[import-untyped]
from pyflink.datastream import KeyedProcessFunction, RuntimeContext  # type: ignore[import-untyped]
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor  # type: ignore[import-untyped]

from jobs.flink.keyed import END_OF_TIME, SNAPSHOT_EVERY, Action, KeyCore, RuleTemplate
from jobs.flink.routing import REJECTED
from rules.loader import load_rules
from streams.live import Output

LOG_MIN_BYTES = 64 * 1024  # a log this small is never worth a snapshot of its own
OUTPUT_TYPE = Types.TUPLE([Types.STRING(), Types.STRING(), Types.STRING()])
Emitted = tuple[str, str, str]


def emitted(out: Output) -> Iterator[Emitted]:
    for inc in out.incidents:
        yield "incident", inc.id, inc.model_dump_json(exclude_none=True)
    for alert in out.alerts:
        yield "alert", alert.incident_id, alert.model_dump_json(exclude_none=True)
    for letter in out.dead_letters:
        src = letter.source
        where = f"{src.file}/{src.line}" if src.file else f"{src.topic}/{src.partition}/{src.offset}"
        yield "dlq", where, letter.model_dump_json(exclude_none=True)


class Live:
    """A key's KeyCore in memory, with what the operator knows about its state and timers."""

    __slots__ = ("core", "log_bytes", "logged", "snap_bytes", "timer")

    def __init__(self, core: KeyCore, logged: int, log_bytes: int, snap_bytes: int):
        self.core = core
        self.logged = logged  # actions in the log since the last snapshot
        self.log_bytes = log_bytes  # their raw bytes
        self.snap_bytes = snap_bytes  # size of the last snapshot
        self.timer: int | None = None  # the timer registered last (besides the end of time)

    def compact_due(self, every: int) -> bool:
        """A snapshot replaces the log once the log holds `every` actions or outweighs a snapshot: a busy
        key is snapshotted every `every` inputs, a quiet cell's log never grows past its small snapshot."""
        return self.logged >= every or self.log_bytes >= max(self.snap_bytes, LOG_MIN_BYTES)


class Correlate(KeyedProcessFunction):  # type: ignore[misc]
    """Input elements: (key, replica, ts_ms, source, offset, raw) from the router."""

    def __init__(self, rules: tuple[str, ...], ordered: bool, snapshot_every: int = SNAPSHOT_EVERY):
        self.rules = rules
        self.ordered = ordered
        self.snapshot_every = snapshot_every

    def open(self, runtime_context: RuntimeContext) -> None:
        self.template = RuleTemplate(load_rules([Path(p) for p in self.rules]))
        self.snap = runtime_context.get_state(ValueStateDescriptor("snapshot", Types.PICKLED_BYTE_ARRAY()))
        self.log = runtime_context.get_list_state(ListStateDescriptor("log", Types.PICKLED_BYTE_ARRAY()))
        self.live: dict[str, Live] = {}

    def _live(self, key: str, ctx: Any) -> Live:
        live = self.live.get(key)
        if live is not None:
            return live
        core = KeyCore(self.template.fresh(), None, self.ordered)
        data = self.snap.value()
        logged = log_bytes = 0
        if data is not None:
            core.restore(data)
        for action in self.log.get() or ():  # rebuild: outputs were emitted before the checkpoint
            core.apply(action)
            logged += 1
            log_bytes += len(action.raw)
        if data is None and logged == 0:
            ctx.timer_service().register_event_time_timer(END_OF_TIME)
        live = self.live[key] = Live(core, logged, log_bytes, len(data or b""))
        return live

    def _apply(self, live: Live, action: Action, ctx: Any) -> Iterator[Emitted]:
        out = live.core.apply(action)
        live.logged += 1
        live.log_bytes += len(action.raw)
        if live.compact_due(self.snapshot_every):
            data = live.core.snapshot()
            self.snap.update(data)
            self.log.clear()
            live.logged = live.log_bytes = 0
            live.snap_bytes = len(data)
        else:
            self.log.add(action)
        due = live.core.next_timer()
        if due is not None and due != live.timer and action.kind != "f":
            ctx.timer_service().register_event_time_timer(due)
            live.timer = due
        if out:
            yield from emitted(out)

    def process_element(self, value: tuple[str, bool, int, str, int, bytes], ctx: Any) -> Iterator[Emitted]:
        key, replica, ts_ms, source, offset, raw = value
        if key == REJECTED:  # the router's dead letter: no state, no core
            yield "dlq", f"{source}/{offset}", raw.decode()
            return
        live = self._live(key, ctx)
        yield from self._apply(live, Action("e", ts_ms, source, offset, replica, raw), ctx)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Emitted]:
        live = self._live(ctx.get_current_key(), ctx)
        if timestamp == END_OF_TIME:
            yield from self._apply(live, Action("f"), ctx)
            return
        if timestamp == live.timer:
            live.timer = None
        yield from self._apply(live, Action("w", ctx.timer_service().current_watermark()), ctx)
