"""YAML with source positions: plain Python values plus where each key and value stood in the file.

Rule files (rules/) and camera configs (detectors/) must name file:line:col in their errors, and both may import
this package, so the one position-keeping reader lives here: we compose YAML nodes ourselves (PyYAML's safe
loader) and keep a map from the path of every value (a tuple of keys and indexes) to its position. It is the one
module of schemas/ that imports PyYAML (a core dependency of every deployable; tests/unit/test_architecture.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """1-based line and column in a file."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def shifted(self, text: str, offset: int) -> SourceLocation:
        """The location `offset` characters into `text`, when `text` starts at this location."""
        before = text[:offset]
        newlines = before.count("\n")
        if newlines == 0:
            return SourceLocation(self.file, self.line, self.col + offset)
        return SourceLocation(self.file, self.line + newlines, offset - before.rfind("\n"))


class YamlSourceError(ValueError):
    """The text is not valid YAML (or has a duplicate or non-text key), at `location`."""

    def __init__(self, message: str, location: SourceLocation) -> None:
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}")


@dataclass
class YamlDoc:
    file: str
    text: str
    value: Any
    values: dict[Path, yaml.Node] = field(default_factory=dict)
    keys: dict[Path, yaml.Node] = field(default_factory=dict)

    def _loc(self, node: yaml.Node) -> SourceLocation:
        return SourceLocation(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def location(self, path: Path, *, key: bool = False) -> SourceLocation:
        """Where the value (or, with key=True, the key) at `path` is; falls back to the nearest parent."""
        while True:
            node = (self.keys.get(path) if key else None) or self.values.get(path)
            if node is not None:
                return self._loc(node)
            if not path:
                return SourceLocation(self.file, 1, 1)
            path = path[:-1]

    def text_origin(self, path: Path) -> SourceLocation:
        """Where the first character of a string value's text is (inside quotes or a block scalar)."""
        node = self.values.get(path)
        if not isinstance(node, yaml.ScalarNode):
            return self.location(path)
        loc = self._loc(node)
        if node.style in ('"', "'"):
            return SourceLocation(self.file, loc.line, loc.col + 1)
        if node.style in ("|", ">"):
            lines = self.text.splitlines()
            for index in range(node.start_mark.line + 1, min(len(lines), node.end_mark.line + 1)):
                stripped = lines[index].lstrip(" ")
                if stripped:
                    return SourceLocation(self.file, index + 1, len(lines[index]) - len(stripped) + 1)
        return loc


# Bounds of one YAML file: far above any rule file or camera config (the catalog's largest rule file is some
# 5 kB and 400 values), below what costs a second to read (PyYAML's pure-Python reader: ~0.4 s for 256 KiB
# of text, ~50 us per value on a loaded machine).
MAX_BYTES = 256 * 1024
MAX_NODES = 20_000  # values, counted as written and again after aliases are expanded
MAX_DEPTH = 64  # nested mappings and lists


class _BoundError(Exception):
    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        self.message = message
        self.mark = mark
        super().__init__(message)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses deep nesting while composing and records every alias it meets
    (where it stands and the node it names), so that their expansion can be measured before it happens."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_uses: list[tuple[yaml.Mark, yaml.Node]] = []
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            alias: yaml.Node = super().compose_node(parent, index)  # type: ignore[no-untyped-call,assignment]
            self.alias_uses.append((mark, alias))
            return alias
        self._depth += 1
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _BoundError(
                f"the file holds more than {MAX_NODES:,} values; split it",
                self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        if self._depth > MAX_DEPTH:
            raise _BoundError(
                f"nested more than {MAX_DEPTH} levels deep (mappings and lists inside each other)",
                self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        try:
            node: yaml.Node = super().compose_node(parent, index)  # type: ignore[no-untyped-call,assignment]
        finally:
            self._depth -= 1
        return node


def _check_expansion(root: yaml.Node, alias_uses: list[tuple[yaml.Mark, yaml.Node]], file: str) -> None:
    """Refuse a document whose aliases expand it past MAX_NODES values, at the alias that crosses the bound.
    Sizes are counted once per node (memoised), so a billion laughs costs a few hundred steps to measure."""
    if not alias_uses:
        return
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int = 0) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a recursive alias (an anchor used inside itself) counts once
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item, depth + 1) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        total = min(total, MAX_NODES * 1000)  # no need to count further; keeps the numbers small
        sizes[id(node)] = total
        return total

    if size(root) <= MAX_NODES:
        return
    expanded, mark = 0, alias_uses[-1][0]
    for use, node in alias_uses:
        expanded += size(node)
        if expanded > MAX_NODES:
            mark = use
            break
    raise _BoundError(
        f"the aliases (*name) of this file expand it to more than {MAX_NODES:,} values; "
        "write the values out or use fewer aliases",
        mark,
    )


_YAML_MESSAGES = (
    # (a phrase of PyYAML's problem or context, what to say instead)
    ("but found ']'", "a ']' without its '['"),
    ("but found '}'", "a '}' without its '{'"),
    ("expected <block end>", "the indentation of this line does not match its block"),
    ("mapping values are not allowed here", "a ':' is not allowed here (quote the text, or check the indentation)"),
    ("could not find expected ':'", "a key needs ':' after it (or the text before runs on from the line above)"),
    ("'\\t' that cannot start any token", "a tab: indent with spaces"),
    ("tab character", "a tab: indent with spaces"),
    ("that cannot start any token", "this character cannot start a value: put the value in quotes"),
    ("found undefined alias", "this alias (*name) names no anchor (&name) above it"),
    ("found duplicate anchor", "this anchor (&name) is defined twice"),
    ("expected ',' or ']'", "a list in [ ] is not closed (or a ',' is missing)"),
    ("expected ',' or '}'", "a mapping in { } is not closed (or a ',' is missing)"),
    ("while scanning a quoted scalar", "a quoted text is not closed"),
    ("found unknown escape character", "an unknown escape (\\) in a double-quoted text; use single quotes"),
    ("expected a single document", "the file holds more than one YAML document (---); it may hold one"),
    ("expected alphabetic or numeric character", "an anchor or alias name must be letters, digits, - or _"),
    ("could not determine a constructor for the tag", "tags (!name) are not allowed"),
    ("found unhashable key", "a key must be plain text"),
    ("expected the node content", "a value is missing here"),
    ("found unexpected end of stream", "the file ends in the middle of a value"),
)


def yaml_message(context: str | None, problem: str | None) -> str:
    """PyYAML's wording (`expected <block end>, but found ...`) in the project's words."""
    raw = f"{context or ''} {problem or ''}"
    for phrase, said in _YAML_MESSAGES:
        if phrase in raw:
            return said
    return "this is not valid YAML here"


def load_yaml(text: str, file: str) -> YamlDoc:
    """Parse one YAML document; YAML errors become YamlSourceError with the parser's position. The input is
    bounded (docs/rules.md, Bounds): a file over MAX_BYTES, nesting deeper than MAX_DEPTH, or aliases that
    would expand it past MAX_NODES values are refused before anything is built (a 611-byte alias bomb took
    21.8 s and 260 MB)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise YamlSourceError(
            f"the file is {size:,} bytes; a file may have at most {MAX_BYTES:,}", SourceLocation(file, 1, 1)
        )
    try:
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as exc:  # e.g. a control character: checked when the reader starts
        code = ord(exc.character) if isinstance(exc.character, str) else int(exc.character)
        raise YamlSourceError(
            f"YAML: the control character U+{code:04X} is not allowed in a YAML file",
            _offset_location(text, file, exc.position),
        ) from None
    try:
        node = loader.get_single_node()
        doc = YamlDoc(file=file, text=text, value=None)
        if node is not None:
            _check_expansion(node, loader.alias_uses, file)
        doc.value = None if node is None else _convert(loader, node, (), doc)
        return doc
    except _BoundError as exc:
        raise YamlSourceError(exc.message, _mark_location(file, exc.mark)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _mark_location(file, mark)
        raise YamlSourceError(f"YAML: {yaml_message(exc.context, exc.problem)}", loc) from None
    except yaml.YAMLError as exc:
        raise YamlSourceError(f"YAML: {yaml_message(None, str(exc))}", SourceLocation(file, 1, 1)) from None
    finally:
        loader.dispose()


def _mark_location(file: str, mark: yaml.Mark | None) -> SourceLocation:
    return SourceLocation(file, mark.line + 1, mark.column + 1) if mark else SourceLocation(file, 1, 1)


def _offset_location(text: str, file: str, offset: int) -> SourceLocation:
    before = text[:offset]
    return SourceLocation(file, before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1)


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: Path, doc: YamlDoc) -> Any:
    doc.values[path] = node
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<` merge keys
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(loader, key_node, doc)
            if not isinstance(key, str):
                raise YamlSourceError(f"keys must be text, not {key!r}", doc._loc(key_node))
            if key in out:
                raise YamlSourceError(f"duplicate key '{key}'", doc._loc(key_node))
            doc.keys[(*path, key)] = key_node
            out[key] = _convert(loader, value_node, (*path, key), doc)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, (*path, i), doc) for i, item in enumerate(node.value)]
    return _construct(loader, node, doc)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, doc: YamlDoc) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise YamlSourceError(f"YAML: {yaml_message(exc.context, exc.problem)}", doc._loc(node)) from None
    except ValueError as exc:  # a scalar PyYAML resolves but Python cannot build: a date 2026-13-01, an int
        # of more than 4300 digits (Python's limit on int/str conversion; it was a traceback)
        reason = "a number of more than 4300 digits" if "digits" in str(exc) else str(exc)
        raise YamlSourceError(f"YAML: cannot read this value: {reason}", doc._loc(node)) from None
