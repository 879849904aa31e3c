"""Rule tests written inside rule files: given events at relative times, expect incidents (or none)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from rules.compiler import CRule
from rules.core.engine import Correlator, longest_wait
from rules.errors import RuleError, SourceLocation
from rules.loader import RuleSet
from rules.messages import validation_errors
from rules.model import ExpectSpec, TestSpec
from rules.records import record_from_model
from rules.yamlsrc import YamlDoc
from schemas import EVENT_CLASSES, EventBase, Incident, decode_event, fold_latest


@dataclass
class TestResult:
    __test__ = False
    rule_id: str
    name: str
    location: SourceLocation | None
    passed: bool
    problems: list[str] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)


def build_test_events(rule_id: str, test: TestSpec, index: int, doc: YamlDoc) -> list[EventBase]:
    """The test's events as contract events; invalid ones raise RuleError at their place in the file."""
    events, errors = _test_events(rule_id, test, index, doc)
    if errors:
        raise errors[0]
    return events


def test_event_errors(rule_id: str, tests: list[TestSpec], doc: YamlDoc) -> list[RuleError]:
    """Every test event of a rule checked against the contract (lint runs this, not only `rules test`)."""
    return [e for index, test in enumerate(tests) for e in _test_events(rule_id, test, index, doc)[1]]


def _test_events(rule_id: str, test: TestSpec, index: int, doc: YamlDoc) -> tuple[list[EventBase], list[RuleError]]:
    events: list[EventBase] = []
    errors: list[RuleError] = []
    try:
        start = datetime.fromisoformat(test.start.replace("Z", "+00:00"))
        if start.tzinfo is None:
            raise ValueError("no offset")
    except ValueError:
        where = doc.location(("tests", index, "start"))
        message = f"test '{test.name}': `start` must be a time like 2026-01-05T12:00:00Z, got {test.start!r}"
        return events, [RuleError(message, where, rule_id)]
    for i, ev in enumerate(test.events):
        body: dict[str, Any] = {
            "id": ev.id or f"test-{index}-{i}",
            "type": ev.type,
            "source": ev.source or "rule-test",
            "time": (start + timedelta(seconds=ev.at)).isoformat(),
            "data": ev.data,
        }
        if ev.location is not None:
            loc = ev.location
            body["location"] = {"lat": loc[0], "lon": loc[1]} if isinstance(loc, list) else loc
        if ev.deleted is not None:
            body["deleted"] = ev.deleted
        path = ("tests", index, "events", i)
        try:
            events.append(decode_event(orjson.dumps(body)))
        except ValidationError as exc:
            sub = _subdoc(doc, path)
            model = EVENT_CLASSES.get(ev.type)
            errs = validation_errors(exc, sub, rule_id, model) or [
                RuleError("invalid test event", doc.location(path), rule_id)
            ]
            for err in errs:
                errors.append(RuleError(f"test '{test.name}' event {i + 1}: {err.message}", err.location, rule_id))
    return events, errors


def _subdoc(doc: YamlDoc, prefix: tuple[str | int, ...]) -> YamlDoc:
    """A view of the YAML document rooted at `prefix` (the test event), for error positions."""
    value: Any = doc.value
    for p in prefix:
        value = value[p]
    sub = YamlDoc(file=doc.file, text=doc.text, value=value)
    n = len(prefix)
    sub.values = {k[n:]: v for k, v in doc.values.items() if k[:n] == prefix}
    sub.keys = {k[n:]: v for k, v in doc.keys.items() if k[:n] == prefix}
    return sub


def run_rule_tests(ruleset: RuleSet, rule_ids: set[str] | None = None) -> list[TestResult]:
    results = []
    for rule in ruleset.rules:
        if rule_ids is not None and rule.id not in rule_ids:
            continue
        doc = ruleset.docs[rule.id]
        for index, test in enumerate(rule.spec.tests):
            results.append(_run_one(ruleset, rule, test, index, doc))
    return results


def _run_one(ruleset: RuleSet, rule: CRule, test: TestSpec, index: int, doc: YamlDoc) -> TestResult:
    location = doc.location(("tests", index))
    result = TestResult(rule.id, test.name, location, passed=False)
    try:
        events = build_test_events(rule.id, test, index, doc)
    except RuleError as exc:
        result.problems.append(str(exc))
        return result
    ruleset.reference.reset()
    core = Correlator(ruleset.subset(rule.id), internal=True)
    ooo = ruleset.settings.max_out_of_orderness
    updates: list[Incident] = []
    high = float("-inf")
    for ev in events:
        record = record_from_model(ev)
        ts = ev.time.timestamp()
        if ts > high:
            high = ts
            updates.extend(core.on_watermark(high - ooo))
        updates.extend(core.on_event(record))
    until = test.until if test.until is not None else longest_wait(rule) + rule.lateness + 1.0
    if events:
        updates.extend(core.on_watermark(high + until))
    latest: dict[str, Incident] = {}
    for u in updates:
        fold_latest(latest, u)
    mine = [i for i in latest.values() if i.rule_id == rule.id]
    result.incidents = mine
    if test.expect == "none":
        if mine:
            result.problems.append(f"expected no incident, got {len(mine)}: " + "; ".join(_describe(i) for i in mine))
    else:
        for n, exp in enumerate(test.expect):
            pool = [i for i in latest.values() if i.rule_id == (exp.rule or rule.id)]
            hits = [i for i in pool if _matches(i, exp)]
            if len(hits) != exp.count:
                seen = "; ".join(_describe(i) for i in pool) or "none"
                result.problems.append(
                    f"expectation {n + 1}: wanted {exp.count} incident(s) like {_wanted(exp)}, "
                    f"got {len(hits)} (incidents: {seen})"
                )
    result.passed = not result.problems
    return result


def _matches(inc: Incident, exp: ExpectSpec) -> bool:
    return (
        (exp.category is None or inc.category == exp.category)
        and (exp.priority is None or inc.priority == exp.priority)
        and (exp.status is None or inc.status == exp.status)
        and (exp.key is None or inc.key == exp.key)
        and (exp.title_contains is None or exp.title_contains in inc.title)
        and (exp.events is None or inc.event_count == exp.events)
        and all(inc.labels.get(k) == v for k, v in exp.labels.items())
    )


def _wanted(exp: ExpectSpec) -> str:
    fields = exp.model_dump(exclude_defaults=True, exclude={"count"})
    return orjson.dumps(fields).decode() if fields else "{}"


def _describe(inc: Incident) -> str:
    return f"{inc.rule_id} p{inc.priority} {inc.status} key={inc.key!r} events={inc.event_count} '{inc.title}'"
