"""Reference records on a spatial plan: broadcast to every cell. A key applies those that have come when it
next has something to do, a cell seen for the first time starts with all of them, and a file's order is
kept: the same incidents, enriched the same, as the embedded runner."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from rules.loader import load_rules
from streams.partitioning import plan_for
from tests.flink.helpers import embedded, run_file, same_updates
from tests.support import catalog_subset

pytestmark = pytest.mark.slow

CELLS = {"x": (43.25, 76.93), "y": (43.30, 76.99), "z": (43.20, 76.85)}  # kilometres apart: no replicas


def hotlist_rules(tmp_path: Path) -> Path:
    """The catalog's wanted-vehicle rule, made cell-local: its incidents merge within 300 m."""
    root = catalog_subset(tmp_path, ["anpr/wanted_vehicle.yaml"])
    rule = root / "anpr" / "wanted_vehicle.yaml"
    rule.write_text(rule.read_text().replace("  merge_window: 30m\n", "  merge_window: 30m\n  merge_within: 300m\n"))
    return root


def _hot(n: int, plate: str) -> dict[str, object]:
    data = {"plate": plate, "reason": "stolen", "priority": 2, "valid_from": "2026-01-01T00:00:00Z"}
    return {"id": f"hot-{n}", "type": "ref.hotlist", "source": "hotlist", "time": "2026-03-10T08:00:00Z", "data": data}


def _read(n: int, minute: int, plate: str, cell: str) -> dict[str, object]:
    lat, lon = CELLS[cell]
    return {
        "id": f"r-{n}",
        "type": "anpr.read",
        "source": "test",
        "time": f"2026-03-10T08:{minute:02d}:00Z",
        "data": {"camera_id": f"anpr-{cell}", "plate": plate, "confidence": 0.9},
        "location": {"lat": lat, "lon": lon},
    }


def test_reference_records_reach_every_cell_old_and_new(tmp_path: Path) -> None:
    root = hotlist_rules(tmp_path)
    plan = plan_for(load_rules([root]), "spatial")
    docs = [
        _hot(1, "777ABA02"),
        _hot(2, "123KZA01"),
        _read(1, 5, "777ABA02", "x"),  # cell x starts with both hotlist records
        _read(2, 10, "123KZA01", "y"),  # so does y, seen later
        _hot(3, "555BBB05"),  # comes while x and y are live
        _read(3, 20, "555BBB05", "x"),  # x applies it before this read
        _read(4, 25, "555BBB05", "z"),  # z, new, starts with all three
        _read(5, 30, "777ABA02", "z"),
    ]
    keys = {plan.key(*CELLS[c], "") for c in CELLS}
    assert len(keys) == 3 and not any(set(plan.replica_keys(*CELLS[c])) & keys for c in CELLS)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(d) for d in docs) + b"\n")

    expected = embedded([root], events.read_bytes().splitlines())
    got, stages = run_file([root], events, partitioning="spatial")
    assert not stages
    found = Counter((u.labels["plate"], u.labels["camera"]) for u in got if u.version == 1)
    assert found == {
        ("777ABA02", "anpr-x"): 1,
        ("123KZA01", "anpr-y"): 1,
        ("555BBB05", "anpr-x"): 1,
        ("555BBB05", "anpr-z"): 1,
        ("777ABA02", "anpr-z"): 1,
    }
    assert same_updates(got, expected) == []
