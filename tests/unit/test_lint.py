"""Lint finds everything in one run (issue 20, items 4 and 5): structural errors do not hide expression errors,
every error of an expression, did-you-mean, the project's words, test events checked, the right places and
hints, rules without tests listed, bounded YAML and rule paths that stay inside their directory."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rules.loader import lint, load_rules
from saqshy.cli import main
from tests.golden.harness import ROOT as SCENARIOS
from tests.support import CATALOG
from tests.unit.test_rule_errors import _located, _pos

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
  playbook: none
  priority: 2
"""

BROKEN = """\
id: t.bad
title: bad
category: fire
enabeld: true
select:
  fire:
    type: video.detection
    where: data.confidense > 0.5 && data.analytic == "fier"
  smoke:
    type: video.detectoin
correlate:
  kind: treshold
  window: 5m
incident:
  title: "fire at {fire.data.camera} in {fire.data.zone_idd}"
  priority: {base: 2, terms: [{name: big, delta: -1, when: "fire.data.confidance > 0.9"}]}
  location: frist
"""

# what PyYAML and pydantic say, which a user must never see
RAW_PHRASES = (
    "Input should",
    "Extra inputs",
    "Field required",
    "String should",
    "Value error",
    "unable to parse",
    "<block",
    "<stream",
    "while parsing",
    "while scanning",
    "found character",
    "could not find expected",
    "mapping values are not allowed",
    "Input tag",
    "does not match any of the expected tags",
)


def _write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    d = tmp_path / "rules"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(textwrap.dedent(text))
    return d


def _lint(tmp_path: Path, text: str, name: str = "r.yaml") -> list[str]:
    return [str(e) for e in lint([_write(tmp_path, text, name)])]


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_structural_errors_do_not_hide_expression_errors(tmp_path: Path) -> None:
    errors = _lint(tmp_path, BROKEN)
    # structure: a misspelt key, kind and value, each with its did-you-mean
    _located(errors, BROKEN, "enabeld", "unknown field 'enabeld' (did you mean 'enabled'?)")
    _located(errors, BROKEN, "treshold", "(did you mean 'threshold'?)")
    _located(errors, BROKEN, "frist", "`incident.location` must be one of: first, latest; got 'frist'")
    _located(
        errors, BROKEN, "video.detectoin", "unknown event type 'video.detectoin' (did you mean 'video.detection'?)"
    )
    # and in the same run every expression that can be found: both errors of one condition, both placeholders
    # of one template, a priority term
    _located(errors, BROKEN, "confidense", "unknown field 'confidense' on VideoDetection (did you mean 'confidence'?)")
    _located(errors, BROKEN, '"fier"', "'fier' is not a possible value here (did you mean 'fire'?")
    _located(errors, BROKEN, "camera}", "(did you mean 'camera_id'?)")
    _located(errors, BROKEN, "zone_idd", "(did you mean 'zone_id'?)")
    _located(errors, BROKEN, "confidance", "(did you mean 'confidence'?)")
    assert len(errors) == 9, errors


def test_every_error_of_one_expression_in_a_valid_file(tmp_path: Path) -> None:
    text = GOOD.replace(
        'where: data.analytic == "fire"', 'where: data.analytik == "fire" || data.confidense > "x" || size(1, 2)'
    )
    errors = _lint(tmp_path, text)
    _located(errors, text, "analytik", "did you mean 'analytic'")
    _located(errors, text, "confidense", "did you mean 'confidence'")
    _located(errors, text, "size(", "size")
    assert len(errors) == 3, errors


def test_messages_in_the_projects_words(tmp_path: Path) -> None:
    text = GOOD.replace("playbook: none", "playbook: 5")
    text = text.replace("kind: match", "kind: threshold\n  window: 5m\n  count: three").replace(
        "priority: 2", "priority: 2\n  merge_window: [1]"
    )
    errors = _lint(tmp_path, text)
    _located(errors, text, "three", "`correlate.count` must be a whole number, got 'three'")
    _located(errors, text, "[1]", "`incident.merge_window`")
    _located(errors, text, "5\n", "`incident.playbook` must be text or a list, got 5")
    broken_yaml = [
        GOOD.replace("  priority: 2", " priority: 2"),  # expected <block end>
        GOOD.replace("title: good", "title: good: bad"),  # mapping values are not allowed here
        GOOD.replace("priority: 2", "priority: [2"),
        GOOD.replace("title: good", "title: 'good"),
        GOOD.replace("  priority: 2", "\tpriority: 2"),
        GOOD.replace("title: good", "title: @good"),
        GOOD.replace("title: good", "title: *nothing"),
        GOOD + "---\nid: two\n",
        GOOD.replace("category: fire", "category: Fire!"),
        GOOD.replace("priority: 2", "priority: {base: 2, terms: [{name: x, delta: 9, when: 'true'}]}"),
        GOOD.replace("version: 1\n", "") + "version: 1.5\nenabled: maybe\ntags: 3\n",
    ]
    said: list[str] = list(errors)
    for i, bad in enumerate(broken_yaml):
        found = _lint(tmp_path / f"b{i}", bad)
        assert found, bad
        said += found
    _located(said, broken_yaml[0], "priority: 2", "the indentation of this line does not match its block")
    leaks = [(p, e) for e in said for p in RAW_PHRASES if p in e]
    assert not leaks, leaks


