"""The expressions of a rule file whose structure is wrong, checked anyway: lint reports every error of a file
in one run, so a misspelt key must not hide a misspelt field in a condition three lines below.

Works on the raw YAML data (the spec did not validate): every expression that stands where the rule language
expects one is compiled in the best scope that can be known (a selection's event type when its `type` is
right), and errors are reported at their token. Nothing here builds a rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rules.errors import RuleError, RuleErrors
from rules.expr import ExprEnv, Scope, compile_expr, compile_template
from rules.messages import did_you_mean
from rules.yamlsrc import Path, YamlDoc
from schemas import EVENT_CLASSES, HotlistEntry


def salvage_expressions(doc: YamlDoc, env: ExprEnv, rule_id: str | None, taken: set[str]) -> list[RuleError]:
    """Errors of the expressions of `doc` (a rule file that failed validation). `taken`: locations that
    already have an error (from validation), so that one problem is not told twice."""
    raw = doc.value
    if not isinstance(raw, dict):
        return []
    out: list[RuleError] = []

    def keep(fn: Callable[[], Any]) -> None:
        try:
            fn()
        except RuleError as exc:
            for each in exc.errors if isinstance(exc, RuleErrors) else [exc]:
                if str(each.location) not in taken:
                    each.rule_id = each.rule_id or rule_id
                    out.append(each)

    def text_at(path: Path) -> str | None:
        value: Any = raw
        for part in path:
            in_map = isinstance(value, dict) and part in value
            if not (in_map or (isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value))):
                return None
            value = value[part]
        return value if isinstance(value, str) and value.strip() else None

    unknown: list[str] = []  # selections whose type is wrong: what reads them cannot be checked

    def readable(text: str, scope: Scope) -> bool:
        return scope.kind == "event" or not any(re.search(rf"\b{re.escape(n)}\b", text) for n in unknown)

    def expr(path: Path, scope: Scope, expect: type | None = None) -> None:
        text = text_at(path)
        if text is not None and readable(text, scope):
            keep(lambda: compile_expr(text, scope, origin=doc.text_origin(path), env=env, expect=expect))

    def template(path: Path, scope: Scope) -> None:
        text = text_at(path)
        if text is not None and readable(text, scope):
            keep(lambda: compile_template(text, scope, origin=doc.text_origin(path), env=env))

    # selections: the event type of each, where it is right
    classes: dict[str, Any] = {}
    select = raw.get("select")
    for name, sel in (select or {}).items() if isinstance(select, dict) else ():
        if not isinstance(sel, dict) or not isinstance(sel.get("type"), str):
            unknown.append(str(name))
            continue
        cls = EVENT_CLASSES.get(sel["type"])
        if cls is None:
            unknown.append(str(name))
            where = doc.location(("select", name, "type"))
            if str(where) not in taken:
                message = f"unknown event type '{sel['type']}'" + did_you_mean(sel["type"], list(EVENT_CLASSES))
                out.append(RuleError(message, where, rule_id))
            continue
        classes[str(name)] = cls
        expr(("select", name, "where"), Scope.event(cls), bool)

    corr = raw.get("correlate") if isinstance(raw.get("correlate"), dict) else {}
    assert isinstance(corr, dict)
    group_by = corr.get("group_by")
    for name, cls in classes.items():
        scope = Scope.event(cls)
        if isinstance(group_by, list):
            for i in range(len(group_by)):
                expr(("correlate", "group_by", i), scope)
        elif isinstance(group_by, dict) and isinstance(group_by.get(name), list):
            for i in range(len(group_by[name])):
                expr(("correlate", "group_by", name, i), scope)
        for measure in ("distinct", "sum"):
            expr(("correlate", measure, "of"), scope)
    if classes:
        trigger = corr.get("select") if corr.get("select") in classes else next(iter(classes))
        expr(("correlate", "key"), Scope.event(classes[str(trigger)]))
        expr(("correlate", "where"), Scope.bindings(dict(classes)), bool)

    # the incident: templates and priority terms over the bindings of a match
    bindings: dict[str, Any] = dict(classes)
    bindings.update({"count": int, "distinct": int, "sum": float, "group": str})
    if corr.get("kind") == "lookup":
        as_name = str(corr["as"]) if isinstance(corr.get("as"), str) else "hit"
        bindings.update({as_name: HotlistEntry, "distance": int})
    bscope = Scope.bindings(bindings)
    incident = raw.get("incident") if isinstance(raw.get("incident"), dict) else {}
    assert isinstance(incident, dict)
    for key in ("title", "summary", "key"):
        template(("incident", key), bscope)
    labels = incident.get("labels")
    for label in labels if isinstance(labels, dict) else ():
        template(("incident", "labels", label), bscope)
    priority = incident.get("priority")
    terms = priority.get("terms") if isinstance(priority, dict) else None
    for i in range(len(terms) if isinstance(terms, list) else 0):
        expr(("incident", "priority", "terms", i, "when"), bscope, bool)
    return out
