"""Helpers for the context tests: a one-incident-per-call rule set with playbooks, and a feeding loop."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rules.context import ContextCorrelator
from rules.loader import RuleSet, load_rules
from schemas import Incident
from tests.support import drive

CALL_RULE = """
id: test.every_call
title: Every call
category: fire
select:
  call:
    type: call.112
correlate:
  kind: match
incident:
  title: "Call {call.data.call_id}"
  key: "{call.data.call_id}"
  merge_window: 10m
  priority: {base: 2}
  labels:
    phone: "{call.data.phone}"
  playbook: fire
"""

FIRE_PLAYBOOK = """
playbook: fire
title: Fire
categories: [fire]
steps:
  - {action: "Dispatch fire engines", agency: fire service, unit_type: fire, units: 2}
  - {action: "Dispatch an ambulance", agency: ambulance, unit_type: ambulance, units: 1}
  - {action: "Put the cameras on the wall"}
"""


def call_rules(tmp: Path, rule: str = CALL_RULE) -> RuleSet:
    d = tmp / "ctx-rules"
    (d / "playbooks").mkdir(parents=True, exist_ok=True)
    (d / "ruleset.yaml").write_text("timezone: UTC\n")
    (d / "rule.yaml").write_text(textwrap.dedent(rule))
    (d / "playbooks" / "fire.yaml").write_text(textwrap.dedent(FIRE_PLAYBOOK))
    return load_rules([d])


def feed(core: ContextCorrelator, events: Iterable[Any], ooo: float = 0.0, flush: bool = True) -> list[Incident]:
    """tests.support.drive, for the enriched core (same contract)."""
    return drive(core, events, ooo, flush)  # type: ignore[arg-type]
