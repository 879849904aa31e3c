"""rules.core.timeguard: every branch of the time guard, and its promises as properties (hypothesis)."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.core.timeguard import ACCEPT, HOLD, TimeGuard, Verdict
from rules.model import RuleSetSettings
from schemas import RejectStage

FUT, AGE, K = 300.0, 7 * 86400.0, 3
T = 1_780_000_000.0  # 2026-05-28
Y2099 = 4_070_908_800.0

Event = tuple[float, str, str]  # time, id, source


class Run:
    """Feeds a guard like a runtime does: what it accepts (in processing order) and what it rejects."""

    def __init__(self, guard: TimeGuard[Event] | None = None) -> None:
        self.guard: TimeGuard[Event] = guard or TimeGuard(FUT, AGE, K)
        self.accepted: list[Event] = []
        self.rejected: dict[str, Verdict] = {}

    def feed(
        self, ts: float, eid: str, source: str = "a", received: float | None = None, now: float | None = None
    ) -> Verdict:
        verdict = self.guard.admit(ts, eid, source, (ts, eid, source), received, now)
        if verdict is ACCEPT:
            self.accepted.append((ts, eid, source))
        elif verdict is not HOLD:
            self.rejected[eid] = verdict
        self._decided(self.guard.take())
        return verdict

    def _decided(self, items: list[tuple[Event, Verdict]]) -> None:
        for item, verdict in items:
            if verdict is ACCEPT:
                self.accepted.append(item)
            else:
                self.rejected[item[1]] = verdict

    def flush(self) -> None:
        self._decided(self.guard.flush())

    def ids(self) -> list[str]:
        return [e[1] for e in self.accepted]


def started(sources: tuple[str, ...] = ("a", "b")) -> Run:
    """A guard whose stream time is established at T (the start is held like any jump)."""
    run = Run()
    for i in range(K + 1):
        run.feed(T + i, f"s{i}", sources[i % len(sources)])
    assert run.ids() == [f"s{i}" for i in range(K + 1)] and run.guard.newest == T + K
    return run


# --- received time and the clock ------------------------------------------------------------------
def test_received_time_is_the_reference() -> None:
    run = Run()
    assert run.feed(T, "ok", received=T + 1) is ACCEPT  # no hold: the reference is the event's own
    assert run.feed(T + FUT, "edge", received=T) is ACCEPT  # closed: exactly max_future ahead is in
    v = run.feed(T + FUT + 0.5, "ahead", received=T)
    assert (
        v.stage is RejectStage.FUTURE and v.reason == "300.5s ahead of its received time, more than max_future (300.0s)"
    )
    assert run.feed(T - AGE, "old-edge", received=T) is ACCEPT
    v = run.feed(T - AGE - 1, "old", received=T)
    assert (
        v.stage is RejectStage.STALE and v.reason == "604801.0s behind its received time, more than max_age (604800.0s)"
    )
    assert run.feed(Y2099, "y", received=Y2099) is ACCEPT  # a receiver with the same wrong clock: its word
    assert run.guard.newest == Y2099


def test_the_clock_is_the_reference_when_there_is_no_received_time() -> None:
    run = Run()
    assert run.feed(T, "ok", now=T - 10) is ACCEPT
    v = run.feed(Y2099, "y", now=T)
    assert v.stage is RejectStage.FUTURE
    assert v.reason == f"{Y2099 - T:.1f}s ahead of the runtime's clock, more than max_future (300.0s)"
    v = run.feed(T - AGE - 5, "old", now=T)  # too old for the stream
    assert v.stage is RejectStage.STALE
    assert v.reason == "604805.0s behind the newest accepted event time, more than max_age (604800.0s)"
    assert run.feed(T + 100, "r", received=T + 100, now=Y2099) is ACCEPT  # received time wins over the clock
    assert run.guard.newest == T + 100 and not run.guard.held


def test_with_a_clock_old_events_are_judged_by_the_stream_so_a_replay_works() -> None:
    run = Run()
    wall = T + 300 * 86400  # replaying events from most of a year ago
    for i in range(10):
        assert run.feed(T + 60 * i, f"e{i}", "a", now=wall) is ACCEPT  # never held, whatever the source
    assert run.feed(T + 86400, "a-day-later", "a", now=wall) is ACCEPT  # in the past of the clock: no hold
    assert run.feed(wall + FUT + 1, "ahead", "a", now=wall).stage is RejectStage.FUTURE
    assert not run.guard.held and run.guard.newest == T + 86400


def test_settings_come_from_the_rule_set() -> None:
    guard: TimeGuard[int] = TimeGuard.from_settings(RuleSetSettings(max_future=60, max_age=3600, confirm_jump=5))
    assert (guard.max_future, guard.max_age, guard.confirm_jump, guard.expire_after) == (60, 3600, 5, 500)
    default: TimeGuard[int] = TimeGuard()
    assert (default.max_future, default.max_age, default.confirm_jump) == (300.0, 7 * 86400.0, 3)


# --- the stream as the reference (a file without receive times) ----------------------------------
def test_the_start_is_held_until_confirmed() -> None:
    run = Run()
    assert run.feed(T + 2, "x", "a") is HOLD
    assert run.feed(T, "y", "b") is HOLD  # 2 s before x: confirms x
    assert run.feed(T + 1, "z", "a") is HOLD
    assert run.ids() == []
    assert run.feed(T + 3, "w", "a") is HOLD  # x's third confirmation: all four go, in (time, id) order
    assert run.ids() == ["y", "z", "x", "w"] and run.guard.newest == T + 3


def test_a_2099_event_in_a_good_stream_is_held_then_rejected_as_future() -> None:
    run = started()
    assert run.feed(Y2099, "bad", "cam-9") is HOLD
    for i in range(K * 100 - 1):
        assert run.feed(T + 10 + i, f"g{i}", "ab"[i % 2]) is ACCEPT  # the good stream never waits
    assert "bad" not in run.rejected and run.guard.newest < Y2099
    run.feed(T + 10 + K * 100, "last", "a")  # the 300th event near the old time
    v = run.rejected["bad"]
    assert v.stage is RejectStage.FUTURE
    assert v.reason.startswith(
        f"{Y2099 - (T + 10 + K * 100):.1f}s ahead of the stream (the newest accepted event time)"
    )
    assert v.reason.endswith("not confirmed by 3 later events; 300 later events were more than 300.0s before it")
    assert not run.guard.held and "bad" not in run.ids()


def test_one_source_cannot_confirm_its_own_jump() -> None:
    run = started()
    for i in range(10):  # a device with a wrong clock keeps sending
        assert run.feed(Y2099 + i, f"bad{i}", "cam-9") is HOLD
    assert run.ids()[-1] == "s3" and len(run.guard.held) == 10
    run.flush()  # nothing contradicted the tail, but it is more than max_age ahead
    assert {k: v.stage for k, v in run.rejected.items()} == {f"bad{i}": RejectStage.FUTURE for i in range(10)}
    assert run.rejected["bad0"].reason.endswith("not confirmed by 3 later events; input ended")


def test_a_quiet_night_then_traffic_is_accepted_after_confirmation() -> None:
    run = started()
    morning = T + 8 * 3600
    assert run.feed(morning, "m0", "a") is HOLD
    assert run.feed(morning - 20, "m1", "a") is HOLD  # same source: confirms, but not enough alone
    assert run.feed(morning + 5, "m2", "a") is HOLD
    assert run.feed(morning + 9, "m3", "a") is HOLD  # three confirmations, one source: still held
    assert run.ids()[-1] == "s3"
    assert run.feed(morning + 12, "m4", "b") is HOLD  # a second source
    assert run.ids()[-5:] == ["m1", "m0", "m2", "m3", "m4"] and run.guard.newest == morning + 12
    assert run.feed(morning + 13, "m5", "b") is ACCEPT


def test_one_source_streams_confirm_by_count() -> None:
    run = Run()  # every event from one source (a single feed): a second source is never needed
    for i, t in enumerate([0, 30, 60, 90, 1000, 2000, 3000, 4000]):
        run.feed(T + t, f"e{i}")
    assert run.ids() == ["e0", "e1", "e2", "e3", "e4"]  # e5.. wait for three later events each
    run.flush()  # a quiet tail that nothing contradicted: released at the end
    assert run.ids() == [f"e{i}" for i in range(8)] and not run.rejected


def test_the_stream_catching_up_releases_a_held_event() -> None:
    run = started()
    assert run.feed(T + K + FUT + 60, "early", "a") is HOLD  # 6 minutes ahead of a stream in step
    for i in range(1, 12):
        assert run.feed(T + K + 5 * i, f"g{i}", "a") is ACCEPT  # up to 305 s before "early"
    assert "early" not in run.ids()
    assert run.feed(T + K + 61, "catch", "b") is HOLD  # newest within max_future: both go, in order
    assert run.ids()[-2:] == ["catch", "early"]


def test_an_accepted_event_goes_out_with_what_it_released_in_time_order() -> None:
    run = started(("a", "b"))
    run.feed(T + 400, "h", "a")
    run.feed(T + 500, "c1", "b")  # confirm h (held too: beyond the stream)
    run.feed(T + 600, "c2", "b")
    assert run.ids()[-1] == "s3"
    assert run.feed(T + 250, "c3", "a") is HOLD  # accepted on its own, and h's third confirmation
    assert run.ids()[-4:] == ["c3", "h", "c1", "c2"]


def test_a_duplicate_does_not_confirm_itself() -> None:
    run = started(("a", "b"))
    for _ in range(5):
        run.feed(T + 1000, "same", "b")
    assert len(run.guard.held) == 5 and all(h.confirmed == 0 for h in run.guard.held)


def test_stale_against_the_stream_and_after_a_long_confirmed_jump() -> None:
    run = started()
    v = run.feed(T - AGE - 1, "old", "a")
    assert v.stage is RejectStage.STALE and v.reason.startswith("604804.0s behind the newest accepted event time")
    later = T + AGE + 7200
    run.feed(later, "j0", "b")  # a jump of more than max_age ...
    run.feed(T + 3600, "soon", "a")  # held too, waiting for a confirmation from a source other than its own
    for i in range(1, 4):
        run.feed(later + i, f"j{i}", "a")  # ... confirmed
    assert run.guard.newest == later + 3
    assert run.rejected["soon"].stage is RejectStage.STALE and not run.guard.held


def test_flush_releases_an_uncontradicted_tail_and_rejects_the_rest() -> None:
    run = started()
    run.feed(T + 2000, "gap", "a")  # the last event after a quiet half hour
    run.feed(T + 5000, "contradicted", "a")
    run.feed(T + 3000, "behind-it", "b")  # more than max_future before "contradicted"
    run.flush()
    assert run.ids()[-2:] == ["gap", "behind-it"]
    assert set(run.rejected) == {"contradicted"}
    assert run.rejected["contradicted"].reason.endswith("input ended")
    assert run.guard.flush() == [] and not run.guard.pending


def test_flush_before_any_time_is_established_releases_the_uncontradicted() -> None:
    run = Run()
    run.feed(T, "only", "a")
    run.flush()
    assert run.ids() == ["only"]
    run = Run()
    run.feed(Y2099, "bad", "a")
    run.feed(T, "good", "a")
    run.flush()
    assert run.ids() == ["good"] and run.rejected["bad"].stage is RejectStage.FUTURE


def test_held_events_are_bounded() -> None:
    guard: TimeGuard[Event] = TimeGuard(FUT, AGE, 1)  # expire_after = 100
    run = Run(guard)
    run.feed(T, "s0", "a")
    run.feed(T + 1, "s1", "b")
    for i in range(101):
        run.feed(Y2099 + i * 1000, f"bad{i}", "cam-9")  # each far from the others, one source
    assert len(guard.held) == 100 and run.rejected["bad0"].reason.endswith("too many held")


def test_snapshot_round_trip_keeps_held_events_and_the_newest_time() -> None:
    def script(run: Run, steps: list[tuple[float, str, str]]) -> None:
        for ts, eid, src in steps:
            run.feed(ts, eid, src)

    first = [(T, "s0", "a"), (T + 1, "s1", "b"), (T + 2, "s2", "a"), (T + 3, "s3", "b"), (Y2099, "bad", "c")]
    first += [(T + 9000, "m0", "a"), (T + 9001, "m1", "a")]
    second = [(T + 9002, "m2", "a"), (T + 9003, "m3", "b")] + [(T + 10 + i, f"g{i}", "b") for i in range(300)]
    whole = Run()
    script(whole, first + second)
    whole.flush()

    part = Run()
    script(part, first)
    doc = orjson.loads(orjson.dumps(part.guard.to_builtins(list)))
    assert doc["newest"] == T + 3 and doc["many_sources"] is True and len(doc["held"]) == 3
    restored = Run(TimeGuard.from_builtins(doc, RuleSetSettings(), lambda item: (item[0], item[1], item[2])))
    restored.accepted = list(part.accepted)
    script(restored, second)
    restored.flush()
    assert restored.accepted == whole.accepted and restored.rejected == whole.rejected
    empty: TimeGuard[Event] = TimeGuard()
    empty.restore(TimeGuard[Event]().to_builtins(list), tuple)
    assert empty.newest == float("-inf") and empty.held == []


# --- properties ---------------------------------------------------------------------------------
SOURCES = ("sim/112", "sim/sos", "sim/video/cam-1", "sim/anpr/cam-2")


@st.composite
def good_streams(draw: st.DrawFn) -> list[Event]:
    """A plausible stream: steps of at most a minute forward, small disorder, several sources."""
    n = draw(st.integers(8, 60))
    t, out = T, []
    for i in range(n):
        t += draw(st.floats(0, 60))
        jitter = draw(st.floats(-30, 0))
        out.append((t + jitter, f"e{i:03d}", draw(st.sampled_from(SOURCES))))
    return out


@settings(max_examples=300, deadline=None)
@given(good=good_streams(), at=st.integers(0, 60), offset=st.floats(-2 * AGE, 80 * 365 * 86400.0))
def test_no_single_event_moves_the_stream_past_the_rest(good: list[Event], at: int, offset: float) -> None:
    """One event at any time, anywhere in a good stream: the newest accepted time never gets more than
    max_future ahead of the good events seen so far, and every good event is accepted."""
    at = min(at, len(good))
    stream = [*good[:at], (good[min(at, len(good) - 1)][0] + offset, "zz-odd", "odd-device"), *good[at:]]
    run = Run()
    seen = float("-inf")
    for ts, eid, src in stream:
        if eid != "zz-odd":
            seen = max(seen, ts)
        run.feed(ts, eid, src)
        assert run.guard.newest <= seen + FUT
    run.flush()
    assert set(run.ids()) >= {e[1] for e in good}
    assert len(run.ids()) == len(set(run.ids()))
    if "zz-odd" in run.rejected:
        assert run.rejected["zz-odd"].stage in (RejectStage.FUTURE, RejectStage.STALE)


@settings(max_examples=200, deadline=None)
@given(good=good_streams(), gap=st.floats(FUT + 1, AGE - 86400), more=good_streams())
def test_a_quiet_gap_followed_by_normal_traffic_is_accepted(good: list[Event], gap: float, more: list[Event]) -> None:
    shift = good[-1][0] + gap - more[0][0]
    after = [(ts + shift, "n" + eid, src) for ts, eid, src in more]
    run = Run()
    for ts, eid, src in good + after:
        run.feed(ts, eid, src)
    run.flush()
    assert not run.rejected
    assert sorted(run.ids()) == sorted(e[1] for e in good + after)
    released = [e for e in run.accepted if e[1].startswith("n")]
    assert released[0][0] >= good[-1][0] + gap - 60  # the stream really moved on


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(st.tuples(st.floats(-1e10, 1e10), st.floats(-1e10, 1e10)), min_size=1, max_size=30),
    now=st.booleans(),
)
def test_with_a_reference_clock_nothing_is_held(times: list[tuple[float, float]], now: bool) -> None:
    """Against received_time: future and stale by it. Against a clock: future by it, stale by the stream."""
    run = Run()
    newest = float("-inf")
    for i, (ts, ref) in enumerate(times):
        ts, ref = T + ts, T + ref
        v = run.feed(ts, f"e{i}", "a", **({"now": ref} if now else {"received": ref}))
        old = (newest if now else ref) - AGE
        expected = RejectStage.FUTURE if ts > ref + FUT else RejectStage.STALE if ts < old else None
        assert v.stage is expected and v.action == ("accept" if expected is None else "reject")
        if expected is None:
            newest = max(newest, ts)
    assert not run.guard.held and run.guard.newest == newest
