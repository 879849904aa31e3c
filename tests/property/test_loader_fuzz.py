"""Fuzzing the rule loader: malformed files never crash it; every problem is a RuleError with a place."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.errors import RuleError, RuleSetError
from rules.loader import load_rules

CATALOG = Path(__file__).resolve().parents[2] / "rules" / "catalog"
SOURCES = sorted(
    p.read_text() for p in CATALOG.rglob("*.yaml") if "playbooks" not in p.parts and p.name != "ruleset.yaml"
)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load(text: str) -> None:
    d = Path(tempfile.mkdtemp())
    (d / "r.yaml").write_text(text, encoding="utf-8")
    try:
        load_rules([d])
    except RuleSetError as exc:
        assert exc.errors
        for err in exc.errors:
            assert isinstance(err, RuleError) and err.message
            assert err.location is not None and err.location.line >= 1 and err.location.col >= 1


@FUZZ
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    _load(text)


@FUZZ
@given(
    source=st.sampled_from(SOURCES),
    cut=st.integers(0, 4000),
    junk=st.sampled_from(
        ["", ":", "- ", "{", "]", "'", '"', "\t", "&x", "*y", "!!python/object:os.system", "\x00", "é"]
    ),
)
def test_truncated_and_corrupted_rules(source: str, cut: int, junk: str) -> None:
    _load(source[: cut % (len(source) + 1)] + junk + source[cut % (len(source) + 1) :])


@FUZZ
@given(source=st.sampled_from(SOURCES), data=st.data())
def test_mutated_expressions(source: str, data: st.DataObject) -> None:
    """Change one character inside a `where:` condition: either it still compiles or it is located."""
    lines = source.splitlines()
    idx = [i for i, line in enumerate(lines) if "where:" in line and len(line.split("where:", 1)[1].strip()) > 2]
    if not idx:
        return
    i = data.draw(st.sampled_from(idx))
    head, expr = lines[i].split("where:", 1)
    pos = data.draw(st.integers(0, len(expr) - 1))
    ch = data.draw(st.sampled_from(list("()[]=!&|<>\"'.,+-*/% abc019_")))
    lines[i] = head + "where:" + expr[:pos] + ch + expr[pos + 1 :]
    _load("\n".join(lines) + "\n")
