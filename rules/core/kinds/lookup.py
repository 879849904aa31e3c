"""lookup: join each selected event with a reference table as of its event time (exact or fuzzy key)."""

from __future__ import annotations

from typing import Any

from rules.core.buffer import Entry
from rules.core.kinds.base import Stateless
from rules.core.match import Match
from rules.model import LookupSpec


class LookupKind(Stateless):
    name = "lookup"

    def trigger(self, state: Any, entry: Entry) -> list[Match]:
        rule = self.rule
        key_fn = rule.lookup_key
        if entry.sel != rule.trigger_index or key_fn is None:
            return []
        key = key_fn(entry.ev)
        if not key:
            return []
        spec = rule.spec.correlate
        assert isinstance(spec, LookupSpec)
        found = self.reference.hotlist.lookup(key if type(key) is str else str(key), entry.ts, spec.fuzzy, entry.ev.id)
        if found is None or not self.inside_ok(entry):
            return []
        hit, distance = found
        name = rule.selections[entry.sel].name
        return [Match(entry, entry, {name: entry.ev}, [entry], entry.group, entry.ts, hit=hit, hit_distance=distance)]
