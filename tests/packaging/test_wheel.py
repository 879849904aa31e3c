"""The built wheel is the product: installed into a fresh virtual environment outside the checkout, its commands
find their packaged data (rule catalog, simulator city, migrations, topic spec) from any working directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

pytestmark = [pytest.mark.slow, pytest.mark.kafka]

ROOT = Path(__file__).resolve().parents[2]
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    # never the test process's environment as it is: the Flink tests put PYTHONPATH (the project's site-packages,
    # the embedded interpreter's sitecustomize) into it, and uv's isolated build then imported the old setuptools
    proc = subprocess.run(args, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=timeout)
    tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}\n{tail}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the fresh environment's bin/, a working directory with nothing of the checkout in it)."""
    if UV is None:
        pytest.skip("uv is not installed (make install puts it into the virtual environment)")
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    # sdist first, then the wheel from the sdist: what a user of the published package gets
    _run([UV, "build", "--quiet", "--out-dir", str(dist), str(ROOT)], cwd=base)
    wheel = next(dist.glob("saqshy-*.whl"))
    constraints = base / "constraints.txt"
    extras = ["--extra", "kafka", "--extra", "archive"]
    export = [UV, "export", "--quiet", "--frozen", "--no-hashes", "--no-emit-project", *extras]
    _run([*export, "--project", str(ROOT), "-o", str(constraints)], cwd=base)
    venv = base / "venv"
    _run([UV, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=base)
    python = str(venv / "bin" / "python")
    _run([UV, "pip", "install", "--quiet", "--python", python, "-c", str(constraints), f"{wheel}[kafka,archive]"], base)
    work = base / "work"
    work.mkdir()
    yield venv / "bin", work


def _env() -> dict[str, str]:
    # nothing may leak in from the checkout or the test's own environment
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("SAQSHY_")}


def test_wheel_carries_its_data() -> None:
    dist = ROOT / "build" / "wheel-test-dist"
    if UV is None:
        pytest.skip("uv is not installed")
    shutil.rmtree(dist, ignore_errors=True)
    _run([UV, "build", "--quiet", "--wheel", "--out-dir", str(dist), str(ROOT)], cwd=ROOT)
    names = set(zipfile.ZipFile(next(dist.glob("*.whl"))).namelist())
    for name in (
        "infra/topics.yaml",
        "infra/clickhouse/001_events.sql",
        "infra/clickhouse/scopes.yaml",
        "infra/kafka/pom.xml",
        "infra/flink/pom.xml",
        "infra/flink/flink.sh",
        "rules/catalog/ruleset.yaml",
        "rules/alerts/default_policy.yaml",
        "streams/sim/cities/alatau/city.yaml",
        "saqshy-0.1.0.dist-info/licenses/LICENSE",
    ):
        assert name in names, name
    assert not [n for n in names if n.endswith(".jar") or n.startswith("tests/")]
    shutil.rmtree(dist, ignore_errors=True)


def test_installed_commands_run_outside_the_checkout(installed: tuple[Path, Path], kafka_bootstrap: str) -> None:
    bin_dir, work = installed
    saqshy, env = str(bin_dir / "saqshy"), _env()
    where = _run([str(bin_dir / "python"), "-c", "import rules, infra; print(rules.__file__, infra.__file__)"], work)
    assert str(ROOT) not in where and str(bin_dir.parent) in where

    assert "ok: 20 rule(s)" in _run([saqshy, "rules", "lint"], work, env)
    _run([saqshy, "simulate", "--hours", "2", "--seed", "5", "--out", "events.jsonl.gz"], work, env)
    _run([saqshy, "replay", "--input", "events.jsonl.gz", "--out", "incidents.jsonl", "--no-progress"], work, env)
    assert (work / "incidents.jsonl").read_text().count("\n") > 0

    _run([saqshy, "db", "migrate", "--archive", f"chdb://{work / 'archive'}"], work, env)
    status = _run([saqshy, "db", "status", "--archive", f"chdb://{work / 'archive'}"], work, env)
    assert "005_forecasts" in status

    _run([saqshy, "topics", "apply", "--bootstrap", kafka_bootstrap], work, env)
    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=30).topics
    assert {"saqshy.incidents", "saqshy.incidents.latest", "saqshy.dlq"} <= set(topics)
