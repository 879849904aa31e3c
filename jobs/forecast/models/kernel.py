"""Gaussian kernel sums over the grid, in blocks so memory stays at a few MB whatever the city's size."""

from __future__ import annotations

import numpy as np

from jobs.forecast.data import Array
from jobs.forecast.grid import Grid

BLOCK = 1024
CUT_SIGMAS = 4.0  # beyond 4 bandwidths a Gaussian kernel is < 0.04% of its peak


def smooth(grid: Grid, weights: Array, bandwidth_km: float) -> Array:
    """Density (per km2) at every cell centre of points weighted `weights` placed at the cell centres."""
    src = np.flatnonzero(weights)
    out = np.zeros(len(grid))
    if src.size == 0:
        return out
    sx, sy, sw = grid.x[src], grid.y[src], weights[src]
    return gaussian_at(grid.x, grid.y, sx, sy, sw, bandwidth_km)


def gaussian_at(qx: Array, qy: Array, sx: Array, sy: Array, sw: Array, bandwidth_km: float) -> Array:
    """sum_j sw_j N2(q - s_j; bandwidth) at each query point (isotropic 2-D normal density, per km2)."""
    out = np.zeros(qx.shape[0])
    h2 = bandwidth_km * bandwidth_km
    cut = (CUT_SIGMAS * bandwidth_km) ** 2
    norm = 1.0 / (2.0 * np.pi * h2)
    for lo in range(0, qx.shape[0], BLOCK):
        dx = qx[lo : lo + BLOCK, None] - sx[None, :]
        dy = qy[lo : lo + BLOCK, None] - sy[None, :]
        d2 = dx * dx + dy * dy
        k = np.where(d2 < cut, np.exp(-0.5 * d2 / h2), 0.0)
        out[lo : lo + BLOCK] = norm * (k @ sw)
    return out


def spread(grid: Grid, sx: Array, sy: Array, sw: Array, bandwidth_km: float) -> Array:
    """Each source's weight shared among the cells in proportion to its Gaussian kernel at the cell centres times
    the cell area, so the total is kept however coarse the grid is against the bandwidth (a source whose kernel
    reaches no centre goes whole to the nearest cell)."""
    out = np.zeros(len(grid))
    if sx.size == 0 or len(grid) == 0:
        return out
    h2 = bandwidth_km * bandwidth_km
    cut = (CUT_SIGMAS * max(bandwidth_km, 1e-6)) ** 2
    step = max(1, (4 << 20) // max(1, len(grid)))  # sources per block: about 4 M kernel values at a time
    for lo in range(0, sx.size, step):
        dx = grid.x[:, None] - sx[None, lo : lo + step]
        dy = grid.y[:, None] - sy[None, lo : lo + step]
        d2 = dx * dx + dy * dy
        k = np.where(d2 < cut, np.exp(-0.5 * d2 / h2), 0.0) * grid.area_km2[:, None]
        total = k.sum(axis=0)
        lost = total <= 0
        if lost.any():
            cols = np.flatnonzero(lost)
            k[np.argmin(d2[:, cols], axis=0), cols] = 1.0
            total[cols] = 1.0
        out += k @ (sw[lo : lo + step] / total)
    return out


class CellSpreader:
    """`spread` from cell centres to cell centres as a precomputed sparse matrix: built once per grid and
    bandwidth, then each spreading of new weights (every EM iteration) is one weighted bincount."""

    def __init__(self, grid: Grid, bandwidth_km: float) -> None:
        h2 = bandwidth_km * bandwidth_km
        cut = (CUT_SIGMAS * bandwidth_km) ** 2
        rows: list[Array] = []
        cols: list[Array] = []
        vals: list[Array] = []
        n = len(grid)
        for lo in range(0, n, BLOCK):
            dx = grid.x[:, None] - grid.x[None, lo : lo + BLOCK]
            dy = grid.y[:, None] - grid.y[None, lo : lo + BLOCK]
            d2 = dx * dx + dy * dy
            r, c = np.nonzero(d2 < cut)
            v = np.exp(-0.5 * d2[r, c] / h2) * grid.area_km2[r]
            total = np.bincount(c, weights=v, minlength=d2.shape[1])  # a cell always reaches itself: > 0
            rows.append(r)
            cols.append(c + lo)
            vals.append(v / total[c])
        self.n = n
        self.rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        self.cols = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        self.vals = np.concatenate(vals) if vals else np.zeros(0)

    def __call__(self, weights: Array) -> Array:
        """Mass-preserving: the output sums to weights.sum()."""
        return np.bincount(self.rows, weights=self.vals * weights[self.cols], minlength=self.n)
