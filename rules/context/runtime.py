"""ContextCorrelator: the one entry point a runtime calls. The Correlator's contract, enriched.

    on_event(event, replica=False, ts=None) -> [Incident]   incidents carry `context` (and `admin`)
    on_watermark(t) -> [Incident]                            same
    observe(event)                                           a unit fix for the unit board alone (spatial
                                                             partitions get every fix: streams/partitioning.py)
    next_deadline() / is_late(event) / take_late()           as the Correlator
    take_alerts() -> [PublicAlert]                           public alerts decided since the last call
    snapshot() -> bytes / restore(bytes)                     core and enrichment state together

Enrichment runs per incident update, not per event: the per-event cost is one type test and, for unit
GPS and calls, a dict update.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from rules.alerts.policy import AlertPolicy
from rules.context.enricher import Enricher, EnricherSettings
from rules.context.errors import ContextError
from rules.context.units import UnitBoard
from rules.core.engine import Correlator, LateDrop
from rules.loader import RuleSet
from schemas import Incident, PublicAlert

SNAPSHOT_FORMAT = "saqshy.context-core.snapshot"
_OBSERVED = frozenset({"unit.gps", "call.112"})


class ContextCorrelator:
    def __init__(
        self,
        ruleset: RuleSet,
        max_out_of_orderness: float | None = None,
        settings: EnricherSettings | None = None,
        alerts: AlertPolicy | None = None,
        units: UnitBoard | None = None,
    ) -> None:
        self.core = Correlator(ruleset, max_out_of_orderness)
        self.enricher = Enricher(ruleset.reference, settings, alerts, units)

    @property
    def stats(self) -> Any:
        return self.core.stats

    @property
    def watermark(self) -> float:
        return self.core.watermark

    def _enrich(self, out: list[Incident]) -> list[Incident]:
        return [self.enricher.enrich(inc) for inc in out] if out else out

    def on_event(self, event: Any, replica: bool = False, ts: float | None = None) -> list[Incident]:
        if event.type in _OBSERVED:
            # before the core, so an incident this event opens already sees it (its call's address, the
            # unit fix); duplicates are harmless (latest fix / keyed by event id)
            self.enricher.on_event(event, ts)
        return self._enrich(self.core.on_event(event, replica, ts))

    def observe(self, event: Any, ts: float | None = None) -> None:
        """A unit fix that is no input of this core (another spatial partition owns it), for the unit board: the
        nearest units are answered from the whole fleet on every partition."""
        if event.type == "unit.gps":
            self.enricher.on_event(event, ts)

    def on_watermark(self, t: datetime | float) -> list[Incident]:
        return self._enrich(self.core.on_watermark(t))

    def next_deadline(self) -> datetime | None:
        return self.core.next_deadline()

    def is_late(self, event: Any) -> bool:
        return self.core.is_late(event)

    def take_late(self) -> list[LateDrop]:
        return self.core.take_late()

    @property
    def has_late(self) -> bool:
        return bool(self.core._late)

    @property
    def _late(self) -> list[LateDrop]:
        """Drop-in for runners that test `core._late` before calling take_late() (the embedded, live)."""
        return self.core._late

    @property
    def reference(self) -> Any:
        return self.core.reference

    def overflow(self) -> dict[str, int]:
        return self.core.overflow()

    def state_size(self) -> dict[str, int]:
        sizes = self.core.state_size()
        sizes["_units"] = len(self.enricher.units)
        sizes["_history"] = len(self.enricher.history)
        return sizes

    def take_alerts(self) -> list[PublicAlert]:
        return self.enricher.take_alerts()

    def snapshot(self) -> bytes:
        return orjson.dumps(
            {
                "format": SNAPSHOT_FORMAT,
                "core": self.core.snapshot().decode(),
                "context": self.enricher.snapshot().decode(),
            }
        )

    def restore(self, data: bytes) -> None:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ContextError(f"not a snapshot: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
            raise ContextError("not a context-core snapshot (missing format marker)")
        self.core.restore(doc["core"].encode())
        self.enricher.restore(doc["context"].encode())
