"""The KeyedBroadcastProcessFunction that drives one KeyCore per key, with its state in Flink keyed state
and the reference records in broadcast state.

State per key: `snapshot` (ValueState, KeyCore.snapshot bytes) and `log` (ListState of the actions since),
replaced by a new snapshot when the log reaches `snapshot_every` actions or outweighs the snapshot.
Live KeyCores stay in memory between elements: snapshotting a city's core on every event would cost more
than the event (docs/flink.md). A key missing from memory (a new operator after a restore or a rescale)
is rebuilt from its snapshot and log with outputs dropped. Timers: one event-time timer at the earliest
queued event or core deadline, and one at the end of time for the end of a bounded input.

Reference records come on the broadcast input and are put in broadcast state (index -> raw record), which
every parallel instance holds whole and which is checkpointed; a record that a later one makes unneeded is
removed (jobs.flink.references: the latest per table key, every hotlist version), so the state stays bounded
on a live stream (a file keeps all of its records: its keys apply exactly the records before an event's line).
PyFlink has no `apply_to_keyed_state`, so a key applies them lazily: before its next input or timer it applies
(as logged "r" actions) those it has not applied yet. Nothing else happens to a key in between, so this is what
applying them on arrival would give; a key created later (a new cell, or one rebuilt after a restore)
starts with all of them. A key whose file event waits for reference records still on the broadcast channel
holds its inputs and polls with a processing-time timer.

Outputs are (kind, key, value) with kind "incident", "alert" or "dlq"; job.py routes them to the sinks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyflink.common import Types  # type: ignore[import-untyped]
from pyflink.datastream import KeyedBroadcastProcessFunction, RuntimeContext, TimeDomain  # type: ignore[import-untyped]
from pyflink.datastream.state import (  # type: ignore[import-untyped]
    ListStateDescriptor,
    MapStateDescriptor,
    ValueStateDescriptor,
)

from jobs.flink.keyed import END_OF_TIME, SNAPSHOT_EVERY, Action, KeyCore, RuleTemplate
from jobs.flink.references import COUNT_KEY, BroadcastReferences
from jobs.flink.routing import REJECTED
from jobs.flink.units import SharedUnits
from rules.context.enricher import EnricherSettings, unit_board
from rules.loader import load_rules
from rules.records import decode_record
from schemas import RejectStage
from streams.embedded import ContextOptions
from streams.live import Output

LOG_MIN_BYTES = 64 * 1024  # a log this small is never worth a snapshot of its own
POLL_MS = 20  # a key holding inputs for reference records on their way looks again after this long
OUTPUT_TYPE = Types.TUPLE([Types.STRING(), Types.STRING(), Types.STRING()])
REFERENCE_TYPE = Types.PRIMITIVE_ARRAY(Types.BYTE())
REFERENCE_STATE = MapStateDescriptor("reference", Types.LONG(), Types.PICKLED_BYTE_ARRAY())  # bytes in thread mode
UNITS_STATE = MapStateDescriptor("units", Types.LONG(), Types.PICKLED_BYTE_ARRAY())  # observed fixes kept (units.py)
Emitted = tuple[str, str, str]
# Counters in the operator's metric group "saqshy"; Flink's Prometheus reporter exports each as
# flink_taskmanager_job_task_operator_saqshy_<name> (docs/kafka.md, Observability)
FLINK_COUNTERS = ("events_in", "incidents_out", "dead_letters", "late")


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

    __slots__ = ("core", "log_bytes", "logged", "polling", "snap_bytes", "timer")

    def __init__(self, core: KeyCore, logged: int, log_bytes: int, snap_bytes: int):
        self.core = core
        self.logged = logged  # actions in the log since the last snapshot
        self.log_bytes = log_bytes  # their raw bytes
        self.snap_bytes = snap_bytes  # size of the last snapshot
        self.timer: int | None = None  # the timer registered last (besides the end of time)
        self.polling = False  # a processing-time timer is registered for held inputs

    def compact_due(self, every: int) -> bool:
        """A snapshot replaces the log once the log holds `every` actions or outweighs a snapshot: a busy
        key is snapshotted every `every` inputs, a quiet cell's log never grows past its small snapshot."""
        return self.logged >= every or self.log_bytes >= max(self.snap_bytes, LOG_MIN_BYTES)


