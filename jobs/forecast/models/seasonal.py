"""Seasonal historical average: each cell's share of the past, times a city-wide hour-of-week profile (daily
and weekly seasonality), times the cell's own day-of-week factor shrunk towards 1 when its counts are few.

expected(c, window) = share_c * sum over the window's hours s of rate * P[s] * F[c, dow(s)]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jobs.forecast.data import Array, Points
from jobs.forecast.grid import Grid
from jobs.forecast.models.base import Model

HOUR = 3600.0
SLOTS = 168  # hours of the week, Monday 00:00 first
PROFILE_PRIOR = 1.0  # pseudo-events pulling a thin hour-of-week slot towards the mean
DOW_PRIOR = 2.0  # pseudo-events pulling a cell's weekday factor towards 1


def week_slot(t: Array) -> Array:
    """Hour of the week (UTC) of epoch seconds; 1970-01-01 was a Thursday (weekday 3)."""
    hours = np.floor(t / HOUR).astype(np.int64)
    return np.asarray(((hours // 24 + 3) % 7) * 24 + hours % 24)


def hour_starts(start: float, end: float) -> Array:
    first = np.floor(start / HOUR) * HOUR
    return np.arange(first, end, HOUR)


class Seasonal(Model):
    name = "seasonal"

    def __init__(self, grid: Grid, window_days: float | None = None) -> None:
        super().__init__(grid)
        self.window_days = window_days
        self.rate = 0.0  # city points per hour
        self.profile = np.ones(SLOTS)
        self.share = np.zeros(len(grid))
        self.dow = np.ones((len(grid), 7))

    def fit(self, history: Points, until: float) -> None:
        if self.window_days:
            history = history.between(until - self.window_days * 86_400.0, until)
        pts = history.between(-np.inf, until)
        inside = pts.idx >= 0
        n = int(inside.sum())
        # Exposure from the midnight (UTC) before the first point: histories start on day boundaries.
        start = float(np.floor(pts.t[0] / 86_400.0) * 86_400.0) if len(pts) else until - HOUR
        exposure = np.bincount(week_slot(hour_starts(start, until)), minlength=SLOTS).astype(np.float64)
        slots = week_slot(pts.t[inside])
        counts = np.bincount(slots, minlength=SLOTS).astype(np.float64)
        self.rate = n / max(1.0, exposure.sum())
        base = exposure * self.rate
        profile = np.where(exposure > 0, (counts + PROFILE_PRIOR) / (base + PROFILE_PRIOR), 1.0)
        # The prior lends thin slots a little; take it back evenly so the profile keeps the history's total.
        self.profile = profile * (base.sum() / (base @ profile)) if base @ profile > 0 else profile
        cells = pts.idx[inside]
        per_cell = np.bincount(cells, minlength=len(self.grid)).astype(np.float64)
        self.share = per_cell / n if n else np.zeros(len(self.grid))
        # A cell's points per weekday against what the city profile expects of it on that weekday.
        per_day_city = np.bincount(np.arange(SLOTS) // 24, weights=base * self.profile, minlength=7)
        day_share = per_day_city / per_day_city.sum() if per_day_city.sum() > 0 else np.full(7, 1 / 7)
        observed = np.zeros((len(self.grid), 7))
        np.add.at(observed, (cells, slots // 24), 1.0)
        expected = per_cell[:, None] * day_share[None, :]
        dow = (observed + DOW_PRIOR) / (expected + DOW_PRIOR)
        self.dow = dow / (dow @ day_share)[:, None]  # a cell's week keeps its total: sum_d share_d F[c, d] = 1
        self.until = until
        self.fitted = True

    def predict(self, recent: Points, start: float, horizon_s: float) -> Array:
        self._require_fitted()
        w = np.bincount(week_slot(hour_starts(start, start + horizon_s)), minlength=SLOTS).astype(np.float64)
        per_day = np.bincount(np.arange(SLOTS) // 24, weights=w * self.profile * self.rate, minlength=7)
        return np.asarray(self.share * (self.dow @ per_day))

    def state(self) -> dict[str, Any]:
        return super().state() | {
            "window_days": self.window_days,
            "rate": self.rate,
            "profile": self.profile.tolist(),
            "share": self.share.tolist(),
            "dow": self.dow.tolist(),
        }

    def load(self, state: dict[str, Any]) -> None:
        super().load(state)
        self.window_days = state["window_days"]
        self.rate = float(state["rate"])
        self.profile = np.asarray(state["profile"], dtype=np.float64)
        self.share = np.asarray(state["share"], dtype=np.float64)
        self.dow = np.asarray(state["dow"], dtype=np.float64)
