"""Why a rule did or did not fire: replays events through a core holding only that rule (and the rules it
chains on) and records, per event, which selection took it, into which group, and the partial state after.

Pure like the core: events in, a report out. `saqshy rules explain` renders it for people.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from rules.compiler import CRule, group_of
from rules.core.engine import Correlator, incident_event_record
from rules.core.rule import RuleRuntime
from rules.loader import RuleSet
from rules.units import format_duration
from schemas import Incident, fold_latest

MAX_SAMPLES = 3


@dataclass
class SelectionStats:
    name: str
    event_type: str
    where: str | None
    candidates: int = 0  # events of the selection's type
    selected: int = 0  # ... whose condition held
    late: int = 0
    rejected_samples: list[str] = field(default_factory=list)


@dataclass
class Step:
    """One selected event and what the rule's state looked like right after it."""

    time: str
    event_id: str
    selection: str
    group: str
    state: str
    incidents: list[str] = field(default_factory=list)


@dataclass
class ExplainReport:
    rule_id: str
    kind: str
    selections: list[SelectionStats]
    steps: list[Step]
    incidents: dict[str, Incident]
    open_partials: list[str]
    reasons: list[str]
    events: int = 0
    steps_dropped: int = 0
    # the rule's state limits in force (a state_ttl left out follows the windows) and what each evicted
    limits: dict[str, str] = field(default_factory=dict)
    evictions: dict[str, int] = field(default_factory=dict)


def describe_group(rt: RuleRuntime, group: str) -> str:
    """A one-line summary of a rule's buffered state for one group key."""
    return rt.describe(group)


def explain(ruleset: RuleSet, rule_id: str, records: Iterable[Any], max_steps: int = 200) -> ExplainReport:
    target = ruleset.rule(rule_id)
    ruleset.reference.reset()
    core = Correlator(ruleset.subset(rule_id), internal=True)
    rt = core.runtimes[target.state_key]
    stats = [SelectionStats(s.name, s.event_type, target.spec.select[s.name].where) for s in target.selections]
    steps: list[Step] = []
    incidents: dict[str, Incident] = {}
    ooo = ruleset.settings.max_out_of_orderness
    high = float("-inf")
    events = dropped = 0

    chained = [(sel, st) for sel, st in zip(target.selections, stats, strict=True) if sel.event_type == "incident"]

    def collect(updates: list[Incident]) -> list[str]:
        nonlocal dropped
        mine = [u for u in updates if u.rule_id == rule_id]
        for u in mine:
            fold_latest(incidents, u)
        if chained:
            # a rule over incidents takes the versions of the rules it chains on, which the core makes itself:
            # they are its candidates (not the input's events), counted as the core routes them
            for u in updates:
                if u.rule_id in target.depends_on:
                    record = incident_event_record(u)
                    for sel, st in chained:
                        st.candidates += 1
                        if sel.where is None or sel.where(record):
                            st.selected += 1
                            if len(steps) >= max_steps:
                                dropped += 1
                                continue
                            when = u.updated_time.isoformat()
                            steps.append(Step(when, record.id, sel.name, group_of(sel, record), "(chained input)"))
                        elif len(st.rejected_samples) < MAX_SAMPLES:
                            st.rejected_samples.append(record.id)
        return [f"{u.id} v{u.version} {u.status} p{u.priority}" for u in mine]

    for rec in records:
        events += 1
        ts = rec.time.timestamp()
        if ts > high:
            high = ts
            made = collect(core.on_watermark(high - ooo))
            if made and len(steps) < max_steps:
                # a timer fired (absence deadline, incident closing): time passing did it, not an event
                when = datetime.fromtimestamp(high - ooo, tz=UTC).isoformat()
                steps.append(Step(when, "-", "(watermark)", "", "timers due", made))
        selected: list[tuple[str, str]] = []
        for sel, st in zip(target.selections, stats, strict=True):
            if rec.type != sel.event_type:
                continue
            st.candidates += 1
            if sel.where is None or sel.where(rec):
                st.selected += 1
                group = group_of(sel, rec)
                selected.append((sel.name, group))
            elif len(st.rejected_samples) < MAX_SAMPLES:
                st.rejected_samples.append(rec.id)
        made = collect(core.on_event(rec))
        for drop in core.take_late():
            if rule_id in drop.rule_ids:
                for name, _ in selected:
                    next(s for s in stats if s.name == name).late += 1
        for name, group in selected:
            if len(steps) >= max_steps:
                dropped += 1
                continue
            steps.append(Step(rec.time.isoformat(), rec.id, name, group, describe_group(rt, group), made))
            made = []
        if made and len(steps) < max_steps:  # raised through a chained rule's incident, not a selection here
            steps.append(Step(rec.time.isoformat(), rec.id, "(chained)", "", "", made))
    open_partials = [f"group '{g}': {describe_group(rt, g)}" for g in list(rt.groups)[:20]]
    collect(core.on_watermark(float("inf")))
    report = ExplainReport(
        rule_id, target.spec.correlate.kind, stats, steps, incidents, open_partials, [], events, dropped
    )
    report.limits = effective_limits(rt)
    report.evictions = core.evictions().get(rule_id, {})
    report.reasons = _reasons(target, report)
    if report.evictions:
        counts = ", ".join(f"{n} by limits.{k}" for k, n in report.evictions.items())
        report.reasons.append(f"state limits evicted state ({counts}): matches may be missing; raise the limit")
    return report


