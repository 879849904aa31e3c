"""Synthetic grids and point processes with known answers, for the model tests (no ClickHouse needed)."""

from __future__ import annotations

import numpy as np

from jobs.forecast.data import DAY, Array, Points
from jobs.forecast.grid import Grid
from rules.geo import metres_per_degree

LAT0, LON0 = 43.25, 76.9


def square_grid(side: int, spacing_km: float) -> Grid:
    """side x side square cells (fake ids 1..n) centred on (LAT0, LON0), each spacing_km wide."""
    ky, kx = (m / 1000.0 for m in metres_per_degree(LAT0))
    ij = np.arange(side) - (side - 1) / 2
    gx, gy = np.meshgrid(ij * spacing_km, ij * spacing_km)
    lat = LAT0 + gy.ravel() / ky
    lon = LON0 + gx.ravel() / kx
    n = side * side
    cells = np.arange(1, n + 1, dtype=np.uint64)
    return Grid(9, cells, lat, lon, np.full(n, spacing_km**2), [""] * n, LAT0, LON0)


def points_at(grid: Grid, t: Array, x: Array, y: Array) -> Points:
    """Points at local (x, y) km, sorted by time, each in the grid cell with the nearest centre."""
    order = np.argsort(t, kind="stable")
    t, x, y = t[order], x[order], y[order]
    ky, kx = grid.km_per_degree
    lat, lon = grid.lat0 + y / ky, grid.lon0 + x / kx
    nearest = np.array([int(np.argmin((grid.x - a) ** 2 + (grid.y - b) ** 2)) for a, b in zip(x, y, strict=True)])
    return grid.locate(Points(t, lat, lon, grid.cells[nearest] if len(t) else np.zeros(0, dtype=np.uint64)))


def hawkes(
    rng: np.random.Generator,
    *,
    mu_per_day: float,
    days: float,
    half_km: float,
    theta: float,
    omega: float,
    sigma: float,
) -> tuple[Array, Array, Array]:
    """A spatio-temporal Hawkes process simulated by its branching structure: uniform background on a square,
    each point has Poisson(theta) children, delays Exp(omega) days, offsets N(0, sigma^2) km per axis.
    Returns (t seconds, x km, y km) inside the window and square."""
    n0 = rng.poisson(mu_per_day * days)
    t = list(rng.uniform(0, days, n0))
    x = list(rng.uniform(-half_km, half_km, n0))
    y = list(rng.uniform(-half_km, half_km, n0))
    i = 0
    while i < len(t):
        for _ in range(rng.poisson(theta)):
            t.append(t[i] + rng.exponential(1 / omega))
            x.append(x[i] + rng.normal(0, sigma))
            y.append(y[i] + rng.normal(0, sigma))
        i += 1
    ta, xa, ya = np.array(t), np.array(x), np.array(y)
    keep = (ta < days) & (np.abs(xa) <= half_km) & (np.abs(ya) <= half_km)
    return ta[keep] * DAY, xa[keep], ya[keep]
