"""Live rule reload for the Kafka workers: rule files changed on disk are loaded and checked; an invalid rule
set is rejected with its file:line:col errors and the running rules keep running."""

from __future__ import annotations

import logging
from pathlib import Path

from rules.errors import RuleSetError
from rules.loader import RuleSet, load_rules
from streams.kafka.metrics import WorkerMetrics
from streams.partitioning import Mode, plan_for

log = logging.getLogger("saqshy.worker")


class RuleWatcher:
    def __init__(self, paths: tuple[Path, ...], partitioning: Mode, cell_m: float | None, metrics: WorkerMetrics):
        self.paths = paths
        self.partitioning = partitioning
        self.cell_m = cell_m
        self.metrics = metrics
        self.mtime = self._mtime()

    def load(self) -> RuleSet:
        return load_rules(list(self.paths))

    def _mtime(self) -> float:
        newest = 0.0
        for root in self.paths:
            files = [root] if root.is_file() else list(root.rglob("*.y*ml"))
            newest = max([newest, *(f.stat().st_mtime for f in files if f.exists())])
        return newest

    def changed(self) -> RuleSet | None:
        """The new rule set when the files changed and it is valid (for the same partitioning), else None.
        The caller counts it as applied once every partition runs it."""
        mtime = self._mtime()
        if mtime == self.mtime:
            return None
        self.mtime = mtime
        try:
            ruleset = self.load()
            plan_for(ruleset, self.partitioning, self.cell_m)
        except (RuleSetError, ValueError) as exc:
            self.metrics.rule_reloads.labels("rejected").inc()
            log.error("rules rejected, the running rules keep running:\n%s", exc)
            return None
        return ruleset

    def applied(self, ruleset: RuleSet) -> None:
        self.metrics.rule_reloads.labels("applied").inc()
        log.info("rules reloaded: %d rules", len(ruleset.rules))
