"""Spatial cells on Flink: a fire whose camera and call lie in different cells is found once, with the
embedded runner's id, version and events (replicas support, only the anchor's cell emits)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from rules.loader import load_rules
from streams.partitioning import METRES_PER_DEGREE, plan_for
from tests.flink.helpers import embedded, run_file, same_updates
from tests.golden.harness import scenarios
from tests.support import catalog_subset

pytestmark = pytest.mark.slow


def test_a_match_across_a_cell_border_is_found_once(tmp_path: Path) -> None:
    root = catalog_subset(tmp_path, ["fire"])
    plan = plan_for(load_rules([root]), "spatial")
    docs = [orjson.loads(line) for line in next(s for s in scenarios() if s.name == "fire_camera_and_calls").lines]
    lat = {d["id"]: d["location"]["lat"] for d in docs}
    mid = (lat["v-1"] + lat["c-1"]) / 2  # shift north so that a row border runs between camera and call
    border = (int(mid * METRES_PER_DEGREE / plan.cell_m) + 1) * plan.cell_m / METRES_PER_DEGREE
    for d in docs:
        d["location"]["lat"] += border - mid
    keys = {d["id"]: plan.key(d["location"]["lat"], d["location"]["lon"], d["id"]) for d in docs}
    assert keys["v-1"] != keys["c-1"]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(d) for d in docs) + b"\n")

    expected = embedded([root], events.read_bytes().splitlines())
    got, stages = run_file([root], events, partitioning="spatial")
    assert expected and not stages
    assert same_updates(got, expected) == []
