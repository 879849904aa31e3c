"""Playbook checks beyond the schema: what enrichment needs from a response scenario.

The loader already validates playbooks/*.yaml against PlaybookSpec (the same YAML pipeline and located
errors as rules). These checks are about meaning: a unit step must say which unit type and how many
(enrichment recommends units from it), a category should have exactly one playbook, and every rule's
category should be covered so the dispatcher always gets a checklist.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.loader import RuleSet


@dataclass(frozen=True)
class PlaybookProblem:
    playbook: str | None
    message: str

    def __str__(self) -> str:
        return f"playbook {self.playbook}: {self.message}" if self.playbook else self.message


def check_playbooks(ruleset: RuleSet) -> list[PlaybookProblem]:
    problems: list[PlaybookProblem] = []
    owner: dict[str, str] = {}
    for name in sorted(ruleset.playbooks):
        pb = ruleset.playbooks[name]
        for i, step in enumerate(pb.steps, 1):
            if step.units and step.unit_type is None:
                problems.append(PlaybookProblem(name, f"step {i} asks for {step.units} unit(s) of no unit_type"))
            if step.unit_type is not None and step.units is None:  # units: 0 is a conditional step, on request
                problems.append(PlaybookProblem(name, f"step {i} names unit_type {step.unit_type} but no units"))
            if step.unit_type is not None and not step.agency:
                problems.append(PlaybookProblem(name, f"step {i} dispatches units but names no agency to notify"))
        for category in pb.categories:
            if category in owner:
                problems.append(PlaybookProblem(name, f"category '{category}' is also covered by '{owner[category]}'"))
            else:
                owner[category] = name
    for rule in ruleset.rules:
        if not rule.playbook and rule.spec.incident.playbook != "none":  # none: said explicitly (analysis rules)
            problems.append(PlaybookProblem(None, f"rule {rule.id} (category {rule.category}) has no playbook"))
    return problems
