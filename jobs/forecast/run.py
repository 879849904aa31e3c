"""The forecasting jobs over the archive, as the command line and the benchmark run them: fit, predict, evaluate."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from jobs.archive.errors import ArchiveError
from jobs.forecast.data import DAY, Array, Selection, horizon_seconds, load_points, time_range
from jobs.forecast.evaluate import Evaluation, daily_cuts, evaluate
from jobs.forecast.grid import build_grid
from jobs.forecast.models import Model, make_model
from jobs.forecast.store import ForecastRun, load_model, save_model, write_forecast


@dataclass
class Fitted:
    model: Model
    events: int
    fit_s: float

    def summary(self) -> dict[str, Any]:
        scalars = {
            k: (float(v) if isinstance(v, float) else v)  # numpy floats are floats, but not to orjson
            for k, v in self.model.state().items()
            if isinstance(v, (int, float, str, bool)) or v is None
        }
        until = datetime.fromtimestamp(self.model.until, UTC).isoformat()
        return {"model": self.model.name, "events": self.events, "cells": len(self.model.grid), "fit_s": self.fit_s} | (
            scalars | {"until": until}
        )


def data_end(client: Client, db: str, sel: Selection) -> datetime:
    span = time_range(client, db, sel)
    if span is None:
        raise ArchiveError(f"the archive has no located {sel.layer} for this selection")
    return span[1] + timedelta(seconds=1)


def fit(
    client: Client,
    db: str,
    sel: Selection,
    models: Sequence[str],
    *,
    until: datetime | None = None,
    history_days: float | None = None,
    save: bool = True,
) -> list[Fitted]:
    """Fit each model on the points before `until` (default: just after the archive's last one)."""
    until = until or data_end(client, db, sel)
    grid = build_grid(client, db, sel)
    start = until - timedelta(days=history_days) if history_days else None
    pts = grid.locate(load_points(client, db, sel, start, until))
    if len(pts) == 0:
        raise ArchiveError(f"no {sel.layer} before {until.isoformat()} to fit on")
    out: list[Fitted] = []
    for name in models:
        model = make_model(name, grid)
        t0 = time.perf_counter()
        model.fit(pts, until.timestamp())
        fitted = Fitted(model, len(pts), round(time.perf_counter() - t0, 3))
        if save:
            save_model(client, db, sel, model, events=len(pts), fit_s=fitted.fit_s)
        out.append(fitted)
    return out


@dataclass
class Prediction:
    model: Model
    horizon: str
    start: datetime
    end: datetime
    expected: Array
    predict_s: float
    run: ForecastRun | None


def predict(
    client: Client,
    db: str,
    sel: Selection,
    name: str,
    horizon: str,
    *,
    at: datetime | None = None,
    model: Model | None = None,
    save: bool = True,
    seed: int = 0,
) -> Prediction:
    """Predict from the latest saved fit (or `model`) for [at, at + horizon); `at` defaults to the fit's end."""
    h = horizon_seconds(horizon)
    model = model or load_model(client, db, sel, name)
    start = at or datetime.fromtimestamp(model.until, UTC)
    if start.timestamp() < model.until - 1.0:
        raise ArchiveError(
            f"the {name} fit saw data up to {datetime.fromtimestamp(model.until, UTC).isoformat()}, after "
            f"{start.isoformat()}: refit with --until {start:%Y-%m-%dT%H:%M:%S} to forecast from then"
        )
    end = start + timedelta(seconds=h)
    t0 = time.perf_counter()
    look = model.lookback_s(h)
    recent = model.grid.locate(load_points(client, db, sel, start - timedelta(seconds=look), start))
    expected = model.predict(recent, start.timestamp(), h)
    took = time.perf_counter() - t0
    run = write_forecast(client, db, sel, model, horizon, start, end, expected, seed=seed) if save else None
    return Prediction(model, horizon, start, end, expected, round(took, 3), run)


def evaluate_archive(
    client: Client,
    db: str,
    sel: Selection,
    models: Sequence[str],
    horizon: str,
    *,
    warmup_days: float = 7.0,
    max_folds: int | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Rolling-origin evaluation over everything the archive holds for the selection (cuts at UTC midnights)."""
    h = horizon_seconds(horizon)
    grid = build_grid(client, db, sel)
    pts = grid.locate(load_points(client, db, sel))
    cuts = daily_cuts(pts, h, warmup_days)
    if max_folds is not None:
        cuts = cuts[-max_folds:]
    if not cuts:
        days = (pts.t[-1] - pts.t[0]) / DAY if len(pts) else 0.0
        raise ArchiveError(
            f"{days:.1f} days of data: too short to evaluate a {horizon} horizon after {warmup_days:g} warm-up days"
        )
    return evaluate(pts, grid, models, h, cuts, seed=seed, progress=progress)
