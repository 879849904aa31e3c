"""The clock of a file is its presentation time, not frame index / fps: a drop-frame AVI and a variable-frame-rate
file, made here from real frames of the shared clips, keep their real timing, and so do durations measured on it."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from detectors.capture import FrameSource, Sample
from detectors.config import HealthConfig
from detectors.health import HealthMonitor
from tests.detectors.conftest import PETS, need
from tests.detectors.videofiles import Frame, empty_chunks, real_frames, write_mjpeg_avi, write_vfr_mkv

# A varying gap between frames (ms): 25 and 30 fps stretches, pauses of a third to half a second.
GAPS_MS = [40, 40, 120, 40, 320, 40, 360, 33, 33, 34, 400, 40, 40, 500, 33, 33, 33, 200, 40, 40, 40, 250, 40]


def samples(path: Path, sample_fps: float) -> list[Sample]:
    out = []
    for item in FrameSource(str(path), sample_fps).frames():
        assert isinstance(item, Sample)
        out.append(item)
    return out


def drop_frame_avi(tmp_path: Path, frames: list[Frame]) -> Path:
    """`frames` at 25 fps in a 50 fps AVI: every second chunk is a zero-size repeat of the previous frame."""
    doubled = [f for frame in frames for f in (frame, frame)]
    write_mjpeg_avi(tmp_path / "full.avi", doubled, 50.0)
    empty_chunks(tmp_path / "full.avi", tmp_path / "drop.avi", keep=lambda n: n % 2 == 0)
    return tmp_path / "drop.avi"


def test_a_drop_frame_avi_is_timed_by_its_chunks_not_by_frame_index(tmp_path: Path) -> None:
    need(PETS)
    path = drop_frame_avi(tmp_path, real_frames(PETS, 30))
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == 50 and cap.get(cv2.CAP_PROP_FRAME_COUNT) == 60, "60 chunks at 50 fps"
    cap.release()

    every = samples(path, 1000)
    assert len(every) == 30, "the zero-size chunks are not frames: OpenCV decodes half of them"
    assert [s.t for s in every] == pytest.approx([0.04 * i for i in range(30)], abs=1e-6), "40 ms a frame, not 20"
    sampled = samples(path, 5)
    assert [s.t for s in sampled] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], abs=1e-6)
    assert [s.index for s in sampled] == [0, 5, 10, 15, 20, 25], "sampled every 0.2 s of the real clock"


def test_durations_on_a_drop_frame_avi_are_real_seconds(tmp_path: Path) -> None:
    """The picture freezes 1 s into a 4 s clip; with frozen_s 2 the camera is reported frozen at 3 s of real time
    (by frame index / fps every duration was halved: the freeze lasted 1.5 s and was never reported)."""
    need(PETS)
    moving = real_frames(PETS, 25, start=100)
    path = drop_frame_avi(tmp_path, moving + [moving[-1]] * 75)  # 1 s moving, then 3 s of the same picture
    monitor = HealthMonitor(HealthConfig(frozen_s=2.0, every_s=0.0))
    frozen = [s.t for s in samples(path, 5) for c in monitor.frame(s.frame, s.t) if c.tamper == "frozen" and c.active]
    assert frozen == [pytest.approx(3.0, abs=0.21)]


def test_a_variable_frame_rate_file_keeps_each_frames_time(tmp_path: Path) -> None:
    need(PETS)
    times = [sum(GAPS_MS[:i]) for i in range(len(GAPS_MS) + 1)]
    path = tmp_path / "vfr.mkv"
    write_vfr_mkv(path, real_frames(PETS, len(times)), times)

    every = samples(path, 1000)
    assert [round(s.t * 1000) for s in every] == times, "each frame at its own presentation time"
    # Sampling at 5 fps takes the first frame at or after each 0.2 s step of that clock.
    want, next_t = [], 0.0
    for t in (ms / 1000 for ms in times):
        if t + 1e-6 >= next_t:
            want.append(t)
            while next_t <= t + 1e-6:
                next_t += 0.2
    assert [s.t for s in samples(path, 5)] == pytest.approx(want, abs=1e-6)
    assert len(want) < len(times) - 5


@pytest.mark.video
def test_a_codec_with_decoder_delay_is_timed_from_its_first_frame() -> None:
    """The MPEG-4 clip's frames report the time of the packet that completed them (200 ms ahead), and the last two
    (released at the end of the file) none: counted from the first frame, every one is index / 10 s."""
    need(PETS)
    every = samples(PETS, 1000)
    assert len(every) == 795
    assert [s.t for s in every] == pytest.approx([s.index / 10 for s in every], abs=1e-6)