def test_test_events_are_checked_at_lint(tmp_path: Path) -> None:
    text = GOOD + textwrap.dedent("""\
        tests:
          - name: one
            events:
              - {at: 0s, type: video.detection, data: {camera_id: c1, analytic: fire, label: x, confidense: 0.9}}
              - {at: 1s, type: video.detectoin, data: {}}
              - {at: 2s, type: video.detection, location: [91, 0],
                 data: {camera_id: c1, analytic: fier, label: x, confidence: 1}}
            expect: none
        """)
    errors = _lint(tmp_path, text)
    _located(errors, text, "confidense", "test 'one' event 1: unknown field 'confidense' (did you mean 'confidence'?)")
    _located(errors, text, "{camera_id: c1, analytic: fire", "event 1: missing field 'confidence'")
    _located(errors, text, "video.detectoin", "event 2: `type` must be one of")
    _located(errors, text, "fier", "event 3: `data.analytic` must be one of")
    _located(errors, text, "[91, 0]", "event 3: `location` must be at most 90")


def test_reserved_selection_name_points_at_its_key(tmp_path: Path) -> None:
    text = GOOD.replace("  fire:\n", "  count:\n").replace("{fire.", "{count.")
    errors = _lint(tmp_path, text)
    _located(errors, text, "count:", "'count' is reserved; name the selection differently")


def test_one_file_naming_a_playbook_gets_a_hint(tmp_path: Path) -> None:
    text = GOOD.replace("playbook: none", "playbook: fire")
    path = _write(tmp_path, text) / "r.yaml"
    errors = [str(e) for e in lint([path])]
    _located(errors, text, "fire\n  priority", "unknown playbook 'fire': no playbooks were loaded")
    assert "saqshy rules lint FILE rules/catalog/playbooks" in errors[0] and "known: none" not in errors[0]
    # the way the hint says works: the folder (or one of its files) beside the rule file
    assert lint([path, CATALOG / "playbooks"]) == []
    assert lint([path, CATALOG / "playbooks" / "fire.yaml"]) == []
    misspelt = GOOD.replace("playbook: none", "playbook: fier")
    errors = [str(e) for e in lint([_write(tmp_path, misspelt), CATALOG / "playbooks"])]
    assert any("unknown playbook 'fier' (did you mean 'fire'?)" in e for e in errors), errors


def test_rules_without_tests_are_listed(tmp_path: Path) -> None:
    d = _write(tmp_path, GOOD)
    ruleset = load_rules([d])
    assert [w.rule_id for w in ruleset.warnings] == ["t.good"]
    assert str(ruleset.warnings[0].location).endswith("r.yaml:1:5")
    result = CliRunner().invoke(main, ["rules", "lint", str(d)])
    assert result.exit_code == 0
    assert "r.yaml:1:5: [t.good] warning: no tests" in result.output
    assert "1 rule(s) without tests: t.good" in result.output
    code, out = _run("rules", "lint", str(CATALOG))
    assert code == 0 and "without tests" not in out  # every catalog rule has tests


def _alias_bomb(levels: int) -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for n in "bcdefghijkl"[: levels - 1]:
        text += f"{n}: &{n} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = n
    return text


@pytest.mark.parametrize("levels", [9, 10])
def test_an_alias_bomb_fails_fast_at_its_place(tmp_path: Path, levels: int) -> None:
    text = _alias_bomb(levels)
    assert len(text) < 700  # the bomb was 611 bytes (21.8 s and 260 MB to lint)
    d = _write(tmp_path, text)
    start = time.perf_counter()
    errors = [str(e) for e in lint([d])]
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, elapsed
    # the aliases on the line of `e` (each 9 ** 3 values) pass the 20,000 bound at its second
    assert len(errors) == 1 and "r.yaml:5:11:" in errors[0] and "expand it to more than 20,000 values" in errors[0]


