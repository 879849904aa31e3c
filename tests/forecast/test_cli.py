"""`saqshy forecast` end to end, each command in its own process as a user runs it (chDB: one path a process):
replay a calls file into an archive, then fit, predict, evaluate and map."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.forecast.conftest import city_calls, write_calls
from tests.forecast.support import ROOT

pytestmark = pytest.mark.slow


def saqshy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saqshy", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_fit_predict_evaluate_map(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'archive'}"
    events = write_calls(tmp_path / "calls.jsonl", city_calls(per_day=40))
    r = saqshy("replay", "--input", str(events), "--no-progress", "--archive", dsn, "--out", str(tmp_path / "i.jsonl"))
    assert r.returncode == 0, r.stderr
    r = saqshy("forecast", "fit", "--archive", dsn, "--until", "2026-03-16", "--history-days", "14")
    assert r.returncode == 0, r.stderr
    fits = [json.loads(line) for line in r.stdout.splitlines()]
    assert [f["model"] for f in fits] == ["naive", "seasonal", "kde", "etas"]
    assert all(f["until"] == "2026-03-16T00:00:00+00:00" and f["events"] == fits[0]["events"] > 400 for f in fits)
    assert 0 <= fits[3]["theta"] < 1 and fits[3]["omega_per_day"] > 0
    r = saqshy("forecast", "predict", "--archive", dsn, "--model", "kde", "--horizon", "24h", "--horizon", "7d")
    assert r.returncode == 0, r.stderr
    preds = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(p["model"], p["horizon"]) for p in preds] == [("kde", "24h"), ("kde", "7d")]
    assert preds[1]["expected_total"] == pytest.approx(7 * preds[0]["expected_total"], rel=1e-3)
    assert len(preds[0]["top"]) == 5 and preds[0]["rows"] > 5
    r = saqshy("forecast", "evaluate", "--archive", dsn, "--max-folds", "3", "--json", str(tmp_path / "ev.json"))
    assert r.returncode == 0, r.stderr
    assert "24h horizon, 3 folds" in r.stdout and "| model | hit 1% | PAI 1% |" in r.stdout
    assert [m["model"] for m in json.loads((tmp_path / "ev.json").read_text())["models"]] == [
        "naive", "seasonal", "kde", "etas"
    ]  # fmt: skip
    html = tmp_path / "f.html"
    r = saqshy("forecast", "map", "--archive", dsn, "--model", "kde", "--horizon", "7d", "--out", str(html))
    assert r.returncode == 0, r.stderr
    cells = preds[0]["rows"] - 2  # a row per cell and one per district (West, East)
    assert r.stdout.startswith(f"{math.ceil(cells * 0.05)} flagged cells, ")
    assert html.exists() and html.with_suffix(".png").exists()


def test_bad_input_gives_a_clear_error(tmp_path: Path) -> None:
    """In this process (CliRunner): the messages a user sees, without a traceback."""
    from click.testing import CliRunner

    from jobs.archive.dsn import connect
    from jobs.archive.migrate import migrate
    from saqshy.commands.forecast_cmd import forecast

    run = CliRunner().invoke
    empty = f"chdb://{tmp_path / 'empty'}"
    r = run(forecast, ["fit", "--archive", empty])
    assert r.exit_code == 1 and "run `saqshy db migrate`" in r.output
    client = connect(empty)  # closed after, so the next test module can open its own chDB path
    migrate(client, "saqshy", server=False)
    client.close()
    r = run(forecast, ["predict", "--archive", empty, "--model", "etas"])
    assert r.exit_code == 1 and "run `saqshy forecast fit --model etas` first" in r.output
    r = run(forecast, ["map", "--archive", empty, "--model", "kde"])
    assert r.exit_code == 1 and "no kde forecast for 24h yet" in r.output
    r = run(forecast, ["fit", "--archive", empty, "--model", "prophet"])
    assert r.exit_code == 2 and "Invalid value for '--model'" in r.output
