"""The evaluation on real crime: San Francisco police incident reports, December 2018 (../shared/data)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from jobs.archive.dsn import connect
from jobs.forecast.data import Selection
from jobs.forecast.evaluate import PCTS
from jobs.forecast.run import evaluate_archive, fit
from tests.forecast.support import SF_POLICE, load_sf_police

pytestmark = pytest.mark.realdata
DB = "sf"


@pytest.fixture(scope="module")
def sf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    if not SF_POLICE.exists():
        pytest.skip(f"needs the public data file {SF_POLICE.name} in ../shared/data/crime")
    client = connect(f"chdb://{tmp_path_factory.mktemp('sf')}")
    assert load_sf_police(client, DB) > 9000
    yield client
    client.close()


def test_sf_evaluation_has_every_model_and_sane_figures(sf: Client) -> None:
    models = ["naive", "seasonal", "kde", "etas"]
    ev = evaluate_archive(sf, DB, Selection("call.112"), models, "24h", max_folds=3)
    assert list(ev.scores) == models and len(ev.cuts) == 3 and 700 < ev.n_cells < 1200
    for s in ev.scores.values():
        assert s.folds == 3 and 600 < s.events < 1500  # ~300 reports a day
        rates = [s.hit_rate(p) for p in PCTS]
        assert rates == sorted(rates) and rates[0] > 0.05 and rates[-1] < 0.8
        # Crime concentrates: every model beats chance (PAI 1) by far, and nothing is implausibly good.
        assert all(2.0 < s.pai(p) < 25.0 for p in PCTS)
    # What the past month knows beats yesterday alone.
    assert ev.scores["kde"].pai(5) > ev.scores["naive"].pai(5)


def test_sf_etas_fit_is_plausible_and_fast(sf: Client) -> None:
    (etas,) = fit(sf, DB, Selection("call.112"), ["etas"], save=False)
    m = etas.summary()
    assert m["events"] > 9000 and m["converged"]
    assert 0.1 < m["theta"] < 0.9 and 0.05 < m["omega_per_day"] < 5
    assert etas.fit_s < 30  # a month of a city refits in seconds (bench: tests/bench/forecast.py)
