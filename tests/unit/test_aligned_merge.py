"""The event-time merge of a partition's topics (streams.live.AlignedMerge), without a broker."""

from __future__ import annotations

from collections import Counter

from streams.live import AlignedMerge


def test_releases_in_event_time_order_and_waits_for_an_input_that_may_still_deliver() -> None:
    merge = AlignedMerge()
    for ts in (1, 4, 6):
        merge.add("anpr", ts, f"anpr@{ts}")
    merge.add("calls", 2, "calls@2")
    drained = {"anpr": False, "calls": False, "sos": True}

    out = list(merge.ready(["anpr", "calls", "sos"], drained.__getitem__))

    assert out == ["anpr@1", "calls@2"]  # calls is empty now and may still bring something before 4
    assert merge.buffered == 2 and merge.queued("anpr") == 2 and merge.queued("calls") == 0
    drained["calls"] = True
    assert list(merge.ready(["anpr", "calls", "sos"], drained.__getitem__)) == ["anpr@4", "anpr@6"]


def test_asks_whether_an_input_is_drained_once_per_call() -> None:
    merge = AlignedMerge()
    for ts in range(100):
        merge.add("anpr", ts, ts)
    asked: Counter[str] = Counter()

    def drained(name: str) -> bool:
        asked[name] += 1
        return True

    assert list(merge.ready(["anpr", "calls", "sos"], drained)) == list(range(100))
    assert asked == {"calls": 1, "sos": 1}


def test_past_its_bound_order_yields_to_progress() -> None:
    merge = AlignedMerge(max_buffered=3)
    for ts in range(3):
        merge.add("anpr", ts, ts)
    never = lambda _: False  # noqa: E731
    assert list(merge.ready(["anpr", "calls"], never)) == [0]  # at the bound: one released, then it waits again
    merge.add("anpr", 3, 3)
    assert list(merge.ready(["anpr", "calls"], never)) == [1]