def effective_limits(rt: RuleRuntime) -> dict[str, str]:
    """The limits a rule runs with, in words; a state_ttl left out is what the windows keep (docs/rules.md)."""
    lim = rt.rule.spec.limits
    kept = rt.kind.lookback() + 2 * rt.accept if rt.kind.stateful else 0.0
    ttl = (
        format_duration(lim.state_ttl)
        if lim.state_ttl is not None
        else f"{format_duration(kept)} (derived: the longest window + twice the accepted lateness)"
    )
    return {
        "max_partials": str(lim.max_partials),
        "max_keys": str(lim.max_keys),
        "state_ttl": ttl,
        "max_event_ids": str(lim.max_event_ids),
    }


def _reasons(rule: CRule, report: ExplainReport) -> list[str]:
    """Plain-language hints for the usual ways a rule stays silent."""
    if report.incidents:
        return [f"fired: {len(report.incidents)} incident(s)"]
    out = []
    for st in report.selections:
        if st.candidates == 0 and st.event_type == "incident":
            deps = ", ".join(sorted(rule.depends_on)) or "none"
            out.append(f"selection '{st.name}': the rules it chains on ({deps}) made no incident on this input")
        elif st.candidates == 0:
            out.append(f"selection '{st.name}': no '{st.event_type}' event in the input")
        elif st.selected == 0:
            out.append(
                f"selection '{st.name}': {st.candidates} '{st.event_type}' event(s), but the condition was never "
                f"true: {st.where} (e.g. {', '.join(st.rejected_samples)})"
            )
        elif st.late:
            out.append(f"selection '{st.name}': {st.late} selected event(s) arrived too late and were dropped")
    corr = rule.spec.correlate
    if not out:
        if corr.kind == "threshold":
            out.append("every selection saw events, but never enough inside one window (and radius) at once")
        elif corr.kind in ("cooccur", "sequence"):
            out.append("every selection saw events, but never together inside the window, the radius and the group")
        elif corr.kind == "absence":
            out.append("every 'after' event was followed by an expected event in time")
        elif corr.kind == "lookup":
            out.append("no selected event's key was on the reference table at its time")
        if corr.within is not None:
            out.append(f"(events must be within {corr.within:g} m of the anchor)")
        if corr.inside is not None:
            out.append(f"(the anchor event must be inside a zone '{corr.inside}')")
    return out


def report_json(report: ExplainReport) -> dict[str, Any]:
    """The report as one JSON document (`saqshy rules explain --json`): plain values, incidents as the contract
    serialises them."""
    return {
        "rule_id": report.rule_id,
        "kind": report.kind,
        "events": report.events,
        "selections": [asdict(s) for s in report.selections],
        "steps": [asdict(s) for s in report.steps],
        "steps_dropped": report.steps_dropped,
        "incidents": [inc.model_dump(mode="json") for inc in report.incidents.values()],
        "open_partials": report.open_partials,
        "limits": report.limits,
        "evictions": report.evictions,
        "verdict": report.reasons,
    }
