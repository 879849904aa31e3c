"""The golden scenarios from a file on the local mini-cluster give exactly the embedded runner's incidents,
enriched with the same (default) context."""

from __future__ import annotations

import pytest

from tests.flink.helpers import embedded, run_file, same_updates
from tests.golden.harness import CATALOG, ROOT, check, scenarios

pytestmark = pytest.mark.slow


def test_golden_scenarios_from_files_on_flink() -> None:
    problems = {}
    for scenario in scenarios():
        updates, stages = run_file([CATALOG], ROOT / scenario.name / "events.jsonl")
        found = check(scenario, updates, stages) + same_updates(updates, embedded([CATALOG], scenario.lines))
        if found:
            problems[scenario.name] = found
    assert problems == {}, "\n".join(f"{k}: {p}" for k, v in problems.items() for p in v)
