"""The embedded runner: the reference runtime. It drives the pure core over a file in one process;
every other runtime is tested against what this one produces from the same input."""

from __future__ import annotations

import gc
import gzip
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rules.alerts.policy import AlertPolicy
from rules.context.enricher import EnricherSettings
from rules.context.runtime import ContextCorrelator
from rules.core.engine import Correlator, LateDrop
from rules.core.timeguard import ACCEPT, HOLD, TimeGuard, Verdict
from rules.loader import RuleSet
from rules.records import RecordDecodeError, decode_record, record_from_model
from schemas import DeadLetter, EventBase, Incident, PublicAlert, RejectStage, SourcePosition, fold_latest
from schemas.events import REFERENCE_TYPES
from streams.dlq import DeadLetterSink, MemoryDeadLetters, dead_letter

MAX_EVENT_BYTES = 1 << 20
OVERSIZE_KEPT = 4096  # bytes of an oversized input kept in its dead letter


# The reasons every runtime gives, word for word, so their dead letters compare equal.
def oversize_reason(size: int) -> str:
    return f"{size} bytes is over the {MAX_EVENT_BYTES} limit"


def late_reason(drop: LateDrop) -> str:
    return f"{drop.lateness_s:.1f}s behind the watermark, past the allowed lateness of rules: " + ", ".join(
        drop.rule_ids
    )


@dataclass(frozen=True)
class ContextOptions:
    """Turns on enrichment (rules.context): reference events loaded before the stream, settings, alerts."""

    reference: tuple[EventBase, ...] = ()
    settings: EnricherSettings | None = None
    alerts: AlertPolicy | None = None


@dataclass
class ReplaySummary:
    lines: int = 0
    events: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    updates: int = 0
    incidents: dict[str, Incident] = field(default_factory=dict)  # latest state per id
    seconds: float = 0.0
    duplicates: int = 0
    alerts: list[PublicAlert] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0

    def by_rule_priority(self) -> dict[str, Counter[int]]:
        out: dict[str, Counter[int]] = {}
        for inc in self.incidents.values():
            out.setdefault(inc.rule_id, Counter())[inc.priority] += 1
        return out


