"""Stop the job with a savepoint mid-stream and restore it: the incident topic holds exactly the embedded
runner's incident updates, none lost, none twice (exactly-once Kafka sinks). Once for a simulated morning on
the single key, once on spatial cells with reference records."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from schemas import Incident
from schemas.topics import INCIDENTS
from streams.kafka.settings import KafkaSettings
from tests.flink.helpers import (
    embedded,
    isolated,
    needs_connector,
    run_config,
    same_updates,
    stop_with_savepoint,
    submit,
)
from tests.flink.test_reference import hotlist_rules
from tests.golden.harness import CATALOG
from tests.kafka.helpers import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow, needs_connector]


def _simulated_hour(tmp_path: Path) -> Path:
    out = tmp_path / "events.jsonl"
    cmd = [sys.executable, "-m", "saqshy.cli", "simulate", "--city", "streams/sim/cities/alatau", "--hours", "4"]
    cmd += ["--seed", "3", "--out", str(out), "--truth", str(tmp_path / "truth.jsonl")]
    subprocess.run(cmd, check=True, capture_output=True, cwd=Path(__file__).resolve().parents[2])
    return out


def _updates(settings: KafkaSettings, idle: float = 4) -> list[Incident]:
    return [Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS, idle=idle)]


def _incidents(settings: KafkaSettings, idle: float = 4) -> list[tuple[str, int]]:
    return sorted((u.id, u.version) for u in _updates(settings, idle))


def _stop_mid_stream(settings: KafkaSettings, client: object, tmp_path: Path) -> str:
    """Once a first checkpoint has committed incidents, stop with a savepoint."""
    deadline = time.monotonic() + 180
    while not _incidents(settings, idle=0.5) and time.monotonic() < deadline:
        time.sleep(1)
    return stop_with_savepoint(client, (tmp_path / "sp").as_uri())


def test_stop_with_savepoint_mid_stream_and_restore(kafka_bootstrap: str, tmp_path: Path) -> None:
    events = _simulated_hour(tmp_path)
    expected = embedded([CATALOG], events.read_bytes().splitlines())
    want = sorted((u.id, u.version) for u in expected)
    assert len(want) > 20

    settings = isolated(kafka_bootstrap)
    config = run_config([CATALOG], input=events, checkpoint_dir=(tmp_path / "cp").as_uri(), checkpoint_interval_ms=1000)
    savepoint = _stop_mid_stream(settings, submit(config, settings), tmp_path)
    before = _incidents(settings)
    assert 0 < len(before) < len(want), "the job must be stopped mid-stream"

    second = submit(run_config([CATALOG], input=events, from_savepoint=savepoint), settings)
    second.get_job_execution_result().result()
    got = _incidents(settings)
    assert len(set(got)) == len(got), "an incident version was written twice"
    assert got == want


def _hotlist_stream(path: Path, reads: int = 12_000) -> None:
    """Three hotlist records, then ANPR reads one a second that move through 60 cells a kilometre apart, one
    in 40 of a hotlisted plate: the cells after the savepoint are new keys that need the hotlist."""
    t0 = datetime(2026, 3, 10, 8, tzinfo=UTC)
    plates = ["777ABA02", "123KZA01", "555BBB05"]
    docs: list[dict[str, object]] = []
    for n, plate in enumerate(plates):
        data = {"plate": plate, "reason": "stolen", "priority": 2, "valid_from": "2026-01-01T00:00:00Z"}
        docs.append(
            {"id": f"hot-{n}", "type": "ref.hotlist", "source": "hotlist", "time": t0.isoformat(), "data": data}
        )
    for i in range(reads):
        cell = i * 60 // reads
        docs.append(
            {
                "id": f"r-{i}",
                "type": "anpr.read",
                "source": "test",
                "time": (t0 + timedelta(seconds=i)).isoformat(),
                "data": {
                    "camera_id": f"anpr-{cell}",
                    "plate": plates[i % 3] if i % 40 == 0 else f"{i:06d}KZ",
                    "confidence": 0.9,
                },
                "location": {"lat": 43.20 + cell // 10 * 0.01, "lon": 76.85 + cell % 10 * 0.013},
            }
        )
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))


def test_spatial_restore_keeps_the_reference_records(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Broadcast state (the hotlist) and every cell's snapshot + log come back from the savepoint: cells seen
    before are rebuilt (their logs name reference records by index), cells seen first after the restore
    apply the restored hotlist before their first read."""
    root = hotlist_rules(tmp_path)
    events = tmp_path / "events.jsonl"
    _hotlist_stream(events)
    expected = embedded([root], events.read_bytes().splitlines())
    assert len({u.id for u in expected}) > 100

    settings = isolated(kafka_bootstrap)
    spatial = {"input": events, "partitioning": "spatial"}
    config = run_config([root], **spatial, checkpoint_dir=(tmp_path / "cp").as_uri(), checkpoint_interval_ms=1000)
    savepoint = _stop_mid_stream(settings, submit(config, settings), tmp_path)
    before = {u.labels["camera"] for u in _updates(settings)}
    assert 0 < len(before) < 60, "the job must be stopped mid-stream"

    second = submit(run_config([root], **spatial, from_savepoint=savepoint), settings)
    second.get_job_execution_result().result()
    assert same_updates(_updates(settings), expected) == []
