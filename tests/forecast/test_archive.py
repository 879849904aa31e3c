"""Forecasts through the archive (chDB): fit -> forecast_models -> predict -> forecasts table -> read back,
per cell and per admin area, the evaluation over the archive, and the forecast layer of the crime map."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from clickhouse_connect.driver.client import Client

from jobs.archive.errors import ArchiveError
from jobs.crimemap.render import write_html
from jobs.forecast.data import Selection
from jobs.forecast.mapping import forecast_map
from jobs.forecast.run import evaluate_archive, fit, predict
from jobs.forecast.store import latest_forecast
from tests.forecast.conftest import DAYS, HOT, START, archive_calls, city_calls

MODELS = ("naive", "seasonal", "kde", "etas")


def test_fit_predict_read_back(chdb_client: Client, db: str) -> None:
    calls = city_calls()
    archive_calls(chdb_client, db, calls)
    sel = Selection("call.112")
    until = START + timedelta(days=14)
    fitted = fit(chdb_client, db, sel, MODELS, until=until)
    assert [f.model.name for f in fitted] == list(MODELS)
    assert {f.events for f in fitted} == {sum(1 for c in calls if c.time < until)}  # only the past
    saved = chdb_client.query(f"SELECT model, count() FROM {db}.forecast_models GROUP BY model").result_rows
    assert {str(m): int(n) for m, n in saved} == dict.fromkeys(MODELS, 1)
    hot_cell = chdb_client.query(f"SELECT geoToH3({HOT[0]}, {HOT[1]}, 9)").result_rows[0][0]
    for name in MODELS:
        p = predict(chdb_client, db, sel, name, "24h")  # from the saved fit, at its end
        assert p.start == until and p.end == until + timedelta(days=1) and p.run is not None
        back = latest_forecast(chdb_client, db, name, "24h")
        assert back.run_id == p.run.run_id and len(back.cells) == len(p.model.grid)
        assert [c.rank for c in back.cells] == list(range(1, len(back.cells) + 1))
        expected = dict(zip(p.model.grid.cells.tolist(), p.expected.tolist(), strict=True))
        assert all(expected[c.cell] == pytest.approx(c.expected) for c in back.cells)
        assert [c.expected for c in back.cells] == sorted((c.expected for c in back.cells), reverse=True)
        assert back.cells[0].cell == hot_cell or name == "naive"  # the hotspot leads (naive: one day is noisy)
        # Admin areas: the sum of their cells, ranked.
        assert {a for a, _ in back.areas} == {"West", "East"}
        for area, value in back.areas:
            assert value == pytest.approx(sum(c.expected for c in back.cells if c.area == area))
        assert p.run.rows == len(back.cells) + len(back.areas)
    # A month ahead from the seasonal fit: about the daily rate times 30.
    month = predict(chdb_client, db, sel, "seasonal", "30d", save=False)
    assert float(month.expected.sum()) == pytest.approx(30 * 60, rel=0.1)


def test_errors_are_clear(chdb_client: Client, db: str) -> None:
    sel = Selection("call.112")
    with pytest.raises(ArchiveError, match=r"no located call\.112"):
        fit(chdb_client, db, sel, ["kde"])
    archive_calls(chdb_client, db, city_calls(per_day=5))
    with pytest.raises(ArchiveError, match="run `saqshy forecast fit --model etas` first"):
        predict(chdb_client, db, sel, "etas", "24h")
    fit(chdb_client, db, sel, ["kde"], until=START + timedelta(days=10))
    with pytest.raises(ArchiveError, match="refit with --until"):
        predict(chdb_client, db, sel, "kde", "24h", at=START + timedelta(days=5))
    with pytest.raises(ArchiveError, match="horizon '2h'"):
        predict(chdb_client, db, sel, "kde", "2h")
    with pytest.raises(ArchiveError, match="too short to evaluate a 7d horizon"):
        evaluate_archive(chdb_client, db, sel, ["naive"], "7d", warmup_days=18)
    with pytest.raises(ArchiveError, match="layer"):
        Selection("tweets")


def test_evaluation_and_the_forecast_map(chdb_client: Client, db: str, tmp_path: Path) -> None:
    archive_calls(chdb_client, db, city_calls())
    sel = Selection("call.112", categories=("crime",))
    ev = evaluate_archive(chdb_client, db, sel, MODELS, "24h", max_folds=4)
    assert list(ev.scores) == list(MODELS) and len(ev.cuts) == 4
    for s in ev.scores.values():
        assert s.folds == 4 and s.events > 100
        assert 0 <= s.hit_rate(1) <= s.hit_rate(5) <= s.hit_rate(10) <= 1
    # A third of the calls sit in a few cells: any model that knows the past beats chance by far at 5%.
    assert ev.scores["kde"].pai(5) > 3 and ev.best(5).pai(5) >= ev.scores["naive"].pai(5)
    fit(chdb_client, db, sel, ["kde"], until=START + timedelta(days=DAYS - 1))
    predict(chdb_client, db, sel, "kde", "24h")
    fc = latest_forecast(chdb_client, db, "kde", "24h", "call.112")
    assert fc.categories == ("crime",) and fc.resolution == 9
    data = forecast_map(chdb_client, db, fc, "kde", "24h", 10.0)
    k = int(np.ceil(len(fc.cells) * 0.10))
    assert len(data.flagged) == k and all(len(ring) >= 6 for _, ring in data.flagged)
    assert data.total > 0  # the day it forecast is in the archive: its calls are the heat under the outlines
    out = tmp_path / "f.html"
    write_html(data, out, "forecast")
    assert out.read_text().count('class="flag"') == k
