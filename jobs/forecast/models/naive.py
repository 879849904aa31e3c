"""Naive: the last period repeats. The forecast for the next H is the count per cell in the H before."""

from __future__ import annotations

from jobs.forecast.data import Array, Points
from jobs.forecast.models.base import Model


class Naive(Model):
    name = "naive"

    def fit(self, history: Points, until: float) -> None:
        self.until = until
        self.fitted = True

    def lookback_s(self, horizon_s: float) -> float:
        return horizon_s

    def predict(self, recent: Points, start: float, horizon_s: float) -> Array:
        self._require_fitted()
        return self.grid.counts(recent.between(start - horizon_s, start))
