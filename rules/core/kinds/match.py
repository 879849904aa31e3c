"""match: one selected event is enough."""

from __future__ import annotations

from typing import Any

from rules.core.buffer import Entry
from rules.core.kinds.base import Stateless
from rules.core.match import Match


class MatchKind(Stateless):
    name = "match"

    def trigger(self, state: Any, entry: Entry) -> list[Match]:
        if entry.sel != self.rule.trigger_index or not self.inside_ok(entry):
            return []
        return [Match(entry, entry, {self.rule.selections[entry.sel].name: entry.ev}, [entry], entry.group, entry.ts)]
