"""The root exception of rules.context."""

from __future__ import annotations


class ContextError(ValueError):
    """Bad reference data, a bad snapshot or a bad setting of enrichment."""
