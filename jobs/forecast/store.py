"""Fitted models and forecasts in ClickHouse (infra/clickhouse/005_forecasts.sql): `forecast_models` keeps each
fit's state with its grid, `forecasts` each prediction per cell and per admin area."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from clickhouse_connect.driver.client import Client

from jobs.archive.errors import ArchiveError
from jobs.forecast.data import Array, Selection
from jobs.forecast.grid import Grid, grid_from_cells
from jobs.forecast.models import Model, make_model, rank_cells

FORECAST_COLUMNS = [
    "model", "horizon", "created_at", "run_id", "layer", "categories", "resolution", "period_start", "period_end",
    "level", "cell", "area", "expected", "rank", "area_fraction",
]  # fmt: skip


def save_model(client: Client, db: str, sel: Selection, model: Model, *, events: int, fit_s: float) -> datetime:
    fitted_at = datetime.now(UTC)
    state = model.state() | {
        "grid": {"resolution": model.grid.resolution, "cells": model.grid.cells.tolist(), "areas": model.grid.areas}
    }
    row = [
        model.name,
        sel.key,
        fitted_at,
        datetime.fromtimestamp(model.until, UTC),
        events,
        fit_s,
        orjson.dumps(state, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
    ]
    cols = ["model", "selection", "fitted_at", "data_until", "events", "fit_s", "state"]
    client.insert(f"{db}.forecast_models", [row], column_names=cols)
    return fitted_at


def load_model(client: Client, db: str, sel: Selection, name: str) -> Model:
    """The latest fit of a model for this selection, on the grid it was fitted on."""
    rows = client.query(
        f"SELECT state FROM {db}.forecast_models WHERE model = {{m:String}} AND selection = {{s:String}} "
        "ORDER BY fitted_at DESC LIMIT 1",
        parameters={"m": name, "s": sel.key},
    ).result_rows
    if not rows:
        raise ArchiveError(f"no fitted {name} model for {sel.key}: run `saqshy forecast fit --model {name}` first")
    state: dict[str, Any] = orjson.loads(rows[0][0])
    g = state["grid"]
    grid = grid_from_cells(client, int(g["resolution"]), dict(zip(map(int, g["cells"]), g["areas"], strict=True)))
    model = make_model(name, grid)
    model.load(state)
    return model


@dataclass(frozen=True)
class ForecastRun:
    run_id: str
    created_at: datetime
    rows: int


def write_forecast(
    client: Client,
    db: str,
    sel: Selection,
    model: Model,
    horizon: str,
    start: datetime,
    end: datetime,
    expected: Array,
    *,
    seed: int = 0,
) -> ForecastRun:
    """One run: a row per cell of the study area (rank 1 hottest) and a row per admin area the cells carry."""
    grid: Grid = model.grid
    run_id, created = uuid.uuid4().hex, datetime.now(UTC)
    n = len(grid)
    order = rank_cells(expected, seed)
    base = [model.name, horizon, created, run_id, sel.layer, list(sel.categories), sel.resolution, start, end]
    rows: list[list[Any]] = []
    for r, i in enumerate(order, start=1):
        rows.append([*base, "cell", int(grid.cells[i]), grid.areas[i], float(expected[i]), r, r / n])
    by_area: dict[str, float] = {}
    for i, name in enumerate(grid.areas):
        if name:
            by_area[name] = by_area.get(name, 0.0) + float(expected[i])
    ranked = sorted(by_area.items(), key=lambda kv: (-kv[1], kv[0]))
    for r, (name, value) in enumerate(ranked, start=1):
        rows.append([*base, "area", 0, name, value, r, 0.0])
    client.insert(f"{db}.forecasts", rows, column_names=FORECAST_COLUMNS)
    return ForecastRun(run_id, created, len(rows))


@dataclass(frozen=True)
class ForecastCell:
    cell: int
    area: str
    expected: float
    rank: int


@dataclass(frozen=True)
class LatestForecast:
    run_id: str
    created_at: datetime
    period_start: datetime
    period_end: datetime
    layer: str
    categories: tuple[str, ...]
    resolution: int
    cells: list[ForecastCell]  # by rank
    areas: list[tuple[str, float]]  # by rank

    def flagged(self, pct: float) -> list[ForecastCell]:
        """The top pct% of the study area (at least one cell)."""
        k = max(1, int(np.ceil(len(self.cells) * pct / 100.0)))
        return self.cells[:k]


def latest_forecast(client: Client, db: str, model: str, horizon: str, layer: str | None = None) -> LatestForecast:
    params: dict[str, Any] = {"m": model, "h": horizon}
    extra = ""
    if layer:
        extra, params["l"] = " AND layer = {l:String}", layer
    head = client.query(
        f"SELECT run_id, created_at, period_start, period_end, layer, categories, resolution FROM {db}.forecasts "
        f"WHERE model = {{m:String}} AND horizon = {{h:String}}{extra} ORDER BY created_at DESC LIMIT 1",
        parameters=params,
    ).result_rows
    if not head:
        raise ArchiveError(f"no {model} forecast for {horizon} yet: run `saqshy forecast predict` first")
    run_id, created, start, end, lay, cats, res = head[0]
    rows = client.query(
        f"SELECT level, cell, area, expected, rank FROM {db}.forecasts WHERE model = {{m:String}} AND "
        "horizon = {h:String} AND run_id = {r:String} ORDER BY level, rank",
        parameters={"m": model, "h": horizon, "r": run_id},
    ).result_rows
    cells = [ForecastCell(int(c), str(a), float(e), int(k)) for lvl, c, a, e, k in rows if lvl == "cell"]
    areas = [(str(a), float(e)) for lvl, _, a, e, _ in rows if lvl == "area"]
    return LatestForecast(str(run_id), created, start, end, str(lay), tuple(cats), int(res), cells, areas)
