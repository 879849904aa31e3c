"""`make bench BENCH=forecast`: hotspot forecasts on real crime, San Francisco police reports of December 2018.

The reports are archived into a fresh embedded chDB (as `saqshy import sf-police` + `replay --archive` would),
then every model is scored by rolling-origin evaluation (fit before each UTC midnight from day 8, score the next
24 hours; PAI = hit rate / share of the study area flagged, the study area being the res-9 cells with any
report) and timed fitting the whole month and predicting the next day:

  {"bench": "forecast", "pai5_naive", "pai5_kde", "pai5_best", "best_model", "fit_s", ...}

target: pai5_best >= 1.2 x pai5_naive (ratio_best_naive). fit_s is the slowest model's (ETAS) fit on the month;
every model's fit and predict times are in fit_s_by_model / predict_s_by_model. The 7-day horizon's PAI at 5%
is reported too (pai5_7d_*). BENCH_FORECAST_FOLDS limits the folds (the last N) for a quick look.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

from jobs.archive.dsn import connect
from jobs.forecast.data import Selection
from jobs.forecast.run import evaluate_archive, fit, predict
from tests.forecast.support import SF_POLICE, load_sf_police

DB = "bench_forecast"
MODELS = ["naive", "seasonal", "kde", "etas"]


def log(msg: str) -> None:
    print(f"forecast bench: {msg}", file=sys.stderr)


def main() -> None:
    if not SF_POLICE.exists():
        print(json.dumps({"bench": "forecast", "skipped": f"no {SF_POLICE.name} in ../shared/data/crime"}))
        return
    folds = int(os.environ["BENCH_FORECAST_FOLDS"]) if os.environ.get("BENCH_FORECAST_FOLDS") else None
    sel = Selection("call.112")
    with tempfile.TemporaryDirectory(prefix="saqshy-bench-forecast-") as tmp:
        client = connect(f"chdb://{tmp}/chdb")
        t0 = time.perf_counter()
        n = load_sf_police(client, DB)
        log(f"{n:,} reports archived in {time.perf_counter() - t0:.1f} s")
        day = evaluate_archive(client, DB, sel, MODELS, "24h", max_folds=folds, progress=log)
        log("24 h horizon\n" + day.table())
        week = evaluate_archive(client, DB, sel, MODELS, "7d", max_folds=folds, progress=log)
        log("7 day horizon\n" + week.table())
        fit_s: dict[str, float] = {}
        predict_s: dict[str, float] = {}
        events = 0
        for fitted in fit(client, DB, sel, MODELS, save=False):
            fit_s[fitted.model.name] = fitted.fit_s
            events = fitted.events
            p = predict(client, DB, sel, fitted.model.name, "24h", model=fitted.model, save=False)
            predict_s[fitted.model.name] = p.predict_s
        client.close()
    best = day.best(5)
    naive, kde = day.scores["naive"], day.scores["kde"]
    out = {
        "bench": "forecast",
        "pai5_naive": round(naive.pai(5), 3),
        "pai5_kde": round(kde.pai(5), 3),
        "pai5_best": round(best.pai(5), 3),
        "best_model": best.model,
        "fit_s": max(fit_s.values()),
        "ratio_best_naive": round(best.pai(5) / naive.pai(5), 3),
        "ratio_best_kde": round(best.pai(5) / kde.pai(5), 3),
        "predict_s": max(predict_s.values()),
        "fit_s_by_model": fit_s,
        "predict_s_by_model": predict_s,
        "month_events": events,
        "cells": day.n_cells,
        "folds": len(day.cuts),
        "scored_events": naive.events,
    }
    for s in day.scores.values():
        out |= {f"pai{p}_{s.model}": round(s.pai(p), 3) for p in (1, 10)}
        out |= {f"hit{p}_{s.model}": round(s.hit_rate(p), 4) for p in (1, 5, 10)}
    out |= {f"pai5_7d_{s.model}": round(s.pai(5), 3) for s in week.scores.values()}
    out |= {"best_model_7d": week.best(5).model, "folds_7d": len(week.cuts)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
