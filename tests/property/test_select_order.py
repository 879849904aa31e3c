"""The order of the keys in `select` never changes a result (docs/semantics.md, section 2): the same rule with
its selections declared in another order gives the reference's incidents of the original, on sorted and on
shuffled, duplicated input. Cases where it could matter: two selections that can take the same event
(cooccur with overlapping selections, sequences over one event type) and conditions across the bound
events (correlate.where with distances and durations)."""

from __future__ import annotations

from dataclasses import replace

import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.property.strategies import Case, arrival_orders, cooccur_cases, sequence_cases
from tests.property.test_exact_kinds import FAST, check_order, check_sorted


def permuted(case: Case, data: st.DataObject) -> Case:
    """The case with each rule's `select` keys in a drawn order (a different one whenever there are two)."""
    texts = []
    for text in case.rules:
        doc = yaml.safe_load(text)
        names = list(doc["select"])
        order = data.draw(st.permutations(names).filter(names.__ne__), label="select order")
        doc["select"] = {n: doc["select"][n] for n in order}
        texts.append(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return replace(case, name=case.name + "+select-permuted", rules=tuple(texts))


CASES = st.one_of(
    cooccur_cases(overlap=True),
    cooccur_cases(cross=True),
    sequence_cases(cross=True),
    sequence_cases(),
)


@FAST
@given(case=CASES, data=st.data())
def test_select_order_never_changes_a_result(case: Case, data: st.DataObject) -> None:
    expected = check_sorted(case)
    other = permuted(case, data)
    again = check_sorted(other)  # the engine equals the reference on the permuted rule too
    assert again.final == expected.final, "the reference itself depends on the order of select"
    # the engine on the permuted rule, shuffled and duplicated input, against the original's reference
    check_order(other, expected, data.draw(arrival_orders(other.canonical(), other.bound), label="arrival"))
