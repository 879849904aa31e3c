"""A live partition snapshotted and restored at any point of a shuffled stream ends with the incidents of an
uninterrupted run: the state a snapshot carries is the whole state, including chained rules' inputs that wait
for the watermark, actions that name an incident not raised yet, and the time guard's held events.

The whole catalog (chained rules included: dispatch.unacknowledged, anpr.wanted_route) over a simulated
stream delivered out of order within max_out_of_orderness; cuts at many places, and a snapshot after every
event over a stretch where chained inputs wait."""

from __future__ import annotations

import pytest

from rules.loader import load_rules
from schemas import Incident, fold_latest
from streams.live import Output, PartitionRuntime
from tests.property.test_exact_catalog import BOUND, CATALOG, shuffle_within, simulated

pytestmark = pytest.mark.slow


def _final(updates: list[Incident]) -> dict[str, Incident]:
    latest: dict[str, Incident] = {}
    for u in updates:
        fold_latest(latest, u)
    return latest


def _run(lines: list[bytes], cuts: set[int]) -> tuple[list[Incident], list[int]]:
    """Updates of a run that snapshots at each cut (before the event at that offset) and goes on from a fresh
    runtime restored from it; and the offsets before which chained inputs were waiting."""
    runtime = PartitionRuntime(load_rules([CATALOG]))
    out: list[Incident] = []
    waiting: list[int] = []
    for offset, raw in enumerate(lines):
        if runtime.core._chained:  # type: ignore[union-attr]
            waiting.append(offset)
        if offset in cuts:
            blob = runtime.snapshot({"events:0": offset})
            runtime = PartitionRuntime(load_rules([CATALOG]))  # a fresh process's: nothing shared
            assert runtime.restore(blob) == {"events:0": offset}
        out.extend(runtime.feed(raw, "events", 0, offset).incidents)
    end: Output = runtime.finish()
    out.extend(end.incidents)
    return out, waiting


def test_a_restored_partition_ends_with_the_uninterrupted_runs_incidents() -> None:
    refs, events = simulated(16, 1.0, 1.0)
    lines = [*refs, *shuffle_within(events, BOUND, seed=16)]
    straight, waiting = _run(lines, set())
    assert len(_final(straight)) > 10
    assert waiting, "chained rules never had an input waiting: the stream does not exercise them"
    step = max(1, len(lines) // 20)
    cuts = set(range(len(refs) + 1, len(lines), step)) | set(waiting[:: max(1, len(waiting) // 10)])
    cut, _ = _run(lines, cuts)
    assert [u.model_dump() for u in cut] == [u.model_dump() for u in straight]
