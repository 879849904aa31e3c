"""Motion that lies on steady confirmed tracks is left to the tracker for up to `redetect_every` samples; motion
anywhere else runs the detector at once. Synthetic frames and a fake detector that finds white rectangles."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from detectors.capture import Sample
from detectors.config import CameraConfig, MotionConfig
from detectors.model import Detection, Image, ModelConfig
from detectors.pipeline import Pipeline
from schemas.common import GeoPoint

W, H, FPS = 640, 480, 5.0


class WhiteBoxes:
    """Reports every white (255) blob of the image as a person, like a perfect detector."""

    def __init__(self) -> None:
        self.calls = 0
        self.shapes: list[tuple[int, int]] = []  # (height, width) of every image it was given

    def detect(self, frame: Image) -> list[Detection]:
        self.calls += 1
        self.shapes.append((frame.shape[0], frame.shape[1]))
        mask = (frame[:, :, 0] == 255).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        return [
            Detection(float(x), float(y), float(x + w), float(y + h), 0.9, "person")
            for x, y, w, h, area in (stats[i] for i in range(1, n))
            if area > 50
        ]


def scene(boxes: list[tuple[int, int]]) -> Image:
    rng = np.random.default_rng(7)  # the same textured background in every frame
    frame = rng.integers(40, 200, (H, W, 3), dtype=np.uint8)
    for x, y in boxes:
        frame[y : y + 160, x : x + 60] = 255
    return frame


def run(
    redetect_every: int, walkers: list[list[tuple[int, int]]], still_every: int = 100, full_every: int = 100
) -> tuple[WhiteBoxes, Pipeline, list[int]]:
    cfg = CameraConfig(
        camera_id="cam-synthetic",
        location=GeoPoint(lat=0.0, lon=0.0),
        model=ModelConfig(Path("unused.onnx")),
        sample_fps=FPS,
        motion=replace(MotionConfig(), still_every=still_every, redetect_every=redetect_every, full_every=full_every),
    )
    cfg = replace(cfg, abandoned=replace(cfg.abandoned, enabled=False))
    det = WhiteBoxes()
    pipe = Pipeline(cfg, det, start=datetime(2026, 1, 1, tzinfo=UTC))
    inferred = []
    for i, boxes in enumerate(walkers):
        before = det.calls
        pipe.process(Sample(scene(boxes), i / FPS, i))
        if det.calls > before:
            inferred.append(i)
    return det, pipe, inferred


def walk(n: int) -> list[list[tuple[int, int]]]:
    return [[(100 + 4 * i, 150)] for i in range(n)]  # 20 px/s: little against a 60-px-wide person


def test_a_steady_walker_is_redetected_every_n_samples_with_one_track() -> None:
    det, pipe, inferred = run(3, walk(20))
    assert det.calls == len(inferred)
    assert inferred[:2] == [0, 1], "first look, then the second hit that confirms the track"
    assert inferred[2:] == list(range(4, 20, 3)), inferred
    assert pipe.stats.followed == 20 - len(inferred)
    assert [tr.id for tr in pipe.tracker.tracks.values()] == [1], "one stable track"
    _, _, all_inferred = run(1, walk(20))
    assert all_inferred == list(range(20)), "redetect_every: 1 infers every moving sample"


def test_motion_away_from_the_tracks_runs_the_detector_at_once() -> None:
    frames = walk(12)
    for i in range(7, 12):
        frames[i] = [*frames[i], (450, 200 + 4 * (i - 7))]  # a second person steps in at sample 7
    _, pipe, inferred = run(3, frames)
    assert 7 in inferred, inferred
    assert len(pipe.tracker.tracks) == 2


def test_a_fast_object_is_detected_on_every_sample() -> None:
    fast = [[(40 + 30 * i, 150)] for i in range(15)]  # 150 px/s: more than FOLLOW_MOVE of its width per sample
    _, _, inferred = run(3, fast)
    assert inferred == list(range(15)), inferred


def test_a_still_scene_is_checked_where_the_tracks_are_and_whole_every_full_every() -> None:
    det, pipe, inferred = run(3, [[(100, 150)]] * 30, still_every=4, full_every=12)
    assert inferred == list(range(0, 30, 4)), "nothing moves: a look every still_every samples"
    whole = [i for i, shape in zip(inferred, det.shapes, strict=True) if shape == (H, W)]
    assert whole == [0, 12, 24], (inferred, det.shapes)
    assert all(shape != (H, W) for i, shape in zip(inferred, det.shapes, strict=True) if i not in whole)
    assert pipe.stats.full == 3 and [tr.id for tr in pipe.tracker.tracks.values()] == [1], "verified, not lost"
    _, _, looked = run(3, [[]] * 30, still_every=4, full_every=12)
    assert looked == [0, 12, 24], "an empty still scene: only the full_every frames"
