"""Stop the job with a savepoint in the middle of a simulated morning and restore it: the incident topic holds
exactly the embedded runner's incident updates, none lost, none twice (exactly-once Kafka sinks)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas import Incident
from schemas.topics import INCIDENTS
from tests.flink.helpers import embedded, isolated, needs_connector, run_config, stop_with_savepoint, submit
from tests.golden.harness import CATALOG
from tests.kafka.helpers import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow, needs_connector]


def _simulated_hour(tmp_path: Path) -> Path:
    out = tmp_path / "events.jsonl"
    cmd = [sys.executable, "-m", "saqshy.cli", "simulate", "--city", "streams/sim/cities/alatau", "--hours", "4"]
    cmd += ["--seed", "3", "--out", str(out), "--truth", str(tmp_path / "truth.jsonl")]
    subprocess.run(cmd, check=True, capture_output=True, cwd=Path(__file__).resolve().parents[2])
    return out


def _incidents(settings: object, idle: float = 4) -> list[tuple[str, int]]:
    return sorted(
        (u.id, u.version)
        for u in (Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS, idle=idle))  # type: ignore[arg-type]
    )


def test_stop_with_savepoint_mid_stream_and_restore(kafka_bootstrap: str, tmp_path: Path) -> None:
    events = _simulated_hour(tmp_path)
    expected = embedded([CATALOG], events.read_bytes().splitlines())
    want = sorted((u.id, u.version) for u in expected)
    assert len(want) > 20

    settings = isolated(kafka_bootstrap)
    config = run_config([CATALOG], input=events, checkpoint_dir=(tmp_path / "cp").as_uri(), checkpoint_interval_ms=1000)
    first = submit(config, settings)
    deadline = time.monotonic() + 180
    while not _incidents(settings, idle=0.5) and time.monotonic() < deadline:  # committed with a first checkpoint
        time.sleep(1)
    savepoint = stop_with_savepoint(first, (tmp_path / "sp").as_uri())
    before = _incidents(settings)
    assert 0 < len(before) < len(want), "the job must be stopped mid-stream"

    second = submit(run_config([CATALOG], input=events, from_savepoint=savepoint), settings)
    second.get_job_execution_result().result()
    got = _incidents(settings)
    assert len(set(got)) == len(got), "an incident version was written twice"
    assert got == want
