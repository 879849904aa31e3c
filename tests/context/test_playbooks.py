"""Playbooks: the catalog's response scenarios pass the meaning checks; broken ones are reported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rules.context.playbooks import check_playbooks
from rules.errors import RuleSetError
from rules.loader import load_rules
from tests.context.support import CALL_RULE
from tests.support import CATALOG


def test_the_catalog_playbooks_are_complete() -> None:
    ruleset = load_rules([CATALOG])
    assert check_playbooks(ruleset) == []
    needs = {
        (pb.playbook, str(s.unit_type), s.units) for pb in ruleset.playbooks.values() for s in pb.steps if s.unit_type
    }
    assert ("fire", "fire", 2) in needs


def _load(tmp: Path, playbooks: dict[str, str], rule: str = CALL_RULE) -> object:
    d = tmp / "r"
    (d / "playbooks").mkdir(parents=True)
    (d / "ruleset.yaml").write_text("timezone: UTC\n")
    (d / "rule.yaml").write_text(textwrap.dedent(rule))
    for name, text in playbooks.items():
        (d / "playbooks" / f"{name}.yaml").write_text(textwrap.dedent(text))
    return load_rules([d])


def test_meaning_problems_are_reported(tmp_path: Path) -> None:
    ruleset = _load(
        tmp_path,
        {
            "fire": """
                playbook: fire
                categories: [fire]
                steps:
                  - {action: "send", units: 2}
                  - {action: "send fire", unit_type: fire}
                  - {action: "send police", unit_type: police, units: 1}
            """,
            "other": "playbook: other\ncategories: [fire]\nsteps: [{action: x}]\n",
        },
    )
    text = "\n".join(str(p) for p in check_playbooks(ruleset))  # type: ignore[arg-type]
    assert "step 1 asks for 2 unit(s) of no unit_type" in text
    assert "step 2 names unit_type fire but no units" in text
    assert "step 3 dispatches units but names no agency" in text
    assert "category 'fire' is also covered by 'fire'" in text


def test_schema_errors_fail_loading_with_a_location(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError) as info:
        _load(
            tmp_path,
            {"fire": "playbook: fire\ncategories: [fire]\nsteps:\n  - {action: x, unit_type: tank, units: 1}\n"},
        )
    assert "unit_type" in str(info.value) and "fire.yaml" in str(info.value)
