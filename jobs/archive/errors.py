"""One root exception for the archive (and the batch jobs built on it: crime map, backtest)."""

from __future__ import annotations


class ArchiveError(Exception):
    """Anything the archive cannot do; the message says what and where."""


class ArchiveUnavailable(ArchiveError):
    """ClickHouse cannot be reached or refused a write: retry later, nothing is lost."""


class MigrationError(ArchiveError):
    """A migration is invalid, was changed after it was applied, or failed."""
