"""The one interface every forecasting model implements, and the ranking every consumer of a forecast uses."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from jobs.forecast.data import DAY, Array, Points
from jobs.forecast.grid import Grid


class Model(ABC):
    """fit() on the points before `until`; predict() the expected count per grid cell in [start, start + horizon).

    predict() gets the points of the `lookback_s` before `start` (those after `until` too: a model fitted at
    night predicts at noon with the morning's points). State round-trips through JSON-able dicts.
    """

    name: ClassVar[str]

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.until = 0.0
        self.fitted = False

    @abstractmethod
    def fit(self, history: Points, until: float) -> None: ...

    @abstractmethod
    def predict(self, recent: Points, start: float, horizon_s: float) -> Array: ...

    def lookback_s(self, horizon_s: float) -> float:
        return 0.0

    def state(self) -> dict[str, Any]:
        return {"until": self.until}

    def load(self, state: dict[str, Any]) -> None:
        self.until = float(state["until"])
        self.fitted = True

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError(f"model {self.name} is not fitted")


def rank_cells(expected: Array, seed: int = 0) -> Array:
    """Cell indices from hottest to coolest; equal values in a seeded random order, never by cell id (an id
    order would put the same arbitrary cells first in every fold)."""
    tie = np.random.default_rng(seed).random(expected.shape[0])
    return np.asarray(np.lexsort((tie, -expected)))


def span_days(history: Points, until: float, default: float = 1.0) -> float:
    """Days covered by a history that ends at `until` (at least a day)."""
    if len(history) == 0:
        return default
    return max(1.0, (until - float(history.t[0])) / DAY)
