"""YAML with source positions for rule files: the reader of schemas/yamlpos.py (shared with the camera configs
of detectors/), its errors raised as RuleError."""

from __future__ import annotations

from rules.errors import RuleError
from schemas.yamlpos import Path, YamlDoc, YamlSourceError
from schemas.yamlpos import load_yaml as _load_yaml

__all__ = ["Path", "YamlDoc", "load_yaml"]


def load_yaml(text: str, file: str) -> YamlDoc:
    """Parse one YAML document; YAML errors become RuleError with the parser's position."""
    try:
        return _load_yaml(text, file)
    except YamlSourceError as exc:
        raise RuleError(exc.message, exc.location) from None