def test_a_few_aliases_still_work(tmp_path: Path) -> None:
    text = GOOD.replace("  priority: 2", "  priority: *p").replace("title: good", "title: good\nx-defaults: &p 2")
    errors = _lint(tmp_path, text)
    assert errors and all("x-defaults" in e for e in errors)  # an unknown key, and nothing about the alias


def test_deep_nesting_and_big_files_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace("priority: 2", "priority: " + "[" * 100 + "]" * 100)
    errors = _lint(tmp_path, text)
    line, col = _pos(text, "[[")
    assert len(errors) == 1 and f"r.yaml:{line}:{col + 62}: nested more than 64 levels deep" in errors[0]
    big = GOOD + "description: " + "x" * 300_000 + "\n"
    errors = _lint(tmp_path, big)
    assert len(errors) == 1 and "r.yaml:1:1:" in errors[0] and "at most 262,144" in errors[0]
    many = GOOD + "tags: [" + ",".join(["x"] * 25_000) + "]\n"  # 20,000 values, no alias: refused as well
    errors = _lint(tmp_path, many)
    assert len(errors) == 1 and "more than 20,000 values; split it" in errors[0], errors
    line, col = (int(x) for x in errors[0].split("r.yaml:")[1].split(":")[:2])
    assert line == many.count("\n") and many.splitlines()[line - 1][col - 1] == "x" and col > 39_000


def test_rule_paths_stay_inside_the_rule_directory(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.yaml").write_text(GOOD.replace("t.good", "t.outside"))
    d = _write(tmp_path, GOOD)
    (d / "link.yaml").symlink_to(outside / "secret.yaml")
    errors = [str(e) for e in lint([d])]
    assert len(errors) == 1 and "link.yaml:1:1:" in errors[0] and "outside the rule directory" in errors[0]
    assert "--allow-outside" in errors[0]
    assert lint([d], allow_outside=True) == []
    code, out = _run("rules", "lint", "--allow-outside", str(d))
    assert code == 0 and "2 rule(s)" in out
    code, out = _run("rules", "lint", str(d))
    assert code == 1 and "outside the rule directory" in out


def test_explain_json_is_one_document() -> None:
    events = SCENARIOS / "fire_camera_and_calls" / "events.jsonl"
    code, out = _run(
        "rules", "explain", "fire.camera_and_call", "--rules", str(CATALOG), "--input", str(events), "--json"
    )
    doc = json.loads(out)
    assert code == 0 and doc["rule_id"] == "fire.camera_and_call" and doc["verdict"] == ["fired: 1 incident(s)"]
    assert doc["incidents"][0]["rule_id"] == "fire.camera_and_call" and doc["selections"][0]["candidates"] >= 1


def test_explain_piped_is_not_cut_at_80_columns() -> None:
    events = SCENARIOS / "fire_camera_and_calls" / "events.jsonl"
    args = ("rules", "explain", "dispatch.unacknowledged", "--rules", str(CATALOG), "--input", str(events))
    title = json.loads(_run(*args, "--json")[1])["incidents"][0]["title"]
    code, out = _run(*args)  # CliRunner's output is not a terminal, like a pipe
    assert code == 0 and len(title) > 60
    row = next(line for line in out.splitlines() if title in line)  # the whole title on one line: not cut
    assert len(row) > 120 and "…" not in out


def test_explain_counts_the_candidates_of_a_chained_rule(tmp_path: Path) -> None:
    events = SCENARIOS / "fire_camera_and_calls" / "events.jsonl"
    _, out = _run(
        "rules", "explain", "dispatch.unacknowledged", "--rules", str(CATALOG), "--input", str(events), "--json"
    )
    doc = json.loads(out)
    opened = next(s for s in doc["selections"] if s["name"] == "opened")
    assert doc["verdict"] == ["fired: 1 incident(s)"]
    # the versions of the rules it chains on are its candidates (it used to say 0 although it fired)
    assert opened["candidates"] >= 1 and opened["selected"] == 1
    assert [s["selection"] for s in doc["steps"]][:1] == ["opened"]  # and listed among the selected events
    # on an input where the rules it chains on stay silent, it says so (not "no 'incident' event in the input")
    quiet = tmp_path / "one.jsonl"
    quiet.write_text(events.read_text().splitlines()[0] + "\n")  # one smoke detection: no rule fires
    _, out = _run("rules", "explain", "dispatch.unacknowledged", "--rules", str(CATALOG), "--input", str(quiet))
    assert "no 'incident' event" not in out and "the rules it chains on (" in out and "made no incident" in out
