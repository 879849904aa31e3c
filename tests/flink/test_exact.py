"""Exactness on Flink (docs/semantics.md, 7): a dense stream delivered out of order within max_out_of_orderness
(each event delayed by up to the bound, equal times in any order, a few copies) through the job from a file
gives the incidents a consumer keeps (schemas.fold_latest) of the embedded runner over the same lines and over
the lines sorted: on the single key with the whole catalog (there, the very same versions as the embedded
runner, corrections and retractions included, since the key reads the file's order), and on spatial cells at
parallelism 2, where every cell sees its own share of the stream and its own watermark."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from rules.loader import load_rules
from schemas import Incident, IncidentStatus
from streams.partitioning import plan_for
from tests.flink.dense import CENTRES, arrival, dense_stream
from tests.flink.helpers import embedded, run_file, same_final, same_updates
from tests.golden.harness import CATALOG
from tests.support import catalog_subset

pytestmark = pytest.mark.slow

# the catalog's rules whose matches stay near their anchor, with radii up to 500 m: 1.5 km cells
CELL_LOCAL = [
    "fire",
    "sos",
    "calls/gas_leak_cluster.yaml",
    "calls/mass_incident.yaml",
    "video/fall_medical.yaml",
    "video/fight_with_call.yaml",
    "traffic/accident_confirmed.yaml",
]


def _shuffled(tmp_path: Path, rules: Path, seed: int) -> tuple[Path, list[bytes], list[bytes]]:
    """The file of the stream as delivered, its lines, and the lines in canonical order."""
    lines = dense_stream(seed)
    bound = load_rules([rules]).settings.max_out_of_orderness
    shuffled = arrival(lines, bound, seed)
    assert shuffled != lines and len(shuffled) > len(lines)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(shuffled) + b"\n")
    return events, shuffled, lines


def _statuses(updates: list[Incident]) -> Counter[str]:
    return Counter(u.status.value for u in updates)


def test_a_shuffled_stream_on_the_single_key_gives_the_sorted_streams_incidents(tmp_path: Path) -> None:
    events, shuffled, lines = _shuffled(tmp_path, CATALOG, seed=3)
    in_order = embedded([CATALOG], lines)
    as_delivered = embedded([CATALOG], shuffled)
    # the delivery makes the core correct itself: more versions than in order, an incident retracted
    assert len(as_delivered) > len(in_order) and _statuses(as_delivered)[IncidentStatus.RETRACTED] > 0
    assert same_final(as_delivered, in_order) == []  # the core's own guarantee, which the job must keep

    got, stages = run_file([CATALOG], events)
    assert not stages  # nothing late, copies dropped
    assert same_updates(got, as_delivered) == []  # the file's order: the very same versions
    assert same_final(got, in_order) == []


def test_a_shuffled_stream_on_spatial_cells_at_parallelism_2(tmp_path: Path) -> None:
    root = catalog_subset(tmp_path, CELL_LOCAL)
    events, shuffled, lines = _shuffled(tmp_path, root, seed=2)
    plan = plan_for(load_rules([root]), "spatial")
    owners = Counter(plan.key(*c, "") for c in CENTRES)
    assert len(owners) == 3 and plan.key(*CENTRES[1], "") in plan.replica_keys(*CENTRES[0])
    in_order = embedded([root], lines)
    as_delivered = embedded([root], shuffled)
    assert _statuses(as_delivered)[IncidentStatus.RETRACTED] > 0
    assert same_final(as_delivered, in_order) == []

    got, stages = run_file([root], events, partitioning="spatial", parallelism=2)
    assert not stages
    assert same_final(got, in_order) == []
    assert same_final(got, as_delivered) == []
