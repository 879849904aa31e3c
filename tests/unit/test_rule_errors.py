"""Every way a rule file can be wrong is reported with file:line:col, all at once, and nothing loads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rules.errors import RuleSetError
from rules.loader import lint, load_rules

GOOD = """\
id: t.good
title: good
category: fire
select:
  fire:
    type: video.detection
    where: data.analytic == "fire"
correlate:
  kind: match
incident:
  title: "fire at {fire.data.camera_id}"
  priority: 2
  playbook: none
"""


def _pos(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based line and column of the `occurrence`-th `needle` in text."""
    idx = -1
    for _ in range(occurrence):
        idx = text.index(needle, idx + 1)
    line = text.count("\n", 0, idx) + 1
    col = idx - (text.rfind("\n", 0, idx) + 1) + 1
    return line, col


def _errors(tmp_path: Path, text: str, name: str = "r.yaml") -> list[str]:
    d = tmp_path / "rules"
    d.mkdir(exist_ok=True)
    (d / name).write_text(textwrap.dedent(text))
    return [str(e) for e in lint([d])]


def _located(errors: list[str], text: str, needle: str, fragment: str, occurrence: int = 1) -> None:
    line, col = _pos(textwrap.dedent(text), needle, occurrence)
    hits = [e for e in errors if f":{line}:{col}:" in e and fragment in e]
    assert hits, f"no error at {line}:{col} with {fragment!r} in {errors}"


def test_good_rule_loads(tmp_path: Path) -> None:
    assert _errors(tmp_path, GOOD) == []


def test_yaml_syntax_error_has_position(tmp_path: Path) -> None:
    text = GOOD.replace("  priority: 2", "  priority: [2")
    errors = _errors(tmp_path, text)
    assert len(errors) == 1 and "YAML" in errors[0] and "r.yaml:" in errors[0]


def test_duplicate_key(tmp_path: Path) -> None:
    text = GOOD + "title: again\n"
    _located(_errors(tmp_path, text), text, "title: again", "duplicate key 'title'")


def test_unknown_and_missing_fields(tmp_path: Path) -> None:
    text = GOOD.replace("correlate:\n  kind: match", "correlate:\n  kind: match\n  windw: 5m").replace(
        "title: good\n", ""
    )
    errors = _errors(tmp_path, text)
    _located(errors, text, "windw", "unknown field 'windw'")
    assert any("missing field 'title'" in e for e in errors)


def test_bad_expression_points_at_the_token(tmp_path: Path) -> None:
    text = GOOD.replace('data.analytic == "fire"', 'data.analytic == "fire" && data.confidense > 0.5')
    _located(_errors(tmp_path, text), text, "confidense", "confidense")


def test_expression_syntax_error(tmp_path: Path) -> None:
    text = GOOD.replace('data.analytic == "fire"', '(data.analytic == "fire"')
    errors = _errors(tmp_path, text)
    assert len(errors) == 1 and "r.yaml:7:" in errors[0]


def test_type_errors_in_conditions(tmp_path: Path) -> None:
    text = GOOD.replace('data.analytic == "fire"', 'data.confidence == "high"')
    errors = _errors(tmp_path, text)
    assert len(errors) == 1 and "r.yaml:7:" in errors[0] and "compare" in errors[0]


def test_condition_must_be_boolean(tmp_path: Path) -> None:
    text = GOOD.replace('data.analytic == "fire"', "data.confidence + 1")
    errors = _errors(tmp_path, text)
    assert len(errors) == 1 and "bool" in errors[0]


def test_template_error_points_into_the_template(tmp_path: Path) -> None:
    text = GOOD.replace("{fire.data.camera_id}", "{fire.data.camera}")
    _located(_errors(tmp_path, text), text, "camera}", "camera")


