"""Load a rule set from files: every problem is reported at once with file:line:col, nothing half-loaded."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from rules.compiler import CRule, _Collected, compile_rule, open_chains
from rules.core.reference import ReferenceStore
from rules.errors import RuleError, RuleSetError, SourceLocation
from rules.expr import ExprEnv
from rules.messages import validation_errors
from rules.model import PlaybookSpec, RuleSetSettings, RuleSpec
from rules.salvage import salvage_expressions
from rules.yamlsrc import YamlDoc, load_yaml
from schemas.yamlpos import MAX_BYTES

__all__ = ["CATALOG", "RuleSet", "display_path", "lint", "load_rules", "validation_errors"]

# the packaged rule catalog: the default rule set of every command, found wherever the package is installed
CATALOG = FsPath(__file__).resolve().parent / "catalog"
SETTINGS_FILE = "ruleset.yaml"
PLAYBOOK_DIR = "playbooks"


@dataclass
class RuleSet:
    rules: tuple[CRule, ...]
    settings: RuleSetSettings
    playbooks: dict[str, PlaybookSpec]
    reference: ReferenceStore
    files: tuple[str, ...] = ()
    docs: dict[str, YamlDoc] = field(default_factory=dict)
    warnings: tuple[RuleError, ...] = ()  # not errors: rules without tests

    def rule(self, rule_id: str) -> CRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def subset(self, rule_id: str) -> RuleSet:
        """The rule and every rule it chains on (transitively), in chain order, sharing settings and reference."""
        wanted = {rule_id}
        frontier = [self.rule(rule_id)]
        while frontier:
            for dep in frontier.pop().depends_on:
                if dep not in wanted:
                    wanted.add(dep)
                    frontier.append(self.rule(dep))
        rules = tuple(r for r in self.rules if r.id in wanted)
        return RuleSet(rules, self.settings, self.playbooks, self.reference, self.files, self.docs, self.warnings)


def _yaml_files(
    paths: Sequence[FsPath], errors: list[RuleError], allow_outside: bool
) -> tuple[list[FsPath], list[FsPath], list[FsPath]]:
    """Rule, playbook and settings files under `paths`. A directory walk keeps to the directory: a file that
    a symlink takes elsewhere is refused (an error at the link) unless `allow_outside`; files named one by one
    are read wherever they are. A `playbooks` folder (or a file in one) may be given by itself."""
    rules: list[FsPath] = []
    playbooks: list[FsPath] = []
    settings: list[FsPath] = []
    for path in paths:
        if path.is_dir():
            root = path.resolve()
            for f in sorted(path.rglob("*.y*ml")):
                if not allow_outside and f.exists() and not f.resolve().is_relative_to(root):
                    errors.append(
                        RuleError(
                            f"links outside the rule directory {display_path(path)} (to {f.resolve()}); "
                            "pass --allow-outside to read it",
                            SourceLocation(display_path(f), 1, 1),
                        )
                    )
                    continue
                if f.name == SETTINGS_FILE:
                    settings.append(f)
                elif PLAYBOOK_DIR in (path.name, *f.relative_to(path).parts[:-1]):
                    playbooks.append(f)
                else:
                    rules.append(f)
        elif path.name == SETTINGS_FILE:
            settings.append(path)
        elif path.parent.name == PLAYBOOK_DIR:
            playbooks.append(path)
        else:
            rules.append(path)
    return rules, playbooks, settings


def display_path(path: FsPath) -> str:
    """The path as the user sees it (relative to the working directory when inside it): a symlink is named
    as itself, not as its target."""
    for absolute in (FsPath(os.path.normpath(os.path.abspath(path))), path.resolve()):
        try:
            return str(absolute.relative_to(FsPath.cwd()))
        except ValueError:
            continue
    return str(path)


def _read(path: FsPath, errors: list[RuleError]) -> YamlDoc | None:
    name = display_path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:  # refused before reading it (load_yaml checks the text too)
            errors.append(
                RuleError(
                    f"the file is {size:,} bytes; a file may have at most {MAX_BYTES:,}", SourceLocation(name, 1, 1)
                )
            )
            return None
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        errors.append(RuleError(f"not UTF-8 text (byte {exc.start})", SourceLocation(name, 1, 1)))
        return None
    except OSError as exc:
        errors.append(RuleError(f"cannot read: {exc.strerror or exc}", SourceLocation(name, 1, 1)))
        return None
    try:
        return load_yaml(text, name)
    except RuleError as exc:
        errors.append(exc)
        return None


def _validate(model: type[BaseModel], doc: YamlDoc, errors: list[RuleError]) -> Any:
    rule_id = doc.value.get("id") if isinstance(doc.value, dict) else None
    if not isinstance(doc.value, dict):
        errors.append(RuleError("expected a mapping at the top of the file", doc.location(())))
        return None
    try:
        return model.model_validate(doc.value)
    except ValidationError as exc:
        errors.extend(validation_errors(exc, doc, rule_id if isinstance(rule_id, str) else None, model))
        return None


def load_rules(
    paths: Iterable[FsPath | str], reference: ReferenceStore | None = None, *, allow_outside: bool = False
) -> RuleSet:
    """Load and compile every rule under `paths`; raises RuleSetError listing every problem found. Warnings
    (rules without tests) ride on the RuleSet, or on the RuleSetError when there are errors too."""
    from rules.testing import test_event_errors  # rules.testing runs rule sets: it imports this module

    errors: list[RuleError] = []
    warnings: list[RuleError] = []
    rule_files, playbook_files, settings_files = _yaml_files([FsPath(p) for p in paths], errors, allow_outside)
    settings = RuleSetSettings()
    for f in settings_files[:1]:
        doc = _read(f, errors)
        if doc is not None:
            settings = _validate(RuleSetSettings, doc, errors) or settings
    playbooks: dict[str, PlaybookSpec] = {}
    for f in playbook_files:
        doc = _read(f, errors)
        pb = _validate(PlaybookSpec, doc, errors) if doc is not None else None
        if pb is not None and doc is not None:
            if pb.playbook in playbooks:
                errors.append(RuleError(f"playbook '{pb.playbook}' is defined twice", doc.location(("playbook",))))
            playbooks[pb.playbook] = pb
    reference = reference or ReferenceStore()
    env = ExprEnv(timezone=settings.timezone, zones=reference.zones)
    compiled: list[CRule] = []
    docs: dict[str, YamlDoc] = {}
    seen: dict[str, str] = {}
    for f in rule_files:
        doc = _read(f, errors)
        if doc is None:
            continue
        before = len(errors)
        spec = _validate(RuleSpec, doc, errors)
        if spec is None:
            # the structure is wrong, yet every expression that can be found is checked in the same run
            raw_id = doc.value.get("id") if isinstance(doc.value, dict) else None
            taken = {str(e.location) for e in errors[before:]}
            errors.extend(salvage_expressions(doc, env, raw_id if isinstance(raw_id, str) else None, taken))
            continue
        if spec.id in seen:
            errors.append(
                RuleError(f"rule id '{spec.id}' is already used in {seen[spec.id]}", doc.location(("id",)), spec.id)
            )
            continue
        seen[spec.id] = doc.file
        docs[spec.id] = doc
        errors.extend(test_event_errors(spec.id, spec.tests, doc))
        if not spec.tests and spec.enabled:
            warnings.append(RuleError("no tests (docs/rules.md, Tests in rule files)", doc.location(("id",)), spec.id))
        try:
            rule = compile_rule(spec, doc, settings, playbooks, env)
        except _Collected as exc:
            errors.extend(exc.errors)
            continue
        except RuleError as exc:
            errors.append(exc)
            continue
        if spec.enabled:
            compiled.append(rule)
    compiled = open_chains(compiled)  # selections of incidents by priority or category, not by rule id
    failed = set(seen) - {r.id for r in compiled}
    errors.extend(_chain_errors(compiled, docs, failed))
    if errors:
        raise RuleSetError(errors, warnings)
    return RuleSet(
        rules=tuple(_chain_order(compiled)),
        settings=settings,
        playbooks=playbooks,
        reference=reference,
        files=tuple(display_path(f) for f in rule_files),
        docs=docs,
        warnings=tuple(warnings),
    )


def _chain_errors(rules: list[CRule], docs: dict[str, YamlDoc], failed: set[str]) -> list[RuleError]:
    """Chains on rules that do not exist (or are disabled) and cycles; a rule that failed to compile has
    its own errors, so chains on it are not reported again."""
    ids = {r.id for r in rules}
    out = []
    for r in rules:
        for dep in sorted(r.depends_on - ids - failed):
            out.append(RuleError(f"chains on unknown or disabled rule '{dep}'", docs[r.id].location(("select",)), r.id))
    # cycles: depth-first search over depends_on
    graph = {r.id: r.depends_on & ids for r in rules}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack, node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*stack, node])):
                return cycle
        state[node] = 2
        return None

    for r in rules:
        if r.id not in state and (cycle := visit(r.id, [])):
            out.append(
                RuleError(
                    "rules chain in a cycle: " + " -> ".join(cycle), docs[cycle[0]].location(("select",)), cycle[0]
                )
            )
            break
    return out


def _chain_order(rules: list[CRule]) -> list[CRule]:
    """Rules that others chain on come first, so one pass delivers incidents downstream in order."""
    ordered: list[CRule] = []
    placed: set[str] = set()
    pending = sorted(rules, key=lambda r: r.id)
    while pending:
        ready = [r for r in pending if r.depends_on <= placed]
        ready = ready or pending[:1]
        for r in ready:
            ordered.append(r)
            placed.add(r.id)
        pending = [r for r in pending if r.id not in placed]
    return ordered


def lint(paths: Iterable[FsPath | str], *, allow_outside: bool = False) -> list[RuleError]:
    try:
        load_rules(paths, allow_outside=allow_outside)
    except RuleSetError as exc:
        return exc.errors
    return []
