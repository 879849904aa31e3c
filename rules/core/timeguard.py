"""The time guard (docs/semantics.md, section 8): an event's time is judged before it reaches the core.

Why: a runtime's watermark follows the newest accepted event time, so one event dated 2099 (a device with a
wrong clock) would move it to 2099 and every later event would be late: one device would blind the city.
The guard compares each event's time with a reference clock and decides, per event:

* **accept**: correlate it now;
* **reject** (`future` or `stale`): more than `max_future` ahead of, or `max_age` behind, the reference;
* **hold** (a file without receive times only): it stays with the guard, which hands it back later (see
  `take`): released, or rejected as `future`.

The reference per event is its `received_time` when it has one; else `now`, the runtime's clock that a live
caller passes (for `future`; `stale` is then judged against the newest accepted time, so that replaying old
events through a live runtime works); else the stream itself (a file): the newest time accepted so far.
There an event more than `max_future` ahead is held, since nothing yet says whether it is a broken clock or
the stream moving on:

* every later event either **confirms** it (its time is at most `max_future` before the held one's, or
  after it: the stream goes on from there) or **contradicts** it (more than `max_future` before it: the
  stream is still at the old time);
* after `confirm_jump` confirmations, from a source other than the held event's own (unless the stream has
  only ever had one source), it is released and the newest time moves to it; then every held event within
  `max_future` of the new newest time is released too (caught up), in canonical (time, id) order;
* after `confirm_jump` x 100 contradictions it is rejected as `future`;
* at the end of the input (`flush`) a held event is released when nothing contradicted it and it is within
  `max_age` of the newest time (a quiet gap at the end of a file), else rejected as `future`.

The first events of a file are held the same way (no time is established yet), so not even the first event
can set the stream's time alone. The guard has no clock of its own and no I/O: the same calls give the same
decisions, and its state goes to and from builtins (`to_builtins`/`from_builtins`) with the runtime's
snapshot. Items are opaque to it: whatever the caller needs to process or dead-letter the event later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from rules.model import RuleSetSettings
from schemas.deadletter import RejectStage

T = TypeVar("T")

_NEG_INF = float("-inf")
_SETTINGS = RuleSetSettings()


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Literal["accept", "hold", "reject"]
    stage: RejectStage | None = None
    reason: str = ""


ACCEPT = Verdict("accept")
HOLD = Verdict("hold")  # the guard keeps the event; it comes back from take() (released or rejected)


@dataclass(slots=True)
class _Held(Generic[T]):
    ts: float
    eid: str
    source: str
    item: T
    confirmed: int = 0  # later events at most max_future before it, or after it
    other_source: bool = False  # one of them from a source other than its own
    against: int = 0  # later events more than max_future before it


def _s(x: float) -> str:
    return f"{x:.1f}s"


class TimeGuard(Generic[T]):
    def __init__(
        self,
        max_future: float = _SETTINGS.max_future,
        max_age: float = _SETTINGS.max_age,
        confirm_jump: int = _SETTINGS.confirm_jump,
    ):
        self.max_future = max_future
        self.max_age = max_age
        self.confirm_jump = confirm_jump
        self.expire_after = confirm_jump * 100
        self.newest = _NEG_INF  # the newest accepted event time
        self.first_source: str | None = None
        self.many_sources = False  # more than one source seen: a confirmation needs a second one
        self.held: list[_Held[T]] = []
        self._out: list[tuple[T, Verdict]] = []

    @classmethod
    def from_settings(cls, settings: RuleSetSettings) -> TimeGuard[T]:
        return cls(settings.max_future, settings.max_age, settings.confirm_jump)

    # --- deciding --------------------------------------------------------------------------------
    def admit(
        self, ts: float, eid: str, source: str, item: T, received: float | None = None, now: float | None = None
    ) -> Verdict:
        """The verdict on one event at time `ts` (POSIX seconds). On HOLD the guard keeps `item`; after every
        call, `pending` says whether held items were decided (released or rejected): `take()` them, after
        processing this event when it is accepted."""
        if received is not None:
            if ts > received + self.max_future:
                return self._future(ts - received, "its received time")
            if ts < received - self.max_age:
                return self._stale(received - ts, "its received time")
            verdict = ACCEPT
        elif now is not None:  # a clock says what cannot have happened yet; the stream, what is too old
            if ts > now + self.max_future:
                return self._future(ts - now, "the runtime's clock")
            if ts < self.newest - self.max_age:
                return self._stale(self.newest - ts, "the newest accepted event time")
            verdict = ACCEPT
        elif ts < self.newest - self.max_age:
            return self._stale(self.newest - ts, "the newest accepted event time")
        else:
            verdict = ACCEPT if ts <= self.newest + self.max_future else HOLD
        if not self.many_sources and source != self.first_source:
            if self.first_source is None:
                self.first_source = source
            else:
                self.many_sources = True
        if not self.held and verdict is ACCEPT:  # the common case
            if ts > self.newest:
                self.newest = ts
            return ACCEPT
        if verdict is ACCEPT and ts > self.newest:
            self.newest = ts
        self._observe(ts, eid, source)
        if verdict is HOLD:
            self.held.append(_Held(ts, eid, source, item))
            if len(self.held) > self.expire_after:  # bounded: the longest-held one goes first
                h = self.held.pop(0)
                self._out.append((h.item, Verdict("reject", RejectStage.FUTURE, f"{self._ahead(h)}; too many held")))
        released = self._resolve()
        if not released:
            return verdict
        if verdict is ACCEPT:  # it goes out with what it released, in canonical order
            released.append(_Held(ts, eid, source, item))
        released.sort(key=lambda h: (h.ts, h.eid))
        self._out.extend((h.item, ACCEPT) for h in released)
        return HOLD

    def _observe(self, ts: float, eid: str, source: str) -> None:
        """A new event confirms or contradicts each held one; too many contradictions reject it."""
        expired = []
        for h in self.held:
            if ts >= h.ts - self.max_future:
                if eid != h.eid:
                    h.confirmed += 1
                    if source != h.source:
                        h.other_source = True
            else:
                h.against += 1
                if h.against >= self.expire_after:
                    expired.append(h)
        for h in expired:
            self.held.remove(h)
            reason = f"{self._ahead(h)}; {h.against} later events were more than {_s(self.max_future)} before it"
            self._out.append((h.item, Verdict("reject", RejectStage.FUTURE, reason)))

    def _resolve(self) -> list[_Held[T]]:
        """Held events confirmed, or caught up by the newest time, are released (the newest time moves)."""
        released: list[_Held[T]] = []
        need = self.confirm_jump
        changed = True
        while changed and self.held:
            changed = False
            keep: list[_Held[T]] = []
            for h in self.held:
                if h.ts < self.newest - self.max_age:  # a confirmed jump went far past it
                    self._out.append((h.item, self._stale(self.newest - h.ts, "the newest accepted event time")))
                elif h.ts <= self.newest + self.max_future or (
                    h.confirmed >= need and (h.other_source or not self.many_sources)
                ):
                    released.append(h)
                    if h.ts > self.newest:
                        self.newest = h.ts
                        changed = True
                else:
                    keep.append(h)
            self.held = keep
        return released

    def flush(self) -> list[tuple[T, Verdict]]:
        """End of input: every held event is decided (a quiet gap at the end is released, a contradicted or
        implausibly far one rejected); returns the items in canonical order with what was pending before."""
        for h in sorted(self.held, key=lambda h: (h.ts, h.eid)):
            if h.against == 0 and (self.newest == _NEG_INF or h.ts <= self.newest + self.max_age):
                self.newest = max(self.newest, h.ts)
                self._out.append((h.item, ACCEPT))
            else:
                self._out.append((h.item, Verdict("reject", RejectStage.FUTURE, f"{self._ahead(h)}; input ended")))
        self.held = []
        return self.take()

    @property
    def pending(self) -> bool:
        return bool(self._out)

    def take(self) -> list[tuple[T, Verdict]]:
        """Held items decided since the last call, in order: (item, ACCEPT) to correlate now, or a reject."""
        out, self._out = self._out, []
        return out

    # --- reasons, the same words on every runtime -----------------------------------------------
    def _future(self, ahead: float, what: str) -> Verdict:
        reason = f"{_s(ahead)} ahead of {what}, more than max_future ({_s(self.max_future)})"
        return Verdict("reject", RejectStage.FUTURE, reason)

    def _stale(self, behind: float, what: str) -> Verdict:
        reason = f"{_s(behind)} behind {what}, more than max_age ({_s(self.max_age)})"
        return Verdict("reject", RejectStage.STALE, reason)

    def _ahead(self, h: _Held[T]) -> str:
        base = "ahead of the stream" if self.newest == _NEG_INF else f"{_s(h.ts - self.newest)} ahead of the stream"
        return f"{base} (the newest accepted event time) and not confirmed by {self.confirm_jump} later events"

    # --- state -----------------------------------------------------------------------------------
    def to_builtins(self, encode: Callable[[T], Any]) -> dict[str, Any]:
        """JSON-able state (held items through `encode`); taken between calls, when nothing is pending."""
        return {
            "newest": self.newest if math.isfinite(self.newest) else None,
            "first_source": self.first_source,
            "many_sources": self.many_sources,
            "held": [
                [h.ts, h.eid, h.source, h.confirmed, h.other_source, h.against, encode(h.item)] for h in self.held
            ],
        }

    def restore(self, doc: dict[str, Any], decode: Callable[[Any], T]) -> None:
        newest = doc.get("newest")
        self.newest = _NEG_INF if newest is None else float(newest)
        self.first_source = doc.get("first_source")
        self.many_sources = bool(doc.get("many_sources"))
        self.held = [
            _Held(float(ts), str(eid), str(src), decode(item), int(n), bool(other), int(against))
            for ts, eid, src, n, other, against, item in doc.get("held", ())
        ]
        self._out = []

    @classmethod
    def from_builtins(cls, doc: dict[str, Any], settings: RuleSetSettings, decode: Callable[[Any], T]) -> TimeGuard[T]:
        guard: TimeGuard[T] = cls.from_settings(settings)
        guard.restore(doc, decode)
        return guard
