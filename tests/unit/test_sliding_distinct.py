"""The incremental window summaries of a buffer (rules/core/buffer.py): `count` and `SlidingDistinct` give what
a scan of `latest` gives, through appends, rollbacks, late inserts, expiry, compaction and the max_partials
limit, and for queries that go forward, back or stay."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.core.buffer import Buffer, Entry, SlidingDistinct

Op = tuple[str, int, int]


def _entry(ts: int, n: int, phone: int | None) -> Entry:
    ev = SimpleNamespace(id=f"e{n:04d}", location=None, data=SimpleNamespace(phone=phone))
    return Entry(ev, float(ts), 0, False)


def _phone(ev: Any) -> Any:
    return ev.data.phone


ops = st.lists(
    st.tuples(
        st.sampled_from(
            ["add", "add", "add", "late", "pop", "redo", "redo", "expire", "limit", "limit", "query", "query", "query"]
        ),
        st.integers(0, 40),
        st.integers(0, 40),
    ),
    max_size=150,
)


@settings(max_examples=600, deadline=None)
@given(ops, st.integers(1, 15))
def test_window_summaries_agree_with_a_scan(script: list[Op], window: int) -> None:
    buf = Buffer(None)
    t, n = 0, 0
    for op, a, b in script:
        if op == "add":
            t += a % 4
            n += 1
            buf.add(_entry(t, n, None if b % 5 == 0 else b % 6))
        elif op == "late" and buf.live():
            n += 1
            ts = max(buf.live()[0].ts, t - a % 6)
            buf.add(_entry(int(ts), n, b % 6))  # slotted into place, as a quiet insert is
        elif op == "pop" and buf.live():
            buf.pop(buf.entries[-1])
        elif op == "redo" and len(buf.live()) > 1:
            for _ in range(min(a % 4 + 1, len(buf.live()) - 1)):  # a rollback: the newest entries out...
                buf.pop(buf.entries[-1])
            n += 1
            buf.add(_entry(int(buf.entries[-1].ts), n, b % 6))  # ...and a late one in at their place
        elif op == "expire":
            buf.expire(float(t - window - a % 5))
        elif op == "limit" and buf.live():
            buf.start += 1  # Kind.add past max_partials drops the oldest
        elif op == "query" and buf.live():
            live = buf.live()
            x = live[
                -1 - (a % min(2, len(live)) if a < 36 else a % len(live))
            ]  # mostly the newest: the memo's own case
            lo = x.ts - window
            scanned = list(buf.latest(lo, x.key))
            assert buf.count(lo, x.key) == len(scanned)
            memo = SlidingDistinct.of(buf, lo, x.key)
            assert memo.advance(buf, lo, x.key, _phone) == len(scanned)
            assert set(memo.counts) == {e.ev.data.phone for e in scanned if e.ev.data.phone is not None}
            assert sum(memo.counts.values()) == sum(e.ev.data.phone is not None for e in scanned)


def test_a_forward_query_costs_only_what_entered_and_left() -> None:
    buf = Buffer(None)
    for i in range(1000):
        buf.add(_entry(i, i, i % 7))
    calls = 0

    def counted(ev: Any) -> Any:
        nonlocal calls
        calls += 1
        return ev.data.phone

    for i in range(100, 1000):
        x = buf.entries[i]
        memo = SlidingDistinct.of(buf, x.ts - 100, x.key)
        assert memo.advance(buf, x.ts - 100, x.key, counted) == 100
    assert calls == 999  # each entry valued once, not once per query (900 queries of 100)
