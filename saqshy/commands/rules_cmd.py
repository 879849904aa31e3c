"""`saqshy rules lint|test|schema|explain`: the analyst's loop for writing rules."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from rules.errors import RuleError, RuleSetError
from rules.loader import CATALOG, RuleSet, load_rules
from saqshy.commands.options import rules_option
from saqshy.settings import archive_options, archive_settings

DEFAULT_RULES = CATALOG


def _console() -> Console:
    # piped or redirected: no terminal width to fit, so never cut or wrap a line at rich's default 80 columns
    if sys.stdout.isatty():
        return Console(stderr=False, highlight=False, soft_wrap=True)
    return Console(stderr=False, highlight=False, soft_wrap=True, width=400, no_color=True)


def _in_order(errors: list[RuleError]) -> list[RuleError]:
    """By file, line and column: the order of the files and of the text, whatever check found them."""

    def key(e: RuleError) -> tuple[str, int, int]:
        loc = e.location
        return (loc.file, loc.line, loc.col) if loc else ("", 0, 0)

    return sorted(errors, key=key)


def _print_errors(errors: list[RuleError]) -> None:
    for err in _in_order(errors):
        click.echo(str(err), err=True)
    click.echo(f"{len(errors)} error(s)", err=True)


def _print_warnings(warnings: list[RuleError] | tuple[RuleError, ...]) -> None:
    """Rules without tests: listed (docs/rules.md promises it), not refused."""
    for w in _in_order(list(warnings)):
        where = f"{w.location}: " if w.location else ""
        click.echo(f"{where}[{w.rule_id}] warning: {w.message}", err=True)
    if warnings:
        ids = ", ".join(sorted(w.rule_id or "?" for w in warnings))
        click.echo(f"{len(warnings)} rule(s) without tests: {ids}", err=True)


def _load(paths: tuple[Path, ...], allow_outside: bool = False, warnings: bool = False) -> RuleSet:
    try:
        ruleset = load_rules(paths or (Path(DEFAULT_RULES),), allow_outside=allow_outside)
    except RuleSetError as exc:
        _print_errors(exc.errors)
        if warnings:
            _print_warnings(exc.warnings)
        sys.exit(1)
    if warnings:
        _print_warnings(ruleset.warnings)
    return ruleset


allow_outside_option = click.option(
    "--allow-outside",
    is_flag=True,
    help="Read rule files that symlinks in a rule directory take outside it (refused by default).",
)


@click.group("rules")
def rules() -> None:
    """Rule files: check them, run their tests, explain what they do."""


@rules.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print only errors.")
@allow_outside_option
def lint(paths: tuple[Path, ...], quiet: bool, allow_outside: bool) -> None:
    """Check the rule files in PATHS (files or directories) [default: the packaged catalog]; every error of every
    file is printed as FILE:LINE:COL, rules without tests as warnings, and the exit code is 1 if any error.
    Playbooks are read from a playbooks/ folder of a directory in PATHS (or give the folder itself)."""
    ruleset = _load(paths, allow_outside, warnings=not quiet)
    if not quiet:
        click.echo(
            f"ok: {len(ruleset.rules)} rule(s), {len(ruleset.playbooks)} playbook(s) in {len(ruleset.files)} file(s)"
        )


@rules.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--rule", "rule_ids", multiple=True, help="Only the tests of this rule (repeatable).")
@click.option("--verbose", "-v", is_flag=True, help="Show every test, not only failures.")
@allow_outside_option
def test(paths: tuple[Path, ...], rule_ids: tuple[str, ...], verbose: bool, allow_outside: bool) -> None:
    """Run the tests written in the rule files of PATHS (files or directories) [default: the packaged catalog]."""
    from rules.testing import run_rule_tests

    ruleset = _load(paths, allow_outside)
    results = run_rule_tests(ruleset, set(rule_ids) if rule_ids else None)
    failed = [r for r in results if not r.passed]
    for r in results:
        if verbose or not r.passed:
            mark = "PASS" if r.passed else "FAIL"
            click.echo(f"{mark} {r.location}: {r.rule_id}: {r.name}")
            for p in r.problems:
                click.echo(f"     {p}")
    rules_with_tests = len({r.rule_id for r in results})
    untested = [r.id for r in ruleset.rules if not r.spec.tests and (not rule_ids or r.id in rule_ids)]
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed ({rules_with_tests} rule(s) with tests)")
    if untested:
        click.echo(f"rules without tests: {', '.join(untested)}")
    if failed:
        sys.exit(1)


@rules.command("schema")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file instead of stdout.")
def schema(out: Path | None) -> None:
    """The JSON Schema of rule files, for editor completion and checking (yaml-language-server)."""
    from rules.model import RuleSpec

    doc = RuleSpec.model_json_schema(by_alias=True)
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["$id"] = "https://saqshy.dev/schemas/rule.json"
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)


@rules.command("explain")
@click.argument("rule_id")
@rules_option
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Events file (.jsonl or .jsonl.gz) to explain the rule on.",
)
@click.option("--steps", default=50, show_default=True, help="How many selected events to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON document.")
@allow_outside_option
def explain_cmd(
    rule_id: str, rule_paths: tuple[Path, ...], input_path: Path, steps: int, as_json: bool, allow_outside: bool
) -> None:
    """Why RULE_ID did or did not fire on an events file: selections, groups, partial matches, incidents."""
    from rules.explain import explain, report_json
    from rules.records import RecordDecodeError, decode_record
    from streams.embedded import open_lines

    ruleset = _load(rule_paths, allow_outside)
    try:
        ruleset.rule(rule_id)
    except KeyError:
        known = ", ".join(r.id for r in ruleset.rules)
        raise click.BadParameter(f"no rule '{rule_id}' (known: {known})", param_hint="RULE_ID") from None

    def records() -> Iterator[Any]:
        with open_lines(input_path) as fh:
            for line in fh:
                if line.strip():
                    try:
                        yield decode_record(line)
                    except RecordDecodeError:
                        continue  # replay reports bad lines; explain is about the rule

    report = explain(ruleset, rule_id, records(), max_steps=steps)
    if as_json:
        click.echo(json.dumps(report_json(report), ensure_ascii=False))
        return
    console = _console()
    console.print(f"[bold]{rule_id}[/bold] ({report.kind}) over {report.events} event(s)")
    table = Table("selection", "type", "candidates", "selected", "late", "condition")
    for s in report.selections:
        table.add_row(s.name, s.event_type, str(s.candidates), str(s.selected), str(s.late), s.where or "(any)")
    console.print(table)
    if report.steps:
        t = Table("time", "event", "selection", "group", "state after", "incident", title="selected events")
        for st in report.steps:
            t.add_row(st.time, st.event_id, st.selection, st.group or "-", st.state, "\n".join(st.incidents))
        console.print(t)
        if report.steps_dropped:
            console.print(f"... and {report.steps_dropped} more selected event(s) (--steps)")
    if report.incidents:
        t = Table("incident", "ver", "status", "prio", "terms", "events", "title", title="incidents")
        for inc in report.incidents.values():
            terms = ", ".join(f"{p.name}{p.delta:+d}" for p in inc.priority_terms) or "-"
            t.add_row(
                inc.id, str(inc.version), inc.status, str(inc.priority), terms, ", ".join(inc.event_ids[:6]), inc.title
            )
        console.print(t)
    if report.open_partials:
        console.print("[bold]partial matches at the end of input[/bold]")
        for p in report.open_partials:
            console.print(f"  {p}")
    limits = ", ".join(f"{k} {v}" for k, v in report.limits.items())
    evicted = ", ".join(f"{n} by {k}" for k, n in report.evictions.items()) or "none"
    console.print(f"[bold]state limits[/bold] {limits}; evicted: {evicted}")
    console.print("[bold]verdict[/bold]")
    for reason in report.reasons:
        console.print(f"  {reason}")


@rules.command("backtest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--from", "from_", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC).")
@click.option("--to", "to", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day, inclusive.")
@archive_options
@click.option(
    "--base",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path(DEFAULT_RULES),
    show_default="the packaged catalog (rules/catalog)",
    help="The deployed rules to compare with.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def backtest_cmd(
    paths: tuple[Path, ...], from_: Any, to: Any, dsn: str | None, database: str | None, base: Path, as_json: bool
) -> None:
    """Replay archived events through the rules in PATHS; incidents per rule and day vs the deployed rules."""
    from jobs.backtest.cli import run_backtest

    archive = archive_settings(dsn, database)
    run_backtest(paths, from_.date(), to.date(), archive.url, archive.database, base, as_json)
