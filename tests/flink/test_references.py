"""Flink's broadcast reference state is bounded (jobs.flink.references): records that a later one makes unneeded
leave holes, which a key steps over. Against the brute force (every record applied as it came): a key that had
applied any prefix and then applies the rest through the holes, or one created after everything, or one on an
operator restored from the state it checkpointed, ends with the same tables and hotlist answers. Pure: no
Flink needed."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.flink.references import COUNT_KEY, BroadcastReferences
from rules.core.reference import ReferenceStore
from rules.records import decode_record
from tests.property.test_reference_log import T0, _answers, _apply, _iso, _square, reference_record


@st.composite
def broadcast(draw: st.DrawFn) -> list[bytes]:
    """Raw records in a shuffled order, copies re-sent anywhere after the original."""
    records = [orjson.dumps(draw(reference_record(n))) for n in range(draw(st.integers(1, 40)))]
    order = draw(st.permutations(records))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(order) - 1))
        order.insert(draw(st.integers(at + 1, len(order))), order[at])
    return order


def _through(refs: BroadcastReferences, store: ReferenceStore, start: int, seen: set[str]) -> None:
    """What KeyCore does: apply the indexes from `start` on, stepping over the holes."""
    for index in range(start, len(refs)):
        raw = refs.get(index)
        if raw is not None:
            _apply(store, [decode_record(raw)], seen)


@settings(max_examples=120, deadline=None)
@given(broadcast(), st.data())
def test_a_key_that_steps_over_the_holes_ends_where_applying_everything_ends(lines: list[bytes], data: Any) -> None:
    everything = ReferenceStore()
    _apply(everything, [decode_record(raw) for raw in lines], set())
    cut = data.draw(st.integers(0, len(lines)))
    refs = BroadcastReferences()
    key, seen = ReferenceStore(), set[str]()
    for raw in lines[:cut]:  # the key applied these as they came, before later ones made some unneeded
        refs.add(raw)
        _apply(key, [decode_record(raw)], seen)
    for raw in lines[cut:]:
        refs.add(raw)
    _through(refs, key, cut, seen)
    assert _answers(key) == _answers(everything)
    late = ReferenceStore()  # a key created after everything came
    _through(refs, late, 0, set())
    assert _answers(late) == _answers(everything)
    restored = BroadcastReferences()  # an operator restored from the broadcast state it checkpointed
    restored.restore([(COUNT_KEY, str(len(refs)).encode()), *refs.raw.items()])
    assert len(restored) == len(refs) and restored.raw == refs.raw
    again = ReferenceStore()
    _through(restored, again, 0, set())
    assert _answers(again) == _answers(everything)


def test_the_state_holds_the_latest_record_per_key_not_every_update() -> None:
    refs = BroadcastReferences()
    for n in range(500):
        zone = {"zone_id": f"z{n % 2}", "name": f"v{n}", "kind": "school", "geometry": _square(0)}
        refs.add(orjson.dumps({"id": f"z{n}", "type": "ref.zone", "source": "s", "time": _iso(T0 + n), "data": zone}))
    assert len(refs) == 500  # indexes keep counting: the router's counts refer to them
    assert len(refs.raw) == 2  # one record per zone (the newest time is one of them)
    assert sorted(refs.raw) == [498, 499]
    whole = BroadcastReferences(bounded=False)  # a file's: its events apply exactly the records before their line
    for n in range(10):
        zone = {"zone_id": "z0", "name": f"v{n}", "kind": "school", "geometry": _square(0)}
        whole.add(orjson.dumps({"id": f"z{n}", "type": "ref.zone", "source": "s", "time": _iso(T0 + n), "data": zone}))
    assert sorted(whole.raw) == list(range(10))
