"""Kernel density hotspots: a fixed-bandwidth Gaussian KDE of past points at the cell centres, optionally with
older points down-weighted (half-life), scaled to the recent daily rate."""

from __future__ import annotations

from typing import Any

import numpy as np

from jobs.forecast.data import DAY, Array, Points
from jobs.forecast.grid import Grid
from jobs.forecast.models.base import Model, span_days
from jobs.forecast.models.kernel import smooth

RATE_WINDOW_DAYS = 28.0


class Kde(Model):
    name = "kde"

    def __init__(self, grid: Grid, bandwidth_km: float = 0.2, half_life_days: float | None = None) -> None:
        super().__init__(grid)
        self.bandwidth_km = bandwidth_km
        self.half_life_days = half_life_days
        self.share = np.zeros(len(grid))  # fraction of the expected count in each cell (sums to 1)
        self.per_day = 0.0

    def fit(self, history: Points, until: float) -> None:
        inside = history.idx >= 0
        w = np.ones(int(inside.sum()))
        if self.half_life_days:
            w = np.exp(-np.log(2.0) * (until - history.t[inside]) / (self.half_life_days * DAY))
        per_cell = np.bincount(history.idx[inside], weights=w, minlength=len(self.grid))
        mass = smooth(self.grid, per_cell, self.bandwidth_km) * self.grid.area_km2
        self.share = mass / mass.sum() if mass.sum() > 0 else np.full(len(self.grid), 1.0 / max(1, len(self.grid)))
        recent = history.between(until - RATE_WINDOW_DAYS * DAY, until)
        self.per_day = len(recent) / min(RATE_WINDOW_DAYS, span_days(history, until))
        self.until = until
        self.fitted = True

    def predict(self, recent: Points, start: float, horizon_s: float) -> Array:
        self._require_fitted()
        return np.asarray(self.share * self.per_day * horizon_s / DAY)

    def state(self) -> dict[str, Any]:
        return super().state() | {
            "bandwidth_km": self.bandwidth_km,
            "half_life_days": self.half_life_days,
            "per_day": self.per_day,
            "share": self.share.tolist(),
        }

    def load(self, state: dict[str, Any]) -> None:
        super().load(state)
        self.bandwidth_km = float(state["bandwidth_km"])
        self.half_life_days = state["half_life_days"]
        self.per_day = float(state["per_day"])
        self.share = np.asarray(state["share"], dtype=np.float64)
