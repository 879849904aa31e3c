"""The commands end to end, each in its own process (as a user runs them; chDB allows one path per process):
replay --archive, db migrate/status/access-sql, map, rules backtest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.archive.migrate import discover
from tests.archive.conftest import ROOT, Sim

pytestmark = pytest.mark.slow


def saqshy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saqshy", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_replay_archive_map_backtest(sim: Sim, tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'archive'}"
    r = saqshy("replay", "--input", str(sim.path), "--no-progress", "--json", "--archive", dsn)
    assert r.returncode == 0, r.stderr
    assert f"archived {len(sim.lines):,} events and {len(sim.versions):,} incident versions" in r.stderr
    r = saqshy("db", "migrate", "--archive", dsn)
    migrations = len(discover())  # every migration file, whoever adds one
    assert r.returncode == 0 and r.stdout.count("ok ") == migrations and "server-only" in r.stdout, r.stdout + r.stderr
    r = saqshy("db", "status", "--archive", dsn)
    assert "table incidents:" in r.stdout and "migration 004_crime_map" in r.stdout
    html = tmp_path / "map.html"
    r = saqshy("map", "--archive", dsn, "--from", "2026-11-21", "--to", "2026-11-22", "--out", str(html))
    assert r.returncode == 0, r.stderr
    located = len({i.id for i in sim.versions if i.location is not None})
    assert r.stdout.startswith(f"{located} incident in ")
    assert html.exists() and html.with_suffix(".png").exists()
    r = saqshy("map", "--archive", dsn, "--layer", "call.112", "--category", "medical", "--out", str(html))
    assert r.returncode == 0 and " call.112 in " in r.stdout
    r = saqshy("rules", "backtest", "rules/catalog/calls", "--from", "2026-11-21", "--to", "2026-11-22",
               "--archive", dsn, "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["events"] > 0 and report["rejected"] == 0
    assert all(d["diff"] == 0 for d in report["days"])
    r = saqshy("db", "access-sql")
    assert r.returncode == 0 and "CREATE ROW POLICY OR REPLACE saqshy_scope_alatau_medeu" in r.stdout


def test_bad_dsn_and_empty_archive_give_clear_errors(tmp_path: Path) -> None:
    r = saqshy("db", "migrate", "--archive", "ftp://nowhere")  # a bad value: a usage error
    assert r.returncode == 2 and "expected chdb://PATH or http(s)://host:port" in r.stderr
    r = saqshy("map", "--archive", f"chdb://{tmp_path / 'empty'}", "--out", str(tmp_path / "m.html"))
    assert r.returncode == 1 and "run `saqshy db migrate`" in r.stderr and "Traceback" not in r.stderr
    r = saqshy("rules", "backtest", "rules/catalog/calls", "--from", "2026-11-21", "--to", "2026-11-22",
               "--archive", f"chdb://{tmp_path / 'empty'}")  # fmt: skip
    assert r.returncode == 1 and "run `saqshy db migrate`" in r.stderr
