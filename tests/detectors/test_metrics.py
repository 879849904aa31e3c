"""`saqshy detect --metrics-port` serves the camera's counters over HTTP, and they agree with its summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from saqshy.cli import main
from tests.detectors.conftest import EXAMPLES, MODEL, PETS, need
from tests.scrape import free_port, scrape, total


@pytest.mark.video
def test_the_detector_serves_frames_inferences_and_events_by_analytic(tmp_path: Path) -> None:
    need(PETS, MODEL)
    port, out = free_port(), tmp_path / "events.jsonl"
    args = ["detect", "--config", str(EXAMPLES / "pets2009_walkway.yaml"), "--source", str(PETS)]
    args += ["--out", str(out), "--max-frames", "60", "--metrics-port", str(port)]

    result = CliRunner().invoke(main, args)

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    m = scrape(port)
    cam = summary["camera"]
    assert total(m, "saqshy_detector_samples_total", camera=cam) == summary["frames"] == 60
    assert total(m, "saqshy_detector_frames_read_total", camera=cam) >= 60  # the clip is sampled, not every frame
    assert total(m, "saqshy_detector_inferences_total", camera=cam) == summary["inferences"] > 0
    assert total(m, "saqshy_detector_inference_ms_count", camera=cam) == summary["inferences"]
    mean_ms = total(m, "saqshy_detector_inference_ms_sum", camera=cam) / summary["inferences"]
    assert mean_ms == pytest.approx(summary["infer_ms"], rel=0.05)
    published = len(out.read_text().splitlines())
    assert summary["events"] == published > 0
    for analytic, n in summary["by_analytic"].items():
        assert total(m, "saqshy_detector_events_total", camera=cam, analytic=analytic) == n
    assert total(m, "saqshy_detector_tamper_events_total", camera=cam) == summary["by_analytic"].get("camera_tamper", 0)
    assert total(m, "saqshy_detector_reconnects_total", camera=cam) == 0  # a file never reconnects
