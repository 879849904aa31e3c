"""Health from the start: a stream that never delivers a frame raises no_signal after health.no_signal_s, and the
worker logs every reconnect attempt with its source, the password masked. A real unreachable source (a closed
local port through FFmpeg's RTSP client) with FrameSource's injectable clock and sleep."""

from __future__ import annotations

import logging
import socket

import pytest

from detectors.capture import FrameSource, Lost, mask_url
from detectors.config import parse_config
from detectors.errors import SourceError
from detectors.model import load_detector
from detectors.pipeline import LOST_TICK_S, Pipeline
from schemas.events import Phase
from tests.detectors.conftest import MODEL, need

EPOCH = 1_795_000_000.0  # the fake wall clock starts in November 2026


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens on it now: connections are refused at once


def test_credentials_are_masked_in_what_the_worker_shows() -> None:
    assert mask_url("rtsp://admin:s3cret@10.0.0.5:554/stream1") == "rtsp://admin:***@10.0.0.5:554/stream1"
    assert mask_url("rtsp://admin:p@ss@10.0.0.5/x") == "rtsp://admin:***@10.0.0.5/x", "an @ in the password"
    assert mask_url("http://cam/mjpg?user=a&password=b&fps=5") == "http://cam/mjpg?user=a&password=***&fps=5"
    assert mask_url("rtsp://viewer@cam/1") == "rtsp://viewer@cam/1" and mask_url("/data/clip.avi") == "/data/clip.avi"


def test_a_stream_dead_from_the_start_raises_no_signal_and_logs_each_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    need(MODEL)
    cfg = parse_config({"camera": {"id": "c1", "location": {"lat": 43.2, "lon": 76.9}}, "model": {"path": str(MODEL)}})
    assert cfg.health.no_signal_s == 5.0
    pipe = Pipeline(cfg, load_detector(cfg.model))
    now = [EPOCH]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    url = f"rtsp://viewer:s3cret@127.0.0.1:{closed_port()}/stream1"
    src = FrameSource(url, 5, max_retries=5, sleep=sleep, clock=lambda: now[0], tick_s=LOST_TICK_S)
    lost: list[Lost] = []
    events = []
    with caplog.at_level(logging.WARNING, "saqshy.detectors.capture"), pytest.raises(SourceError) as gave_up:
        for item in src.frames():
            assert isinstance(item, Lost), "nothing listens: no frame ever"
            lost.append(item)
            events += [(item.t - EPOCH, ev) for ev in pipe.lost(item)]

    # Attempts at 0, 0.5, 1.5, 3.5 and 7.5 s (backoff 0.5 s doubling); the outage is reported every second between.
    first_report: dict[int, float] = {}
    for x in lost:
        first_report.setdefault(x.attempt, round(x.t - EPOCH, 3))
    assert list(first_report.values()) == [0.0, 0.5, 1.5, 3.5, 7.5]
    assert len(lost) == 5 + 1 + 3 + 7, "and once a second during the 2, 4 and 8 s waits"
    assert all(x.since == EPOCH for x in lost), "out since the worker started watching"
    ((at, event),) = [(at, ev) for at, ev in events if ev.data.tamper == "no_signal"]
    assert event.data.phase == Phase.NEW and 5.0 <= at <= 5.0 + LOST_TICK_S

    attempts = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()]
    shown = f"rtsp://viewer:***@127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}/stream1"
    assert len(attempts) == 5 and all(shown in m and f"(attempt {i})" in m for i, m in enumerate(attempts, 1))
    assert "retrying in 4.0 s" in attempts[3]
    assert "s3cret" not in caplog.text and "s3cret" not in str(gave_up.value)
    assert "gave up after 5 retries" in str(gave_up.value)
