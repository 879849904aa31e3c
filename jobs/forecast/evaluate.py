"""Rolling-origin evaluation: for each cut, fit on the points before it only, rank the cells for the next period,
flag the top 1, 5 and 10% of the study area and count the period's points that fall in flagged cells.

hit rate = points in flagged cells / all points of the period (a point outside the study area is a miss)
PAI      = hit rate / fraction of the study area flagged  (Chainey et al. 2008; 1.0 = no better than chance)

Hits and points are summed over the folds before dividing (a quiet day weighs less than a busy one); the
fraction of area is that of cells, each cell counting once (H3 cells of one resolution differ in size by a few %).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jobs.forecast.data import DAY, Points
from jobs.forecast.grid import Grid
from jobs.forecast.models import Model, make_model, rank_cells

PCTS = (1, 5, 10)


def flagged_count(n_cells: int, pct: float) -> int:
    return max(1, math.ceil(n_cells * pct / 100.0))


@dataclass
class Score:
    model: str
    n_cells: int
    hits: dict[int, int] = field(default_factory=lambda: dict.fromkeys(PCTS, 0))
    events: int = 0
    folds: int = 0
    fit_s: list[float] = field(default_factory=list)
    predict_s: list[float] = field(default_factory=list)

    def hit_rate(self, pct: int) -> float:
        return self.hits[pct] / self.events if self.events else 0.0

    def pai(self, pct: int) -> float:
        return self.hit_rate(pct) / (flagged_count(self.n_cells, pct) / self.n_cells) if self.n_cells else 0.0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "folds": self.folds, "events": self.events}
        for p in PCTS:
            out[f"hit{p}"] = round(self.hit_rate(p), 4)
            out[f"pai{p}"] = round(self.pai(p), 3)
        out["fit_s"] = round(float(np.mean(self.fit_s)), 3) if self.fit_s else 0.0
        out["predict_s"] = round(float(np.mean(self.predict_s)), 3) if self.predict_s else 0.0
        return out


@dataclass
class Evaluation:
    horizon_s: float
    n_cells: int
    cuts: list[float]
    scores: dict[str, Score]

    def table(self) -> str:
        """Markdown: one row per model, hit rate and PAI at each area fraction side by side."""
        head = "| model | " + " | ".join(f"hit {p}% | PAI {p}%" for p in PCTS) + " | fit s | predict s |"
        sep = "|---" * (1 + 2 * len(PCTS) + 2) + "|"
        rows = [head, sep]
        for s in self.scores.values():
            d = s.as_dict()
            cells = " | ".join(f"{d[f'hit{p}']:.1%} | {d[f'pai{p}']:.2f}" for p in PCTS)
            rows.append(f"| {s.model} | {cells} | {d['fit_s']:.2f} | {d['predict_s']:.3f} |")
        return "\n".join(rows)

    def best(self, pct: int = 5, exclude: Sequence[str] = ()) -> Score:
        pool = [s for s in self.scores.values() if s.model not in exclude]
        return max(pool, key=lambda s: s.pai(pct))

    def as_dict(self) -> dict[str, Any]:
        return {
            "horizon_h": self.horizon_s / 3600,
            "cells": self.n_cells,
            "folds": len(self.cuts),
            "models": [s.as_dict() for s in self.scores.values()],
        }


def daily_cuts(points: Points, horizon_s: float, warmup_days: float, step_days: float = 1.0) -> list[float]:
    """Cuts at UTC midnights from `warmup_days` after the first point, while a whole horizon of data follows
    (the data may stop up to an hour before a horizon's end: the last points of a file are rarely at midnight)."""
    if len(points) == 0:
        return []
    first = math.floor(float(points.t[0]) / DAY) * DAY
    last = float(points.t[-1])
    cuts: list[float] = []
    cut = first + warmup_days * DAY
    while cut + horizon_s <= last + 3600.0:
        cuts.append(cut)
        cut += step_days * DAY
    return cuts


def evaluate(
    points: Points,
    grid: Grid,
    models: Sequence[str],
    horizon_s: float,
    cuts: Sequence[float],
    *,
    seed: int = 0,
    factory: Callable[[str, Grid], Model] = make_model,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Score each model over the cuts; `points` must be located on `grid` (Grid.locate)."""
    n = len(grid)
    scores = {m: Score(m, n) for m in models}
    instances = {m: factory(m, grid) for m in models}  # kept across folds: ETAS warm-starts from the last fit
    for k, cut in enumerate(cuts):
        history = points.between(-np.inf, cut)
        target = points.between(cut, cut + horizon_s)
        if len(target) == 0 or len(history) == 0:
            continue
        for name, model in instances.items():
            t0 = time.perf_counter()
            model.fit(history, cut)
            t1 = time.perf_counter()
            expected = model.predict(history, cut, horizon_s)
            t2 = time.perf_counter()
            order = rank_cells(expected, seed + k)
            sc = scores[name]
            sc.fit_s.append(t1 - t0)
            sc.predict_s.append(t2 - t1)
            rank_of = np.empty(n, dtype=np.int64)
            rank_of[order] = np.arange(n)
            inside = target.idx[target.idx >= 0]
            for p in PCTS:
                sc.hits[p] += int((rank_of[inside] < flagged_count(n, p)).sum())
            sc.events += len(target)
            sc.folds += 1
        if progress:
            progress(f"fold {k + 1}/{len(cuts)}: {len(history):,} past points, {len(target):,} to score")
    return Evaluation(horizon_s, n, list(cuts), scores)
