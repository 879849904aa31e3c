"""A bounded run ends or fails with an error naming what it waited for (issue 23), and a live worker that stalls
says what it waits for: the watchdogs, on a fake clock, without a broker."""

from __future__ import annotations

import itertools

import pytest

from streams.kafka.worker import STALL_PROBE, BoundedWatch, LiveWatch, WorkerError

PENDING = {"t.anpr:0": (100, 150, 500), "t.video:0": (80, 80, 90)}  # processed, read, end


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("streams.kafka.worker.time.monotonic", fake)
    return fake


def test_records_deleted_before_they_were_read_fail_the_run_at_the_first_probe(clock: Clock) -> None:
    watch = BoundedWatch(stall_after=60.0, stop_after=None)
    asked: list[dict[str, int]] = []

    def log_starts(wanted: dict[str, int]) -> dict[str, int]:
        asked.append(wanted)
        return {"t.anpr:0": 500}  # retention moved the log start to the end

    watch.check(1, lambda: PENDING, log_starts)
    clock.now += STALL_PROBE - 1
    watch.check(1, lambda: PENDING, log_starts)
    assert asked == []  # progress a moment ago: the broker is not asked
    clock.now += 1
    with pytest.raises(WorkerError, match=r"deleted input records.*t\.anpr:0 offsets 150\.\.499.*retention\.ms=-1"):
        watch.check(1, lambda: PENDING, log_starts)
    assert asked == [{"t.anpr:0": 150, "t.video:0": 80}]  # from what was read, not what was processed


def test_a_run_without_progress_fails_after_stall_after_naming_its_inputs(clock: Clock) -> None:
    watch = BoundedWatch(stall_after=30.0, stop_after=None)
    for step in range(10):  # progress every 10 s keeps it alive
        watch.check(step, lambda: PENDING, lambda _: {})
        clock.now += 10
    clock.now += 19
    watch.check(9, lambda: PENDING, lambda _: {})  # 29 s without progress
    clock.now += 1
    with pytest.raises(WorkerError) as err:
        watch.check(9, lambda: PENDING, lambda _: {}, lambda: " (the worker is finishing)")
    assert str(err.value) == (
        "bounded run stalled: nothing processed for 30 s; waiting for t.anpr:0 processed to 100 of 500 "
        "(read to 150), t.video:0 processed to 80 of 90 (the worker is finishing)"
    )


def test_a_run_past_its_deadline_fails_even_while_it_progresses(clock: Clock) -> None:
    watch = BoundedWatch(stall_after=60.0, stop_after=25.0)
    for step in range(5):
        watch.check(step, lambda: PENDING, lambda _: {})
        clock.now += 5
    with pytest.raises(WorkerError, match=r"did not finish within 25 s; waiting for t\.anpr:0"):
        watch.check(5, lambda: PENDING, lambda _: {})


def test_a_quiet_live_stream_is_no_stall_and_is_asked_about_once_per_probe(clock: Clock) -> None:
    watch = LiveWatch(warn_after=60.0)
    asked = []

    def nothing() -> dict[str, tuple[int, int, int]]:
        asked.append(clock.now)
        return {}

    watch.check(7, nothing)
    for _ in range(60):  # ten minutes without input, checked every 10 s
        clock.now += 10
        assert watch.check(7, nothing) is None
    assert len(asked) == 55  # from the 60th second on, once per loop here (each 10 s apart >= STALL_PROBE)
    assert all(b - a >= STALL_PROBE for a, b in itertools.pairwise(asked))


def test_a_live_stall_is_named_then_repeated_only_every_warn_after_and_progress_ends_it(clock: Clock) -> None:
    watch = LiveWatch(warn_after=60.0)
    held = {"t.anpr:0": (100, 100, 500)}  # processed, read, end: the input is not fetched on
    watch.check(1, lambda: held, lambda: " (0 events wait in the event-time merge, 1 inputs paused)")
    clock.now += 59
    assert watch.check(1, lambda: held) is None
    clock.now += 1
    said = watch.check(1, lambda: held, lambda: " (1 inputs paused)")
    assert said == (
        "nothing processed for 60 s while input waits: waiting for t.anpr:0 processed to 100 of 500 (1 inputs paused)"
    )
    said_at = clock.now
    while clock.now - said_at < 60:
        assert watch.check(1, lambda: held) is None
        clock.now += 5
    assert watch.check(1, lambda: held) == (
        "nothing processed for 120 s while input waits: waiting for t.anpr:0 processed to 100 of 500"
    )
    clock.now += 5
    assert watch.check(2, lambda: held) is None  # progress
    clock.now += 59
    assert watch.check(2, lambda: held) is None
