"""Errors of the rule language and the core. Every rule error names its file, line and column."""

from __future__ import annotations

# Defined beside the YAML reader that rules and detectors share (schemas/yamlpos.py), re-exported here.
from schemas.yamlpos import SourceLocation as SourceLocation


class SaqshyError(Exception):
    """Root of every error raised by rules/ (the rule language and the core)."""


class RuleError(SaqshyError):
    """A problem in a rule file, with where it is and (when known) which rule."""

    def __init__(self, message: str, location: SourceLocation | None = None, rule_id: str | None = None):
        self.message = message
        self.location = location
        self.rule_id = rule_id
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        rule = f"[{self.rule_id}] " if self.rule_id else ""
        return f"{where}{rule}{self.message}"


class RuleErrors(RuleError):
    """Several problems of one place at once (an expression with more than one wrong token)."""

    def __init__(self, errors: list[RuleError]):
        self.errors = errors
        super().__init__(errors[0].message, errors[0].location, errors[0].rule_id)


class RuleSetError(SaqshyError):
    """Several rule errors at once: a lint run reports all of them, not just the first."""

    def __init__(self, errors: list[RuleError], warnings: list[RuleError] | None = None):
        self.errors = errors
        self.warnings = warnings or []  # what lint also lists but does not refuse (rules without tests)
        super().__init__("\n".join(str(e) for e in errors))


class ExprError(SaqshyError):
    """A problem in an expression, at a character offset inside the expression text."""

    def __init__(self, message: str, offset: int):
        self.message = message
        self.offset = offset
        super().__init__(f"{message} (at offset {offset})")


class ExprErrors(ExprError):
    """Every problem of one expression, in the order of their offsets."""

    def __init__(self, errors: list[ExprError]):
        self.errors = sorted(errors, key=lambda e: e.offset)
        super().__init__(self.errors[0].message, self.errors[0].offset)


class CoreError(SaqshyError):
    """A misuse of the correlation core (e.g. restoring a snapshot of an unknown format)."""
