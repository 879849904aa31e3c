"""The models on synthetic data where the answer is known, and the evaluation's arithmetic by hand."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from jobs.forecast.data import DAY, Array, Points
from jobs.forecast.evaluate import daily_cuts, evaluate
from jobs.forecast.grid import Grid, convex_hull
from jobs.forecast.models import Etas, Kde, Model, Naive, Seasonal, make_model, rank_cells
from jobs.forecast.models.etas import near_pairs
from jobs.forecast.models.kernel import CellSpreader, spread
from jobs.forecast.models.seasonal import week_slot
from tests.forecast.synth import hawkes, points_at, square_grid

MONDAY = 1_543_795_200.0  # 2018-12-03 00:00 UTC


def test_etas_recovers_the_parameters_of_a_simulated_hawkes_process() -> None:
    rng = np.random.default_rng(11)
    # 8 background points a day over 12 x 12 km: sparse enough for the smoothed background not to soak up the
    # clusters (at 4x this density theta comes out ~20% low: docs/forecast.md).
    t, x, y = hawkes(rng, mu_per_day=8.0, days=250.0, half_km=6.0, theta=0.5, omega=0.4, sigma=0.2)
    grid = square_grid(48, 0.25)
    pts = points_at(grid, t, x, y)
    model = Etas(grid, time_cut_days=40.0, space_cut_km=1.5, background_km=1.0)
    model.fit(pts, 250.0 * DAY)
    assert model.converged
    assert model.theta == pytest.approx(0.5, abs=0.08)
    assert model.omega == pytest.approx(0.4, rel=0.2)
    assert model.sigma == pytest.approx(0.2, rel=0.15)
    # The background rate it found is the simulated one (8 a day over the square), give or take the edges.
    assert model.mu.sum() == pytest.approx(8.0, rel=0.2)


def test_etas_forecast_is_background_plus_the_decay_of_recent_points() -> None:
    grid = square_grid(10, 0.3)
    model = Etas(grid)
    model.theta, model.omega, model.sigma = 0.5, 1.0, 0.1
    model.mu = np.zeros(len(grid))
    model.fitted = True
    parent = points_at(grid, np.array([MONDAY - DAY]), np.array([0.15]), np.array([0.15]))
    out = model.predict(parent, MONDAY, DAY)
    # Offspring expected in [1 day, 2 days) after the parent: theta (e^-1 - e^-2), all near it.
    assert out.sum() == pytest.approx(0.5 * (np.exp(-1) - np.exp(-2)), rel=1e-6)
    assert int(np.argmax(out)) == int(parent.idx[0])


def test_kde_ranks_a_planted_hotspot_first() -> None:
    rng = np.random.default_rng(3)
    grid = square_grid(20, 0.2)
    n_noise, n_hot = 600, 80
    x = np.concatenate([rng.uniform(-2, 2, n_noise), rng.normal(1.1, 0.04, n_hot)])
    y = np.concatenate([rng.uniform(-2, 2, n_noise), rng.normal(-0.7, 0.04, n_hot)])
    t = MONDAY + rng.uniform(0, 20 * DAY, x.size)
    pts = points_at(grid, t, x, y)
    model = Kde(grid, bandwidth_km=0.2)
    model.fit(pts, MONDAY + 20 * DAY)
    out = model.predict(pts, MONDAY + 20 * DAY, DAY)
    hot = int(np.argmin((grid.x - 1.1) ** 2 + (grid.y + 0.7) ** 2))  # a cell centre
    assert int(rank_cells(out)[0]) == hot
    assert out.sum() == pytest.approx((n_noise + n_hot) / (20 * DAY - (pts.t[0] - MONDAY)) * DAY)  # daily rate


def test_naive_repeats_the_last_period() -> None:
    grid = square_grid(4, 1.0)
    t = np.array([MONDAY - 3 * DAY, MONDAY - 0.5 * DAY, MONDAY - 0.2 * DAY, MONDAY + 1.0])
    pts = points_at(grid, t, np.array([1.5, -1.5, -1.5, 0.5]), np.array([1.5, -1.5, -1.5, 0.5]))
    model = Naive(grid)
    model.fit(pts.between(-np.inf, MONDAY), MONDAY)
    out = model.predict(pts, MONDAY, DAY)
    assert out.sum() == 2 and out.max() == 2  # the two of the last day, in one cell; not the future one


def test_seasonal_average_reproduces_a_planted_weekly_pattern() -> None:
    grid = square_grid(4, 1.0)
    rng = np.random.default_rng(5)
    weeks = 4
    # Cell A: 40 points every Monday; cell B: 40 every Thursday; all at 10:00-11:00 UTC.
    monday_t = [MONDAY + w * 7 * DAY + 10 * 3600 + rng.uniform(0, 3600) for w in range(weeks) for _ in range(40)]
    thursday_t = [
        MONDAY + (w * 7 + 3) * DAY + 10 * 3600 + rng.uniform(0, 3600) for w in range(weeks) for _ in range(40)
    ]
    t = np.array(monday_t + thursday_t)
    x = np.array([-1.5] * len(monday_t) + [1.5] * len(thursday_t))
    pts = points_at(grid, t, x, x)
    until = MONDAY + weeks * 7 * DAY
    model = Seasonal(grid)
    model.fit(pts, until)
    a, b = int(pts.idx[0]), int(pts.idx[-1])
    monday = model.predict(pts, until, DAY)
    thursday = model.predict(pts, until + 3 * DAY, DAY)
    assert monday[a] > 3 * monday[b] and thursday[b] > 3 * thursday[a]
    week = model.predict(pts, until, 7 * DAY)
    assert week.sum() == pytest.approx(80.0)  # one week's worth
    assert week[a] == pytest.approx(40.0) and week[b] == pytest.approx(40.0)
    # The city's hour-of-day profile: almost nothing is expected outside 10:00-11:00.
    night = model.predict(pts, until + 3 * DAY, 10 * 3600)
    assert night.sum() < 0.2 * thursday.sum()
    assert week_slot(np.array([MONDAY, MONDAY + 3 * DAY + 10 * 3600]))[1] == 3 * 24 + 10


class Fixed(Model):
    """A model whose forecast is given: to check the scoring arithmetic on its own."""

    name = "fixed"
    values: Array = np.zeros(0)

    def fit(self, history: Points, until: float) -> None:
        self.fitted = True

    def predict(self, recent: Points, start: float, horizon_s: float) -> Array:
        return self.values


def test_hit_rate_and_pai_by_hand() -> None:
    grid = square_grid(10, 1.0)  # 100 cells: 1% = 1 cell, 5% = 5, 10% = 10
    values = np.zeros(100)
    values[[7, 3, 55, 60, 61, 62, 63, 64, 65]] = [9, 8, 7, 6, 5, 4, 3, 2, 1]  # ranks: 7, 3, 55, 60 ... 65
    Fixed.values = values

    def at(cells: list[int]) -> tuple[Array, Array]:
        return grid.x[cells], grid.y[cells]

    past = [5]
    future = [7, 7, 55, 64, 99]  # top-1: 2 hits; top-5 (7, 3, 55, 60, 61): 3; top-10 (.. 65): 4
    x, y = at(past + future)
    t = np.array([MONDAY - DAY] + [MONDAY + 3600.0 * k for k in range(1, 6)])
    pts = points_at(grid, t, x, y)
    ev = evaluate(pts, grid, ["fixed"], DAY, [MONDAY], factory=lambda n, g: Fixed(g))
    s = ev.scores["fixed"]
    assert (s.events, s.hits) == (5, {1: 2, 5: 3, 10: 4})
    assert s.hit_rate(1) == pytest.approx(0.4) and s.pai(1) == pytest.approx(40.0)
    assert s.pai(5) == pytest.approx(0.6 / 0.05) and s.pai(10) == pytest.approx(0.8 / 0.10)
    assert "| fixed | 40.0% | 40.00 | 60.0% | 12.00 | 80.0% | 8.00 |" in ev.table()


def test_ties_are_broken_by_a_seeded_shuffle() -> None:
    flat = np.zeros(50)
    flat[10] = 1.0
    a, b, c = rank_cells(flat, 1), rank_cells(flat, 1), rank_cells(flat, 2)
    assert a[0] == 10 and (a == b).all() and not (a == c).all()


def test_near_pairs_equal_brute_force_and_the_cap_lowers_the_time_cut() -> None:
    rng = np.random.default_rng(2)
    t = np.sort(rng.uniform(0, 20, 400))
    x, y = rng.uniform(0, 3, 400), rng.uniform(0, 3, 400)
    p = near_pairs(t, x, y, 5.0, 0.8, 10**9)
    brute = {
        (i, j)
        for i, j in itertools.product(range(400), repeat=2)
        if 0 < t[i] - t[j] <= 5.0 and (x[i] - x[j]) ** 2 + (y[i] - y[j]) ** 2 <= 0.64
    }
    assert set(zip(p.child.tolist(), p.parent.tolist(), strict=True)) == brute
    capped = near_pairs(t, x, y, 5.0, 0.8, len(brute) // 2)
    assert capped.child.size == len(brute) // 2 and capped.time_cut < 5.0 and capped.dt.max() <= capped.time_cut


def test_spreading_keeps_the_mass() -> None:
    grid = square_grid(12, 0.2)
    w = np.zeros(len(grid))
    w[[0, 40, 77]] = [1.0, 2.5, 4.0]
    assert CellSpreader(grid, 0.3)(w).sum() == pytest.approx(7.5)
    sx, sy = np.array([0.0, 50.0]), np.array([0.0, 50.0])  # the second is far outside: goes to the nearest cell
    out = spread(grid, sx, sy, np.array([1.0, 2.0]), 0.01)
    assert out.sum() == pytest.approx(3.0)


@pytest.mark.parametrize("name", ["naive", "seasonal", "kde", "etas"])
def test_state_round_trip(name: str) -> None:
    rng = np.random.default_rng(8)
    grid = square_grid(8, 0.3)
    t = MONDAY + np.sort(rng.uniform(0, 14 * DAY, 300))
    pts = points_at(grid, t, rng.normal(0, 0.6, 300), rng.normal(0, 0.6, 300))
    until = MONDAY + 14 * DAY
    model = make_model(name, grid)
    model.fit(pts, until)
    state: dict[str, Any] = model.state()
    again = make_model(name, grid)
    again.load(state)
    assert np.allclose(model.predict(pts, until, DAY), again.predict(pts, until, DAY))


def test_convex_hull_and_daily_cuts() -> None:
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2], [1, 1], [0.5, 1.5]], dtype=float)
    assert sorted(convex_hull(square)) == [(0.0, 0.0), (0.0, 2.0), (2.0, 0.0), (2.0, 2.0)]
    grid: Grid = square_grid(2, 1.0)
    pts = points_at(grid, MONDAY + np.array([0.3, 5.5, 9.9]) * DAY, np.zeros(3), np.zeros(3))
    assert daily_cuts(pts, DAY, 7) == [MONDAY + 7 * DAY, MONDAY + 8 * DAY]
    assert daily_cuts(pts, 7 * DAY, 7) == []
