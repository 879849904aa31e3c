"""Self-exciting point process (ETAS / Hawkes, in the style of Mohler et al. 2015) fitted by EM.

    lambda(t, x) = mu(x) + sum_{t_j < t} theta * omega * exp(-omega (t - t_j)) * N2(x - x_j; sigma)

mu(x) is the background, a fixed-bandwidth Gaussian smoothing of the points weighted by their probability of
being background; the sum is near-repeat triggering. The E-step gives each point the probability that it is
background or was triggered by each earlier point within the cutoffs (time_cut_days, space_cut_km); the M-step
has closed forms for theta (offspring per point, corrected for the part of the kernel cut off), omega (1/mean
delay) and sigma (mean squared distance / 2). Times in days, distances in km.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from jobs.forecast.data import DAY, Array, Points
from jobs.forecast.grid import Grid
from jobs.forecast.models.base import Model, span_days
from jobs.forecast.models.kernel import CellSpreader, spread

BLOCK = 512
PAIR_SIGMAS = 6.0


@dataclass
class Pairs:
    child: Array  # int32 index of the later point
    parent: Array  # int32 index of the earlier point
    dt: Array  # float64 days, > 0
    d2: Array  # float64 km2
    time_cut: float  # the cutoff in effect (lowered when the pairs were capped)


def near_pairs(t: Array, x: Array, y: Array, time_cut: float, space_cut: float, cap: int) -> Pairs:
    """Every (later, earlier) pair closer than the cutoffs; t sorted ascending (days). Over `cap` pairs the time
    cutoff is lowered to the delay that keeps `cap` of them (so EM stays bounded for any city)."""
    out: list[tuple[Array, ...]] = []
    s2 = space_cut * space_cut
    t32, x, y = t.astype(np.float32), x.astype(np.float32), y.astype(np.float32)  # half the memory traffic
    total = 0
    for lo in range(0, t.size, BLOCK):
        hi = min(t.size, lo + BLOCK)
        first = int(np.searchsorted(t, t[lo] - time_cut, side="left"))
        dt = t32[lo:hi, None] - t32[None, first:hi]
        dx = x[lo:hi, None] - x[None, first:hi]
        dy = y[lo:hi, None] - y[None, first:hi]
        d2 = dx * dx + dy * dy
        ci, pj = np.nonzero((dt > 0) & (dt <= time_cut) & (d2 <= s2))
        out.append((ci + lo, pj + first, dt[ci, pj], d2[ci, pj]))
        total += ci.size
    child, parent, dts, d2s = (np.concatenate([o[k] for o in out]) if out else np.zeros(0) for k in range(4))
    if total > cap:
        time_cut = float(np.partition(dts, cap - 1)[cap - 1])
        keep = dts <= time_cut
        child, parent, dts, d2s = child[keep], parent[keep], dts[keep], d2s[keep]
        print(f"etas: {total:,} pairs over the cap {cap:,}; time cutoff now {time_cut:.2f} days", file=sys.stderr)
    return Pairs(child.astype(np.int32), parent.astype(np.int32), dts.astype(float), d2s.astype(float), time_cut)


class Etas(Model):
    name = "etas"

    def __init__(
        self,
        grid: Grid,
        *,
        time_cut_days: float = 30.0,
        space_cut_km: float = 1.0,
        background_km: float = 0.3,
        min_sigma_km: float = 0.05,
        iterations: int = 60,
        tol: float = 1e-4,
        max_pairs: int = 20_000_000,
    ) -> None:
        super().__init__(grid)
        self.time_cut = time_cut_days
        self.space_cut = space_cut_km
        self.background_km = background_km
        self.min_sigma = min_sigma_km
        self.iterations = iterations
        self.tol = tol
        self.max_pairs = max_pairs
        self.theta, self.omega, self.sigma = 0.2, 1.0, 0.2  # starting values; fit() warm-starts from the last fit
        self.mu = np.zeros(len(grid))  # background points per day in each cell
        self.n_iter = 0
        self.converged = False
        self.background_share = 1.0
        self._spreader: CellSpreader | None = None

    def fit(self, history: Points, until: float) -> None:
        pts = history.between(-np.inf, until)
        pts = Points(*(a[pts.idx >= 0] for a in (pts.t, pts.lat, pts.lon, pts.cell, pts.idx, pts.x, pts.y)))
        t = (pts.t - until) / DAY  # days, <= 0
        horizon = span_days(pts, until)  # the observed window [until - horizon, until)
        pairs = near_pairs(t, pts.x, pts.y, self.time_cut, self.space_cut, self.max_pairs)
        cell_area = self.grid.area_km2[pts.idx]
        if self._spreader is None:
            self._spreader = CellSpreader(self.grid, self.background_km)
        if self.theta <= 0.01:  # a warm start from "no triggering" would never leave it (g = 0 everywhere)
            self.theta = 0.2
        p_bg = np.ones(len(pts))
        self.mu = self._background(pts, p_bg, horizon)
        # Pairs by distance: an iteration only looks at those within PAIR_SIGMAS sigmas (the rest have p < e^-18).
        order = np.argsort(pairs.d2, kind="stable")
        child, dt, d2 = pairs.child[order], pairs.dt[order], pairs.d2[order]
        self.converged = False
        for it in range(1, self.iterations + 1):
            reach = min(self.space_cut, PAIR_SIGMAS * self.sigma)
            k = int(np.searchsorted(d2, reach * reach, side="right"))
            # E-step: background density at each point against the triggering from each earlier neighbour.
            mu_at = self.mu[pts.idx] / cell_area
            s2 = self.sigma * self.sigma
            g = (self.theta * self.omega / (2 * np.pi * s2)) * np.exp(-self.omega * dt[:k] - 0.5 * d2[:k] / s2)
            lam = mu_at + np.bincount(child[:k], weights=g, minlength=len(pts))
            p_pair = g / lam[child[:k]]
            p_bg = mu_at / lam
            # M-step: closed forms.
            s = float(p_pair.sum())
            old = (self.theta, self.omega, self.sigma)
            if s > 1e-9:
                self.omega = s / max(float(p_pair @ dt[:k]), 1e-9)
                self.sigma = max(self.min_sigma, float(np.sqrt((p_pair @ d2[:k]) / (2 * s))))
                time_left = np.minimum(-t, pairs.time_cut)
                captured = (1 - np.exp(-self.omega * time_left)) * (1 - np.exp(-0.5 * reach**2 / self.sigma**2))
                self.theta = min(0.99, s / max(float(captured.sum()), 1e-9))
            else:
                self.theta = 0.0
            self.mu = self._background(pts, p_bg, horizon)
            self.n_iter = it
            new = (self.theta, self.omega, self.sigma)
            if max(abs(a - b) / max(abs(b), 1e-9) for a, b in zip(new, old, strict=True)) < self.tol:
                self.converged = True
                break
        self.background_share = float(p_bg.mean()) if len(pts) else 1.0
        self.until = until
        self.fitted = True

    def _background(self, pts: Points, weights: Array, horizon_days: float) -> Array:
        """Background points per day per cell: each point's weight placed at its cell's centre, then smoothed."""
        assert self._spreader is not None
        per_cell = np.bincount(pts.idx, weights=weights, minlength=len(self.grid))
        return self._spreader(per_cell) / horizon_days

    def lookback_s(self, horizon_s: float) -> float:
        # Older parents add less than e^-12 of their offspring: not worth reading.
        return min(self.time_cut, 12.0 / max(self.omega, 1e-6)) * DAY

    def predict(self, recent: Points, start: float, horizon_s: float) -> Array:
        self._require_fitted()
        h = horizon_s / DAY
        past = recent.between(start - self.lookback_s(horizon_s), start)
        age = (start - past.t) / DAY
        weight = self.theta * (np.exp(-self.omega * age) - np.exp(-self.omega * (age + h)))
        # Points of the period itself trigger more within it: each background point has theta / (1 - theta)
        # descendants, of which the share 1 - (1 - e^-wh) / wh falls inside a period of h days (kept in the
        # background's cells: sigma is far below the cell size once fitted on city data).
        wh = self.omega * h
        inside = 1.0 - (1.0 - np.exp(-wh)) / wh if wh > 0 else 0.0
        cascade = self.theta / (1.0 - self.theta) * inside if self.theta < 1 else 0.0
        background = self.mu * h * (1.0 + cascade)
        return np.asarray(background + spread(self.grid, past.x, past.y, weight, self.sigma))

    def state(self) -> dict[str, Any]:
        return super().state() | {
            "theta": self.theta,
            "omega_per_day": self.omega,
            "sigma_km": self.sigma,
            "background_km": self.background_km,
            "time_cut_days": self.time_cut,
            "space_cut_km": self.space_cut,
            "iterations": self.n_iter,
            "converged": self.converged,
            "background_share": self.background_share,
            "mu": self.mu.tolist(),
        }

    def load(self, state: dict[str, Any]) -> None:
        super().load(state)
        self.theta = float(state["theta"])
        self.omega = float(state["omega_per_day"])
        self.sigma = float(state["sigma_km"])
        self.background_km = float(state["background_km"])
        self.time_cut = float(state["time_cut_days"])
        self.space_cut = float(state["space_cut_km"])
        self.mu = np.asarray(state["mu"], dtype=np.float64)
