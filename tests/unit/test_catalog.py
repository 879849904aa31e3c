"""The shipped catalog: loads cleanly, covers the seed scenarios, and every rule's own tests pass."""

from __future__ import annotations

import pytest

from rules.loader import load_rules
from rules.testing import TestResult, run_rule_tests
from tests.support import CATALOG

SEED_SCENARIOS = {
    "fire.camera_and_call",
    "calls.mass_incident",
    "traffic.accident_confirmed",
    "anpr.wanted_vehicle",
    "anpr.wanted_route",
    "sos.no_unit_on_scene",
    "video.abandoned_object_crowded",
    "video.night_intrusion_critical",
    "calls.repeat_phone",
    "calls.repeat_address",
    "video.tamper_near_incident",
    "dispatch.unacknowledged",
}
RULESET = load_rules([CATALOG])
RESULTS = run_rule_tests(RULESET)


def test_catalog_size_and_coverage() -> None:
    ids = {r.id for r in RULESET.rules}
    assert len(ids) >= 15
    assert ids >= SEED_SCENARIOS
    kinds = {r.spec.correlate.kind for r in RULESET.rules}
    assert kinds == {"match", "threshold", "cooccur", "sequence", "absence", "lookup"}
    assert any(r.depends_on for r in RULESET.rules), "at least one chained rule"


def test_every_rule_has_a_positive_and_a_negative_test() -> None:
    for rule in RULESET.rules:
        expects = [t.expect for t in rule.spec.tests]
        assert any(e != "none" for e in expects), f"{rule.id} has no test expecting an incident"
        assert any(e == "none" for e in expects), f"{rule.id} has no test expecting none"


def test_every_incident_has_a_playbook() -> None:
    for rule in RULESET.rules:  # or says explicitly that it has none (an analysis rule)
        assert rule.playbook or rule.spec.incident.playbook == "none", f"{rule.id} has no playbook steps"


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: f"{r.rule_id}: {r.name}")
def test_rule_file_test(result: TestResult) -> None:
    assert result.passed, "\n".join(result.problems)
