"""Load a rule set from files: every problem is reported at once with file:line:col, nothing half-loaded."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from rules.compiler import CRule, _Collected, compile_rule
from rules.core.reference import ReferenceStore
from rules.errors import RuleError, RuleSetError
from rules.expr import ExprEnv
from rules.model import PlaybookSpec, RuleSetSettings, RuleSpec
from rules.yamlsrc import Path, YamlDoc, load_yaml

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
        return RuleSet(rules, self.settings, self.playbooks, self.reference, self.files, self.docs)


def _yaml_files(paths: Sequence[FsPath]) -> tuple[list[FsPath], list[FsPath], list[FsPath]]:
    rules: list[FsPath] = []
    playbooks: list[FsPath] = []
    settings: list[FsPath] = []
    for path in paths:
        if path.is_dir():
            for f in sorted(path.rglob("*.y*ml")):
                if f.name == SETTINGS_FILE:
                    settings.append(f)
                elif PLAYBOOK_DIR in f.relative_to(path).parts[:-1]:
                    playbooks.append(f)
                else:
                    rules.append(f)
        else:
            (settings if path.name == SETTINGS_FILE else rules).append(path)
    return rules, playbooks, settings


def display_path(path: FsPath) -> str:
    try:
        return str(path.resolve().relative_to(FsPath.cwd()))
    except ValueError:
        return str(path)


def _read(path: FsPath, errors: list[RuleError]) -> YamlDoc | None:
    name = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(RuleError(f"cannot read: {exc}", None))
        return None
    try:
        return load_yaml(text, name)
    except RuleError as exc:
        errors.append(exc)
        return None


def validation_errors(exc: ValidationError, doc: YamlDoc, rule_id: str | None = None) -> list[RuleError]:
    """pydantic's errors, each placed at the YAML key or value it is about."""
    out = []
    for err in exc.errors(include_url=False):
        path, missing_or_extra = _doc_path(doc.value, err["loc"])
        key = err["type"] == "extra_forbidden"
        loc = doc.location(path, key=key)
        field_name = ".".join(str(p) for p in path) or "(file)"
        message = err["msg"]
        if err["type"] == "missing":
            message = f"missing field '{err['loc'][-1]}'"
        elif key:
            message = f"unknown field '{err['loc'][-1]}'"
        out.append(RuleError(f"{field_name}: {message}" if not missing_or_extra else message, loc, rule_id))
    return out


def _doc_path(value: Any, loc: tuple[int | str, ...]) -> tuple[Path, bool]:
    """The path into the YAML data for a pydantic error location (which also names union branches)."""
    path: list[str | int] = []
    current = value
    for part in loc:
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        ):
            path.append(part)
            current = current[part]  # type: ignore[index]
        elif isinstance(current, dict) and isinstance(part, str) and part == loc[-1]:
            # a missing or unknown key: point at the mapping that should (not) have it
            return tuple(path), True
    return tuple(path), False


def _validate(model: type[BaseModel], doc: YamlDoc, errors: list[RuleError]) -> Any:
    rule_id = doc.value.get("id") if isinstance(doc.value, dict) else None
    if not isinstance(doc.value, dict):
        errors.append(RuleError("expected a mapping at the top of the file", doc.location(())))
        return None
    try:
        return model.model_validate(doc.value)
    except ValidationError as exc:
        errors.extend(validation_errors(exc, doc, rule_id if isinstance(rule_id, str) else None))
        return None


def load_rules(paths: Iterable[FsPath | str], reference: ReferenceStore | None = None) -> RuleSet:
    """Load and compile every rule under `paths`; raises RuleSetError listing every problem found."""
    errors: list[RuleError] = []
    rule_files, playbook_files, settings_files = _yaml_files([FsPath(p) for p in paths])
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
        spec = _validate(RuleSpec, doc, errors)
        if spec is None:
            continue
        if spec.id in seen:
            errors.append(
                RuleError(f"rule id '{spec.id}' is already used in {seen[spec.id]}", doc.location(("id",)), spec.id)
            )
            continue
        seen[spec.id] = doc.file
        docs[spec.id] = doc
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
    failed = set(seen) - {r.id for r in compiled}
    errors.extend(_chain_errors(compiled, docs, failed))
    if errors:
        raise RuleSetError(errors)
    return RuleSet(
        rules=tuple(_chain_order(compiled)),
        settings=settings,
        playbooks=playbooks,
        reference=reference,
        files=tuple(display_path(f) for f in rule_files),
        docs=docs,
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


def lint(paths: Iterable[FsPath | str]) -> list[RuleError]:
    try:
        load_rules(paths)
    except RuleSetError as exc:
        return exc.errors
    return []
