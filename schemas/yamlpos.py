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


def load_yaml(text: str, file: str) -> YamlDoc:
    """Parse one YAML document; YAML errors become YamlSourceError with the parser's position."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # e.g. a control character: checked when the reader starts
        raise YamlSourceError(
            f"YAML: {exc.reason} (character {exc.character!r})", _offset_location(text, file, exc.position)
        ) from None
    try:
        node = loader.get_single_node()
        doc = YamlDoc(file=file, text=text, value=None)
        doc.value = None if node is None else _convert(loader, node, (), doc)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else SourceLocation(file, 1, 1)
        raise YamlSourceError(f"YAML: {exc.problem or exc.context}", loc) from None
    except yaml.YAMLError as exc:
        raise YamlSourceError(f"YAML: {exc}", SourceLocation(file, 1, 1)) from None
    finally:
        loader.dispose()


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
        raise YamlSourceError(f"YAML: {exc.problem}", doc._loc(node)) from None
    except ValueError as exc:  # a scalar PyYAML resolves but Python cannot build: a date 2026-13-01, an int
        # of more than 4300 digits (Python's limit on int/str conversion; it was a traceback)
        reason = "a number of more than 4300 digits" if "digits" in str(exc) else str(exc)
        raise YamlSourceError(f"YAML: cannot read this value: {reason}", doc._loc(node)) from None
