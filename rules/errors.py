"""Errors of the rule language and the core. Every rule error names its file, line and column."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """1-based line and column in a rule file."""

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


class RuleSetError(SaqshyError):
    """Several rule errors at once: a lint run reports all of them, not just the first."""

    def __init__(self, errors: list[RuleError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class ExprError(SaqshyError):
    """A problem in an expression, at a character offset inside the expression text."""

    def __init__(self, message: str, offset: int):
        self.message = message
        self.offset = offset
        super().__init__(f"{message} (at offset {offset})")


class CoreError(SaqshyError):
    """A misuse of the correlation core (e.g. restoring a snapshot of an unknown format)."""