class Correlate(KeyedBroadcastProcessFunction):  # type: ignore[misc]
    """Keyed elements: (key, replica, ts_ms, source, offset, raw, needs) from the router; broadcast
    elements: a reference record's raw bytes, or an observed unit fix's (for the shared unit board)."""

    def __init__(
        self,
        rules: tuple[str, ...],
        ordered: bool,
        context: ContextOptions | None = None,
        snapshot_every: int = SNAPSHOT_EVERY,
    ):
        self.rules = rules
        self.ordered = ordered
        self.context = context
        self.snapshot_every = snapshot_every

    def open(self, runtime_context: RuntimeContext) -> None:
        self.template = RuleTemplate(load_rules([Path(p) for p in self.rules]))
        self.snap = runtime_context.get_state(ValueStateDescriptor("snapshot", Types.PICKLED_BYTE_ARRAY()))
        self.log = runtime_context.get_list_state(ListStateDescriptor("log", Types.PICKLED_BYTE_ARRAY()))
        self.live: dict[str, Live] = {}
        # bounded only when keys apply everything that has come before each input (live): a file's event applies
        # exactly the records before its line, and one of them may be replaced by a record after that line
        self.references = BroadcastReferences(bounded=not self.ordered)
        # with enrichment, one unit board for the operator's keys, fed every fix of the city (units.py)
        settings = None if self.context is None else (self.context.settings or EnricherSettings())
        self.units = None if settings is None else SharedUnits(unit_board(settings))
        self.loaded = False  # broadcast state is only reachable through a context: read on first use
        self.restored = 0
        group = runtime_context.get_metrics_group().add_group("saqshy")
        self.counters = {name: group.counter(name) for name in FLINK_COUNTERS}

    def _references(self, ctx: Any) -> BroadcastReferences:
        if not self.loaded:
            stored = ctx.get_broadcast_state(REFERENCE_STATE).items()  # restored from a checkpoint
            self.references.restore((int(i), bytes(raw)) for i, raw in stored)
            self.restored = len(self.references)  # the router counts the file's records since this restore
            if self.units is not None:
                fixes = ctx.get_broadcast_state(UNITS_STATE).items()
                self.units.restore((int(i), bytes(raw)) for i, raw in fixes)
            self.loaded = True
        return self.references

    def process_broadcast_element(self, value: bytes, ctx: Any) -> None:
        references = self._references(ctx)
        if decode_record(bytes(value)).type == "unit.gps":  # an observed fix (the router sent only what decodes)
            if self.units is not None:
                fixes = ctx.get_broadcast_state(UNITS_STATE)
                index, gone = self.units.add(bytes(value))
                fixes.put(index, bytes(value))
                for old in gone:
                    fixes.remove(old)
                fixes.put(COUNT_KEY, str(self.units.count).encode())
            return
        state = ctx.get_broadcast_state(REFERENCE_STATE)
        index, dropped = references.add(bytes(value))
        if references.get(index) is not None:
            state.put(index, bytes(value))
        for old in dropped:
            state.remove(old)
        state.put(COUNT_KEY, str(len(references)).encode())

    def _live(self, key: str, ctx: Any) -> Live:
        live = self.live.get(key)
        if live is not None:
            return live
        core = KeyCore(self.template.fresh(), self.context, self.ordered, self._references(ctx), self.units)
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

    def _step(self, live: Live, action: Action | None, ctx: Any) -> Iterator[Emitted]:
        """The reference records due before `action` (logged as "r" actions), then the action itself."""
        refs = self.references
        for index in live.core.due(len(refs), action):  # logged with their bytes: a rebuild needs no lookup
            yield from self._apply(live, Action("r", offset=index, raw=refs.get(index) or b""), ctx)
        if action is not None:
            yield from self._apply(live, action, ctx)
        if live.core.held and not live.polling:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + POLL_MS)
            live.polling = True

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
        yield from self._after(live, out, action, ctx)

    def _after(self, live: Live, out: Output, action: Action, ctx: Any) -> Iterator[Emitted]:
        """The timer the key needs next, and what the step emitted."""
        due = live.core.next_timer()
        if due is not None and due != live.timer and action.kind != "f":
            ctx.timer_service().register_event_time_timer(due)
            live.timer = due
        if out:
            self._count(out)
            yield from emitted(out)

    def _count(self, out: Output) -> None:
        if out.incidents:
            self.counters["incidents_out"].inc(len(out.incidents))
        if out.dead_letters:
            self.counters["dead_letters"].inc(len(out.dead_letters))
            late = sum(1 for letter in out.dead_letters if letter.stage == RejectStage.LATE)
            if late:
                self.counters["late"].inc(late)

    def process_element(self, value: tuple[str, bool, int, str, int, bytes, int], ctx: Any) -> Iterator[Emitted]:
        key, replica, ts_ms, source, offset, raw, needs = value
        if key == REJECTED:  # the router's dead letter: no state, no core
            self.counters["dead_letters"].inc()
            yield "dlq", f"{source}/{offset}", raw.decode()
            return
        self.counters["events_in"].inc()
        live = self._live(key, ctx)
        needs = self.restored + needs if self.ordered else 0
        yield from self._step(live, Action("e", ts_ms, source, offset, replica, raw, needs), ctx)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Emitted]:
        live = self._live(ctx.get_current_key(), ctx)
        if ctx.time_domain() == TimeDomain.PROCESSING_TIME:  # held inputs: have their references come?
            live.polling = False
            yield from self._step(live, None, ctx)
            return
        if timestamp == END_OF_TIME:
            yield from self._step(live, Action("f"), ctx)
            return
        if timestamp == live.timer:
            live.timer = None
        yield from self._step(live, Action("w", ctx.timer_service().current_watermark()), ctx)