def open_lines(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


class EmbeddedRunner:
    """Feeds raw lines to the core; the watermark trails the highest event time by the out-of-orderness."""

    def __init__(
        self,
        ruleset: RuleSet,
        dead_letters: DeadLetterSink | None = None,
        source_name: str = "-",
        max_out_of_orderness: float | None = None,
        context: ContextOptions | None = None,
    ):
        self.context = context
        self.alert_sink: Callable[[PublicAlert], None] | None = None
        self.core: Correlator | ContextCorrelator
        if context is None:
            self.core = self._base = Correlator(ruleset, max_out_of_orderness)
        else:
            self.core = ContextCorrelator(ruleset, max_out_of_orderness, context.settings, context.alerts)
            self._base = self.core.core
        self.ooo = ruleset.settings.max_out_of_orderness if max_out_of_orderness is None else max_out_of_orderness
        self.dead_letters = dead_letters if dead_letters is not None else MemoryDeadLetters()
        self.source_name = source_name
        self.summary = ReplaySummary()
        self._high = float("-inf")
        # the time guard, file mode: the stream's newest accepted time is the clock (docs/semantics.md, 8)
        self.guard: TimeGuard[tuple[bytes, int, Any]] = TimeGuard.from_settings(ruleset.settings)

    def _reject(self, raw: bytes, lineno: int, stage: RejectStage, reason: str, event_id: str | None = None) -> None:
        self.summary.rejected[stage.value] += 1
        self.summary.reasons[reason.split("\n", 1)[0][:120]] += 1
        self.dead_letters.put(
            dead_letter(raw, stage, reason, SourcePosition(file=self.source_name, line=lineno), event_id)
        )

    def feed(self, raw: bytes, lineno: int) -> list[Incident]:
        summary = self.summary
        summary.lines += 1
        if len(raw) > MAX_EVENT_BYTES:
            self._reject(raw[:OVERSIZE_KEPT], lineno, RejectStage.OVERSIZE, oversize_reason(len(raw)))
            return []
        try:
            record = decode_record(raw)
        except RecordDecodeError as exc:
            if raw.strip():  # blank lines are not events, nor errors
                self._reject(raw, lineno, exc.stage, exc.reason)
            return []
        summary.events += 1
        ts = record.time.timestamp()
        if record.type in REFERENCE_TYPES:  # a table's row: no clock to judge, no watermark to move
            return self._correlate(raw, lineno, record, ts, False)
        guard = self.guard
        received = record.received_time
        verdict = guard.admit(
            ts, record.id, record.source, (raw, lineno, record), None if received is None else received.timestamp()
        )
        if verdict is ACCEPT:
            out = self._correlate(raw, lineno, record, ts)
            return out + self._decided(guard.take()) if guard.pending else out
        if verdict is not HOLD:
            self._guard_reject(raw, lineno, record, verdict)
        return self._decided(guard.take())

    def _guard_reject(self, raw: bytes, lineno: int, record: Any, verdict: Verdict) -> None:
        assert verdict.stage is not None
        self._reject(raw, lineno, verdict.stage, verdict.reason, record.id)

    def _decided(self, items: list[tuple[tuple[bytes, int, Any], Verdict]]) -> list[Incident]:
        """Held events the guard has decided on: correlated in the order given, or dead-lettered."""
        out: list[Incident] = []
        for (raw, lineno, record), verdict in items:
            if verdict is ACCEPT:
                out += self._correlate(raw, lineno, record, record.time.timestamp())
            else:
                self._guard_reject(raw, lineno, record, verdict)
        return out

    def _correlate(self, raw: bytes, lineno: int, record: Any, ts: float, moves: bool = True) -> list[Incident]:
        core = self.core
        if moves and ts > self._high:
            self._high = ts
            fired = core.on_watermark(ts - self.ooo)
            out = core.on_event(record, ts=ts)
            if fired:
                out = fired + out  # a new list: the core's results are not ours to mutate
        else:
            out = core.on_event(record, ts=ts)
        if self._base._late:
            for drop in core.take_late():
                self._reject(raw, lineno, RejectStage.LATE, late_reason(drop), drop.event_id)
        return out

    def finish(self) -> list[Incident]:
        """End of input: the guard decides on the events it holds, then event time runs out, so every timer
        fires and open incidents close."""
        out = self._decided(self.guard.flush())
        return out + self.core.on_watermark(float("inf"))

    def take_alerts(self) -> list[PublicAlert]:
        return self.core.take_alerts() if isinstance(self.core, ContextCorrelator) else []

    def run(
        self,
        lines: Iterable[bytes],
        sink: Callable[[Incident], None] | None = None,
        alert_sink: Callable[[PublicAlert], None] | None = None,
    ) -> ReplaySummary:
        with long_lived_heap():
            return self._run(lines, sink, alert_sink)

    def _run(
        self,
        lines: Iterable[bytes],
        sink: Callable[[Incident], None] | None,
        alert_sink: Callable[[PublicAlert], None] | None,
    ) -> ReplaySummary:
        started = time.perf_counter()
        incidents = self.summary.incidents
        if self.context is not None and self.context.reference:
            for ev in self.context.reference:  # reference tables first, as a compacted topic is read first
                self.core.on_event(record_from_model(ev))
        for lineno, raw in enumerate(lines, 1):
            for inc in self.feed(raw, lineno):
                fold_latest(incidents, inc)
                self.summary.updates += 1
                if sink is not None:
                    sink(inc)
            if self.context is not None:
                self._alerts(alert_sink)
        for inc in self.finish():
            fold_latest(incidents, inc)
            self.summary.updates += 1
            if sink is not None:
                sink(inc)
        self._alerts(alert_sink)
        self.summary.seconds = time.perf_counter() - started
        self.summary.duplicates = self.core.stats.duplicates
        self.dead_letters.close()
        return self.summary

    def _alerts(self, alert_sink: Callable[[PublicAlert], None] | None) -> None:
        alert_sink = alert_sink or self.alert_sink
        for alert in self.take_alerts():
            self.summary.alerts.append(alert)
            if alert_sink is not None:
                alert_sink(alert)


LONG_LIVED_GC = (50_000, 20, 100)  # gc.set_threshold for a process that keeps a growing state


@contextmanager
def long_lived_heap() -> Iterator[None]:
    """A replay allocates small objects steadily and keeps most of them (windows, open incidents): Python's
    default collector thresholds make it walk that growing heap over and over (a quarter of a burst's time).
    Collections come 50x less often while it runs; the state holds no reference cycles to wait for."""
    before = gc.get_threshold()
    gc.set_threshold(*LONG_LIVED_GC)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def iter_incidents(path: Path) -> Iterator[Incident]:
    with open_lines(path) as fh:
        for line in fh:
            if line.strip():
                yield Incident.model_validate_json(line)


def letters(sink: DeadLetterSink) -> list[DeadLetter]:
    return sink.letters if isinstance(sink, MemoryDeadLetters) else []
