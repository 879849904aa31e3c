"""The golden scenarios from a file on the local mini-cluster give exactly the embedded runner's incidents."""

from __future__ import annotations

import pytest

from tests.flink.helpers import run_file
from tests.golden.harness import CATALOG, ROOT, check, scenarios

pytestmark = pytest.mark.slow


def test_golden_scenarios_from_files_on_flink() -> None:
    problems = {}
    for scenario in scenarios():
        updates, stages = run_file([CATALOG], ROOT / scenario.name / "events.jsonl")
        found = check(scenario, updates, stages)
        if len({(u.id, u.version) for u in updates}) != len(updates):
            found.append("an incident version was emitted twice")
        if found:
            problems[scenario.name] = found
    assert problems == {}, "\n".join(f"{k}: {p}" for k, v in problems.items() for p in v)
