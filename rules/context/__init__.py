"""Incident context: reference joins, unit state, history, hierarchy scopes. Pure: inputs arrive as events."""

from rules.context.enricher import Enricher, EnricherSettings
from rules.context.errors import ContextError
from rules.context.runtime import ContextCorrelator
from rules.context.scopes import scope_ids, scoped_topics

__all__ = ["ContextCorrelator", "ContextError", "Enricher", "EnricherSettings", "scope_ids", "scoped_topics"]
