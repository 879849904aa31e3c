"""Rule specs compiled into closures and plain tuples the core can run without interpretation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from rules.errors import RuleError, RuleErrors
from rules.expr import CompiledExpr, ExprEnv, Scope, compile_expr, compile_template
from rules.expr.parser import Binary, Lit, Name, Node, parse
from rules.expr.template import split_template
from rules.messages import PLAYBOOK_HINT, did_you_mean
from rules.model import (
    AbsenceSpec,
    CooccurSpec,
    LookupSpec,
    MatchSpec,
    PlaybookSpec,
    RuleSetSettings,
    RuleSpec,
    SequenceSpec,
    ThresholdSpec,
)
from rules.units import format_duration
from rules.yamlsrc import Path, YamlDoc
from schemas import EVENT_CLASSES, HotlistEntry, PlaybookStep

Fn = Callable[[Any], Any]
NO_PLAYBOOK = "none"  # incident.playbook: none, a rule without response steps (said explicitly)


@dataclass(frozen=True, slots=True)
class CSelection:
    name: str
    index: int
    event_type: str
    where: Fn | None
    equalities: tuple[tuple[tuple[str, ...], frozenset[Any]], ...]
    group: tuple[Fn, ...]
    measure: Fn | None = None
    # the group_by texts: selections of one event type with equal texts give an event the same group
    group_texts: tuple[str, ...] = ()


def group_of(sel: CSelection, record: Any) -> str:
    """An event's group under a selection: "" without group_by, else the JSON array of the group_by values,
    so that no two different groups (null, "null", ["a|b"] and ["a", "b"]) ever share a string."""
    if not sel.group:
        return ""
    return orjson.dumps([g(record) for g in sel.group], default=str).decode()


@dataclass(frozen=True, slots=True)
class CWhere:
    """correlate.where: a condition over the bound events of a match, and the selections it names."""

    fn: Fn
    names: frozenset[str]


@dataclass(frozen=True, slots=True)
class CTerm:
    name: str
    delta: int
    when: Fn


@dataclass(frozen=True)
class CRule:
    spec: RuleSpec
    file: str
    selections: tuple[CSelection, ...]
    key_template: Fn | None
    title: Fn
    summary: Fn
    labels: tuple[tuple[str, Fn], ...]
    terms: tuple[CTerm, ...]
    playbook: tuple[PlaybookStep, ...]
    lookup_key: Fn | None
    lateness: float
    late_policy: str
    depends_on: frozenset[str]
    by_name: dict[str, CSelection] = field(default_factory=dict)
    trigger_index: int = 0  # match, lookup, threshold: the selection that makes matches (`select:`)
    match_where: CWhere | None = None
    # a selection of incidents that names no rule: chains on every rule whose incidents are sent (of these
    # categories when not None); depends_on holds them once open_chains() resolved the rule set
    open_chain: bool = False
    chain_categories: frozenset[str] | None = None

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def version(self) -> int:
        return self.spec.version

    @property
    def state_key(self) -> str:
        """State belongs to (rule id, rule version): a new version starts clean, an unchanged one keeps it."""
        return f"{self.spec.id}@{self.spec.version}"

    @property
    def category(self) -> str:
        return self.spec.incident.category or self.spec.category

    def name_order(self, pair: tuple[int, str]) -> str:
        """Sort key of (selection index, group): by selection name, so that the order of the keys in `select`
        never changes a result (docs/semantics.md, section 2)."""
        return self.selections[pair[0]].name


class _Errors:
    def __init__(self, rule_id: str) -> None:
        self.rule_id = rule_id
        self.items: list[RuleError] = []

    def run(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except RuleError as exc:
            for each in exc.errors if isinstance(exc, RuleErrors) else [exc]:
                each.rule_id = each.rule_id or self.rule_id
                self.items.append(each)
            return None


def compile_rule(
    spec: RuleSpec,
    doc: YamlDoc,
    settings: RuleSetSettings,
    playbooks: dict[str, PlaybookSpec],
    env: ExprEnv,
) -> CRule:
    """Compile one validated rule; raises RuleError (the first) after collecting every problem in .errors."""
    errs = _Errors(spec.id)
    corr = spec.correlate

    def expr(text: str, scope: Scope, path: Path, expect: type | None = None) -> CompiledExpr | None:
        result: CompiledExpr | None = errs.run(
            lambda: compile_expr(text, scope, origin=doc.text_origin(path), env=env, expect=expect)
        )
        return result

    def template(text: str, scope: Scope, path: Path) -> Fn:
        result = errs.run(lambda: compile_template(text, scope, origin=doc.text_origin(path), env=env))
        return result.fn if result is not None else (lambda ctx: "")

    # selections -------------------------------------------------------------------------------
    names = list(spec.select)
    depends: set[str] = set()
    open_chain = any_category = False
    chain_categories: frozenset[str] | None = None
    group_exprs = _group_exprs(spec, names, doc, errs)
    selections: list[CSelection] = []
    for index, (name, sel) in enumerate(spec.select.items()):
        cls = EVENT_CLASSES.get(sel.type)
        if cls is None:
            errs.items.append(
                RuleError(
                    f"unknown event type '{sel.type}'" + did_you_mean(sel.type, list(EVENT_CLASSES)),
                    doc.location(("select", name, "type")),
                    spec.id,
                )
            )
            continue
        scope = Scope.event(cls)
        compiled = expr(sel.where, scope, ("select", name, "where"), bool) if sel.where else None
        equalities = compiled.equalities if compiled else ()
        if sel.type == "incident":
            targets = next((vals for path, vals in equalities if path == ("data", "rule_id")), None)
            if targets is None:
                # no rule named: every rule whose incidents are sent (docs/rules.md, chaining), optionally only
                # those of the categories the condition pins; resolved over the whole set by open_chains()
                open_chain = True
                cats = next((vals for path, vals in equalities if path == ("data", "category")), None)
                if cats is not None:
                    chain_categories = (chain_categories or frozenset()) | frozenset(str(c) for c in cats)
                else:
                    any_category = True
            else:
                if spec.id in targets:
                    errs.items.append(
                        RuleError("a rule cannot select its own incidents", doc.location(("select", name)), spec.id)
                    )
                depends.update(str(t) for t in targets)
        group_fns: list[Fn] = []
        for gpath, gtext in group_exprs.get(name, []):
            g = expr(gtext, scope, gpath)
            if g is not None:
                group_fns.append(g.fn)
        measure = None
        if isinstance(corr, ThresholdSpec) and (corr.distinct or corr.sum):
            mtext = corr.distinct.of if corr.distinct else corr.sum.of  # type: ignore[union-attr]
            mkey = "distinct" if corr.distinct else "sum"
            m = expr(mtext, scope, ("correlate", mkey, "of"))
            measure = m.fn if m else None
        selections.append(
            CSelection(
                name=name,
                index=index,
                event_type=sel.type,
                where=compiled.fn if compiled else None,
                equalities=equalities,
                group=tuple(group_fns),
                measure=measure,
                group_texts=(sel.type, *(t for _, t in group_exprs.get(name, []))),
            )
        )
    by_name = {s.name: s for s in selections}
    _check_names(spec, names, doc, errs)

    # lookup key -------------------------------------------------------------------------------
    lookup_key = None
    if isinstance(corr, LookupSpec):
        sel_name = corr.select or names[0]
        if sel_name in by_name:
            k = expr(corr.key, Scope.event(EVENT_CLASSES[by_name[sel_name].event_type]), ("correlate", "key"))
            lookup_key = k.fn if k else None

    # a condition across the bound events (cooccur, sequence) ----------------------------------
    match_where = None
    if corr.where is not None:
        if not isinstance(corr, CooccurSpec | SequenceSpec):
            errs.items.append(
                RuleError(
                    "correlate.where (a condition across the bound events) is for cooccur and sequence rules; "
                    "a condition on one event goes in its selection's where",
                    doc.location(("correlate", "where")),
                    spec.id,
                )
            )
        else:
            wscope = Scope.bindings({s.name: EVENT_CLASSES[s.event_type] for s in selections})
            w = expr(corr.where, wscope, ("correlate", "where"), bool)
            if w is not None:
                match_where = CWhere(w.fn, frozenset(referenced_names(corr.where)) & set(names))

    # incident templates -----------------------------------------------------------------------
    binding_types: dict[str, Any] = {s.name: EVENT_CLASSES[s.event_type] for s in selections}
    binding_types.update({"count": int, "distinct": int, "sum": float, "group": str})
    if isinstance(corr, LookupSpec):
        binding_types[corr.as_] = HotlistEntry
        binding_types["distance"] = int
    bscope = Scope.bindings(binding_types)
    inc = spec.incident
    key_template = template(inc.key, bscope, ("incident", "key")) if inc.key else None
    title = template(inc.title, bscope, ("incident", "title"))
    summary = template(inc.summary, bscope, ("incident", "summary"))
    labels = tuple((k, template(v, bscope, ("incident", "labels", k))) for k, v in inc.labels.items())
    terms: list[CTerm] = []
    for i, term in enumerate(inc.priority.terms):
        c = expr(term.when, bscope, ("incident", "priority", "terms", i, "when"), bool)
        if c is not None:
            terms.append(CTerm(term.name, term.delta, c.fn))
    playbook = _playbook(spec, playbooks, doc, errs)
    _check_limits(spec, doc, errs)

    if errs.items:
        raise _Collected(errs.items)
    return CRule(
        spec=spec,
        file=doc.file,
        selections=tuple(selections),
        key_template=key_template,
        title=title,
        summary=summary,
        labels=labels,
        terms=tuple(terms),
        playbook=playbook,
        lookup_key=lookup_key,
        lateness=spec.time.allowed_lateness if spec.time.allowed_lateness is not None else settings.allowed_lateness,
        late_policy=spec.time.late or settings.late,
        depends_on=frozenset(depends),
        by_name=by_name,
        trigger_index=_trigger_index(corr, names),
        match_where=match_where,
        open_chain=open_chain,
        chain_categories=None if any_category else chain_categories,
    )


def open_chains(rules: list[CRule]) -> list[CRule]:
    """Resolve the rules whose incident selections name no rule (`data.priority <= 2`): each chains on every
    other rule whose incidents are sent (not `emit: false`), of the categories it pins if it pins some, except
    rules that chain on it themselves (so no cycle) and other such open rules."""
    by_id = {r.id: r for r in rules}

    def reaches(rule: CRule, target: str, seen: set[str]) -> bool:
        for dep in rule.depends_on:
            if dep == target or (dep not in seen and dep in by_id and reaches(by_id[dep], target, seen | {dep})):
                return True
        return False

    out = []
    for r in rules:
        if r.open_chain:
            found = {
                o.id
                for o in rules
                if o.id != r.id
                and o.spec.emit
                and not o.open_chain
                and (r.chain_categories is None or o.category in r.chain_categories)
                and not reaches(o, r.id, set())
            }
            r = replace(r, depends_on=r.depends_on | found)
        out.append(r)
    return out


def longest_window(spec: RuleSpec) -> tuple[float, str]:
    """The longest time a match spans (window, timeout, or the steps' gaps together) and where it is written."""
    c = spec.correlate
    if isinstance(c, SequenceSpec):
        return sum(s.max_gap or 0.0 for s in c.steps), "the sum of correlate.steps' max_gap"
    if isinstance(c, AbsenceSpec):
        return c.timeout, "correlate.timeout"
    if isinstance(c, ThresholdSpec | CooccurSpec):
        return c.window, "correlate.window"
    return 0.0, ""


def _check_limits(spec: RuleSpec, doc: YamlDoc, errs: _Errors) -> None:
    """A limit must not silently cut the rule: a state_ttl shorter than its window, or fewer buffered events
    than a threshold needs, would drop state the rule still needs."""
    limits = spec.limits
    span, where = longest_window(spec)
    if limits.state_ttl is not None and limits.state_ttl < span:
        errs.items.append(
            RuleError(
                f"limits.state_ttl {format_duration(limits.state_ttl)} is shorter than {where} "
                f"({format_duration(span)}): state would be dropped while the window still needs it; leave "
                "state_ttl out (it then follows the windows) or make it at least "
                f"{format_duration(span)}",
                doc.location(("limits", "state_ttl")),
                spec.id,
            )
        )
    c = spec.correlate
    need = 0
    if isinstance(c, ThresholdSpec):
        need = c.count or (c.distinct.at_least if c.distinct else 0)
    if need > limits.max_partials:
        errs.items.append(
            RuleError(
                f"limits.max_partials {limits.max_partials} is less than the {need} events the threshold needs: "
                "the rule could never match",
                doc.location(("limits", "max_partials")),
                spec.id,
            )
        )


def _trigger_index(corr: Any, names: list[str]) -> int:
    if isinstance(corr, MatchSpec | ThresholdSpec | LookupSpec) and corr.select in names:
        return names.index(corr.select)
    return 0


def template_names(text: str) -> set[str]:
    """The top-level names a template's placeholders read."""
    found: set[str] = set()
    for piece in split_template(text):
        if piece.expr:
            found |= referenced_names(piece.text)
    return found


def comparison_cap(texts: list[str], name: str) -> int | None:
    """When every use of `name` in these expressions compares it with an integer literal (`count >= 8`), the
    largest such literal + 1: any value at or above it compares the same way, so counting may stop there.
    None when some use needs the exact value; 0 when nothing reads `name`."""
    cap = 0
    exact = False

    def walk(node: Any, parent: Any) -> None:
        nonlocal cap, exact
        if isinstance(node, Name) and node.name == name:
            other = None
            if isinstance(parent, Binary) and parent.op in ("<", "<=", ">", ">=", "==", "!="):
                other = parent.right if parent.left is node else parent.left
            if isinstance(other, Lit) and isinstance(other.value, int) and not isinstance(other.value, bool):
                cap = max(cap, other.value + 1)
            else:
                exact = True
        for child in getattr(node, "__slots__", ()):
            value = getattr(node, child, None)
            if isinstance(value, Node):
                walk(value, node)
            elif isinstance(value, tuple):
                for item in value:
                    if isinstance(item, Node):
                        walk(item, node)

    for text in texts:
        walk(parse(text), None)
    return None if exact else cap


def referenced_names(text: str) -> set[str]:
    """The top-level names an expression reads (selection names, in a bindings scope)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Name):
            found.add(node.name)
        for child in getattr(node, "__slots__", ()):
            value = getattr(node, child, None)
            if isinstance(value, Node):
                walk(value)
            elif isinstance(value, tuple):
                for item in value:
                    if isinstance(item, Node):
                        walk(item)

    walk(parse(text))
    return found


class _Collected(RuleError):
    """All the errors of one rule, raised together."""

    def __init__(self, errors: list[RuleError]):
        self.errors = errors
        super().__init__(errors[0].message, errors[0].location, errors[0].rule_id)


def _group_exprs(spec: RuleSpec, names: list[str], doc: YamlDoc, errs: _Errors) -> dict[str, list[tuple[Path, str]]]:
    group_by = spec.correlate.group_by
    if group_by is None:
        return {}
    if isinstance(group_by, list):
        return {n: [(("correlate", "group_by", i), t) for i, t in enumerate(group_by)] for n in names}
    out: dict[str, list[tuple[Path, str]]] = {}
    sizes = {len(v) for v in group_by.values()}
    if len(sizes) > 1:
        errs.items.append(
            RuleError(
                "every selection's group_by needs the same number of keys",
                doc.location(("correlate", "group_by")),
                spec.id,
            )
        )
    for n in names:
        if n not in group_by:
            errs.items.append(
                RuleError(f"group_by has no key for selection '{n}'", doc.location(("correlate", "group_by")), spec.id)
            )
            continue
        out[n] = [(("correlate", "group_by", n, i), t) for i, t in enumerate(group_by[n])]
    for n in group_by:
        if n not in names:
            errs.items.append(
                RuleError(
                    f"group_by names '{n}', which is not a selection",
                    doc.location(("correlate", "group_by", n), key=True),
                    spec.id,
                )
            )
    return out


def _check_names(spec: RuleSpec, names: list[str], doc: YamlDoc, errs: _Errors) -> None:
    corr = spec.correlate

    def need(name: str | None, path: Path) -> None:
        if name is not None and name not in names:
            errs.items.append(
                RuleError(
                    f"'{name}' is not a selection of this rule (have: {', '.join(names)})", doc.location(path), spec.id
                )
            )

    if isinstance(corr, MatchSpec | ThresholdSpec | LookupSpec):
        need(corr.select, ("correlate", "select"))
        if corr.select is None and len(names) != 1:
            errs.items.append(
                RuleError(
                    f"a {corr.kind} rule with several selections must say which one: select: NAME",
                    doc.location(("correlate",)),
                    spec.id,
                )
            )
    if isinstance(corr, CooccurSpec):
        of = corr.of or names
        for i, n in enumerate(of):
            need(n, ("correlate", "of", i))
        if len(of) < 2:
            errs.items.append(RuleError("cooccur needs at least two selections", doc.location(("correlate",)), spec.id))
        if corr.min is not None and corr.min > len(of):
            errs.items.append(
                RuleError(
                    f"min {corr.min} is more than the {len(of)} selections", doc.location(("correlate", "min")), spec.id
                )
            )
    if isinstance(corr, SequenceSpec):
        for i, step in enumerate(corr.steps):
            need(step.select, ("correlate", "steps", i, "select"))
    if isinstance(corr, AbsenceSpec):
        need(corr.after, ("correlate", "after"))
        need(corr.expect, ("correlate", "expect"))
        if corr.after == corr.expect:
            errs.items.append(
                RuleError(
                    "after and expect must be different selections", doc.location(("correlate", "expect")), spec.id
                )
            )
    need(corr.anchor, ("correlate", "anchor"))
    if corr.anchor is not None and corr.within is None and not isinstance(corr, SequenceSpec):
        errs.items.append(
            RuleError(
                "anchor only means something with within: DISTANCE", doc.location(("correlate", "anchor")), spec.id
            )
        )


def _playbook(
    spec: RuleSpec, playbooks: dict[str, PlaybookSpec], doc: YamlDoc, errs: _Errors
) -> tuple[PlaybookStep, ...]:
    pb = spec.incident.playbook
    if pb == NO_PLAYBOOK:
        return ()  # said explicitly: an analysis rule with no response steps
    if pb is None:
        category = spec.incident.category or spec.category
        found = next((p for p in playbooks.values() if category in p.categories), None)
        if found is None:
            # the choice must be explicit: a rule without steps says so, it never gets none by accident (checked
            # against the playbooks loaded: a rule directory without a playbooks/ folder has nothing to check)
            if playbooks:
                errs.items.append(
                    RuleError(
                        f"no playbook covers category '{category}': name one (playbook: NAME), write the steps, "
                        "or say playbook: none for a rule without response steps",
                        doc.location(("incident",), key=True),
                        spec.id,
                    )
                )
            return ()
        steps = found.steps
    elif isinstance(pb, str):
        if pb not in playbooks:
            errs.items.append(
                RuleError(
                    f"unknown playbook '{pb}'" + (did_you_mean(pb, list(playbooks)) if playbooks else PLAYBOOK_HINT),
                    doc.location(("incident", "playbook")),
                    spec.id,
                )
            )
            return ()
        steps = playbooks[pb].steps
    else:
        steps = pb
    return tuple(PlaybookStep(**s.model_dump()) for s in steps)
