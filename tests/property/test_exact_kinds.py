"""Every kind, exactly: the embedded runner against the brute-force reference of docs/semantics.md
(tests/property/reference.py) on dense random streams (tests/property/strategies.py).

For each generated case:
* sorted input (canonical order): every version the engine sends equals the reference's, version numbers
  included (section 5);
* one more arrival order drawn from: equal times shuffled, shuffled within max_out_of_orderness, with
  duplicates anywhere: what a consumer keeps (the highest version per id, retracted ids dropped) equals the
  reference's final incidents (section 7), version numbers not compared.

Engine mismatches are failures, never xfails: the engine must implement docs/semantics.md. The `slow`
variants run many more examples (`pytest -m slow tests/property/test_exact_kinds.py`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from rules.loader import RuleSet, load_rules
from schemas import DeadLetter, Incident
from streams.dlq import MemoryDeadLetters
from streams.embedded import EmbeddedRunner
from tests.property.reference import (
    Result,
    consumer_view,
    diff_final,
    diff_histories,
    histories,
    records_from_lines,
    run_reference,
)
from tests.property.strategies import (
    LAT0,
    LON0,
    T0,
    Arrival,
    Case,
    Event,
    absence_cases,
    arrival_orders,
    chain_cases,
    cooccur_cases,
    event,
    lookup_cases,
    match_cases,
    sequence_cases,
    threshold_cases,
    time_key,
)
from tests.support import TEST_SCALE

FAST = settings(
    max_examples=25,
    deadline=None,
    # `make test` (a reduced scale) is a gate: the same examples every run; `make test-full` searches afresh
    derandomize=TEST_SCALE < 1,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],  # no "explain": slow
)
SLOW = settings(FAST, max_examples=400)


# --- the harness (test_exact_catalog.py uses it too) ---------------------------------------------------------


@lru_cache(maxsize=512)
def rules_dir(settings_text: str, rules: tuple[str, ...]) -> Path:
    """A rules directory with these texts, written once per distinct case."""
    d = Path(tempfile.mkdtemp(prefix="exact-")) / "rules"
    d.mkdir()
    (d / "ruleset.yaml").write_text(settings_text)
    for i, text in enumerate(rules):
        (d / f"rule{i}.yaml").write_text(text)
    return d


def load(case: Case) -> RuleSet:
    """A freshly loaded rule set: the engine keeps the hotlist and zones in it, so never share one."""
    return load_rules([rules_dir(case.settings, case.rules)])


def run_engine(ruleset: RuleSet, lines: Sequence[bytes]) -> tuple[list[Incident], list[DeadLetter]]:
    """The embedded runner over the lines: every update it sends, and its dead letters."""
    dead = MemoryDeadLetters()
    updates: list[Incident] = []
    EmbeddedRunner(ruleset, dead).run(lines, updates.append)
    return updates, dead.letters


def unexpected_letters(letters: Sequence[DeadLetter], copies: set[str]) -> list[str]:
    """Dead letters other than those of delivered copies: none of the generated events is late or bad."""
    out = []
    for letter in letters:
        eid = letter.event_id
        if eid is None:
            try:
                eid = orjson.loads(letter.original).get("id")
            except orjson.JSONDecodeError:
                eid = None
        if eid not in copies:
            out.append(f"{letter.stage} {eid}: {letter.reason}")
    return out


def reference_of(case: Case, ruleset: RuleSet) -> Result:
    return run_reference(ruleset, records_from_lines(case.lines()))


def check_sorted(case: Case) -> Result:
    """Sorted input: the engine's versions are the reference's, one for one. Returns the reference."""
    ruleset = load(case)
    expected = reference_of(case, ruleset)  # before the engine fills the same rule set's hotlist
    updates, letters = run_engine(ruleset, case.lines())
    problems = unexpected_letters(letters, set())
    problems += diff_histories(expected.versions, histories(updates))
    assert not problems, "sorted input:\n" + "\n".join(problems)
    return expected


def check_order(case: Case, expected: Result, arrival: Arrival) -> None:
    """Another arrival order: what a consumer keeps is the reference's final incidents."""
    updates, letters = run_engine(load(case), case.lines(arrival.events))
    problems = unexpected_letters(letters, arrival.copies)
    problems += diff_final(expected.final, consumer_view(updates))
    assert not problems, (
        f"{arrival.how}: "
        + "\n".join(problems)
        + "\narrival order: "
        + " ".join(f"{e['id']}@{e['time'][11:19]}" for e in arrival.events)
    )


