"""Golden scenarios: input events and the incidents any runtime must produce from them.

Each scenario directory holds events.jsonl (raw lines, bad ones included) and expected.json. The
expectations are written by hand from the rules' meaning, not recorded from a run. Every runtime (the
embedded runner, Faust, Flink) runs the same scenarios through `check`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas import Incident, fold_latest

ROOT = Path(__file__).parent / "scenarios"
CATALOG = Path(__file__).resolve().parents[2] / "rules" / "catalog"


@dataclass(frozen=True)
class Scenario:
    name: str
    lines: list[bytes]
    expected: dict[str, Any]


def scenarios() -> list[Scenario]:
    out = []
    for d in sorted(p for p in ROOT.iterdir() if p.is_dir()):
        lines = [line for line in (d / "events.jsonl").read_bytes().splitlines() if line.strip()]
        out.append(Scenario(d.name, lines, json.loads((d / "expected.json").read_text())))
    return out


def _fits(inc: Incident, exp: dict[str, Any], versions: int) -> bool:
    return (
        inc.rule_id == exp["rule_id"]
        and ("status" not in exp or inc.status == exp["status"])
        and ("priority" not in exp or inc.priority == exp["priority"])
        and ("key" not in exp or inc.key == exp["key"])
        and ("event_ids" not in exp or sorted(inc.event_ids) == sorted(exp["event_ids"]))
        and ("event_count" not in exp or inc.event_count == exp["event_count"])
        and ("versions" not in exp or versions == exp["versions"])
    )


def check(scenario: Scenario, updates: Iterable[Incident], dead_letters: Counter[str]) -> list[str]:
    """Problems (empty when the runtime's output matches): every expected incident exactly once, no others."""
    latest: dict[str, Incident] = {}
    versions: Counter[str] = Counter()
    for u in updates:
        versions[u.id] += 1
        fold_latest(latest, u)
    remaining = list(latest.values())
    problems = []
    for exp in scenario.expected["incidents"]:
        hit = next((i for i in remaining if _fits(i, exp, versions[i.id])), None)
        if hit is None:
            problems.append(f"missing {exp}")
        else:
            remaining.remove(hit)
    for inc in remaining:
        problems.append(f"unexpected {inc.rule_id} p{inc.priority} {inc.status} events={inc.event_ids}")
    if dict(dead_letters) != scenario.expected.get("dead_letters", {}):
        problems.append(f"dead letters {dict(dead_letters)} != {scenario.expected.get('dead_letters', {})}")
    return problems