def test_unknown_event_type_and_selection_names(tmp_path: Path) -> None:
    text = GOOD.replace("type: video.detection", "type: video.detectoin").replace(
        "kind: match", "kind: match\n  select: smoke"
    )
    errors = _errors(tmp_path, text)
    _located(errors, text, "video.detectoin", "unknown event type")
    _located(errors, text, "smoke", "'smoke' is not a selection")


def test_bad_duration_and_distance(tmp_path: Path) -> None:
    text = GOOD.replace("kind: match", "kind: threshold\n  count: 2\n  window: 5 minutes\n  within: 300 yards")
    errors = _errors(tmp_path, text)
    _located(errors, text, "5 minutes", "window")
    _located(errors, text, "300 yards", "within")


def test_all_errors_of_all_files_at_once(tmp_path: Path) -> None:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "a.yaml").write_text(GOOD.replace('"fire"', '"fire" &&'))
    (d / "b.yaml").write_text(GOOD.replace("t.good", "t.other").replace("priority: 2", "priority: 9"))
    (d / "c.yaml").write_text(GOOD.replace("t.good", "t.third"))  # fine, but nothing half-loads
    with pytest.raises(RuleSetError) as exc:
        load_rules([d])
    files = {str(e.location).split(":")[0].rsplit("/", 1)[-1] for e in exc.value.errors}
    assert files == {"a.yaml", "b.yaml"}


def test_duplicate_rule_id(tmp_path: Path) -> None:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "a.yaml").write_text(GOOD)
    (d / "b.yaml").write_text(GOOD)
    errors = [str(e) for e in lint([d])]
    assert len(errors) == 1 and "already used" in errors[0] and "b.yaml:1:" in errors[0]


CHAIN = """\
id: t.{me}
title: chained
category: dispatch
select:
  inc:
    type: incident
    where: {where}
correlate:
  kind: match
incident:
  title: "{{inc.data.title}}"
  priority: 1
  playbook: none
"""


def test_chaining_needs_a_named_rule_and_no_cycles(tmp_path: Path) -> None:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "a.yaml").write_text(CHAIN.format(me="a", where="data.priority == 1"))
    (d / "b.yaml").write_text(CHAIN.format(me="b", where='data.rule_id == "t.c"'))
    (d / "c.yaml").write_text(CHAIN.format(me="c", where='data.rule_id == "t.b"'))
    (d / "d.yaml").write_text(CHAIN.format(me="d", where='data.rule_id == "t.nope"'))
    errors = [str(e) for e in lint([d])]
    # a rule over incidents by priority names no rule: it chains on every other rule (docs/rules.md, chaining)
    assert not any("a.yaml" in e and "cycle" not in e for e in errors), errors
    assert any("cycle" in e for e in errors)
    assert any("d.yaml" in e and "unknown or disabled rule 't.nope'" in e for e in errors)


def test_kind_specific_checks(tmp_path: Path) -> None:
    text = GOOD.replace(
        "kind: match", "kind: sequence\n  steps:\n    - {select: fire}\n    - {select: fire, optional: true}"
    )
    errors = _errors(tmp_path, text)
    assert any("cannot be optional" in e for e in errors)
    text = GOOD.replace("kind: match", "kind: absence\n  after: fire\n  expect: fire\n  timeout: 5m")
    assert any("must be different" in e for e in _errors(tmp_path, text))
    text = GOOD.replace(
        "kind: match", "kind: threshold\n  window: 5m\n  count: 2\n  sum: {of: data.confidence, at_least: 2}"
    )
    assert any("exactly one of count, distinct, sum" in e for e in _errors(tmp_path, text))


def test_reserved_selection_names(tmp_path: Path) -> None:
    text = GOOD.replace("  fire:\n", "  count:\n").replace("{fire.", "{count.")
    assert any("reserved" in e for e in _errors(tmp_path, text))


def test_unknown_playbook(tmp_path: Path) -> None:
    text = GOOD.replace("playbook: none", "playbook: nope")
    _located(_errors(tmp_path, text), text, "nope", "unknown playbook 'nope'")