def check(case: Case, data: st.DataObject) -> None:
    expected = check_sorted(case)
    check_order(case, expected, data.draw(arrival_orders(case.canonical(), case.bound), label="arrival"))


# --- one test per kind ---------------------------------------------------------------------------------------


@FAST
@given(case=match_cases(), data=st.data())
def test_match(case: Case, data: st.DataObject) -> None:
    check(case, data)


@FAST
@given(case=lookup_cases(), data=st.data())
def test_lookup(case: Case, data: st.DataObject) -> None:
    check(case, data)


@FAST
@given(case=threshold_cases(), data=st.data())
def test_threshold(case: Case, data: st.DataObject) -> None:
    check(case, data)


@FAST
@given(case=cooccur_cases(), data=st.data())
def test_cooccur(case: Case, data: st.DataObject) -> None:
    check(case, data)


@FAST
@given(case=cooccur_cases(overlap=True), data=st.data())
def test_cooccur_overlapping_selections(case: Case, data: st.DataObject) -> None:
    check(case, data)


@FAST
@given(case=cooccur_cases(cross=True), data=st.data())
def test_cooccur_with_cross_condition(case: Case, data: st.DataObject) -> None:
    check(case, data)


@FAST
@given(case=sequence_cases(), data=st.data())
def test_sequence(case: Case, data: st.DataObject) -> None:
    check(case, data)


@FAST
@given(case=sequence_cases(cross=True), data=st.data())
def test_sequence_with_cross_condition(case: Case, data: st.DataObject) -> None:
    check(case, data)


@FAST
@given(case=absence_cases(), data=st.data())
def test_absence(case: Case, data: st.DataObject) -> None:
    check(case, data)


@FAST
@given(case=chain_cases(), data=st.data())
def test_chain(case: Case, data: st.DataObject) -> None:
    check(case, data)


@st.composite
def with_dispatch_and_units(draw: st.DrawFn, cases: st.SearchStrategy[Case]) -> Case:
    """A case plus dispatcher closes and units on scene naming the incidents the case raises (section 5)."""
    case = draw(cases)
    ids = sorted(reference_of(case, load(case)).final)
    if not ids:
        return case
    times = sorted({_seconds(e) for e in case.events})
    extra: list[Event] = []
    for n in range(draw(st.integers(1, 4))):
        inc_id = draw(st.sampled_from(ids))
        at = draw(st.sampled_from(times)) + draw(st.sampled_from([0, 0, 1, 5, 30]))
        if draw(st.booleans()):
            extra.append(event(f"act-{n}", "dispatch.action", at, {"incident_id": inc_id, "action": "close"}))
        else:
            unit = {"unit_id": draw(st.sampled_from(["u1", "u2"])), "unit_type": "police", "status": "on_scene"}
            extra.append(event(f"act-{n}", "unit.gps", at, unit | {"assigned_incident": inc_id}, (LAT0, LON0)))
    return replace(case, name=case.name + "+dispatch", events=case.events + tuple(extra))


def _seconds(ev: Event) -> float:
    return (time_key(ev)[0] - T0).total_seconds()


@FAST
@given(case=with_dispatch_and_units(st.one_of(match_cases(), chain_cases())), data=st.data())
def test_dispatch_close_and_unit_arrivals(case: Case, data: st.DataObject) -> None:
    check(case, data)


# --- the same with many more examples ------------------------------------------------------------------------

KINDS = {
    "match": match_cases(),
    "lookup": lookup_cases(),
    "threshold": threshold_cases(),
    "cooccur": cooccur_cases(),
    "cooccur-overlap": cooccur_cases(overlap=True),
    "cooccur-where": cooccur_cases(cross=True),
    "sequence": sequence_cases(),
    "sequence-where": sequence_cases(cross=True),
    "absence": absence_cases(),
    "chain": chain_cases(),
    "dispatch": with_dispatch_and_units(st.one_of(match_cases(), chain_cases())),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(KINDS))
def test_kind_many_examples(kind: str) -> None:
    @SLOW
    @given(case=KINDS[kind], data=st.data())
    def run(case: Case, data: st.DataObject) -> None:
        check(case, data)

    run()
