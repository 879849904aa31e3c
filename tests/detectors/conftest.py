"""Shared paths and runs for the detector tests. Real clips and the model live beside the checkout."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.events import VideoDetection, VideoDetectionEvent

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / ".." / "shared"
MODEL = SHARED / "models" / "yolox_nano.onnx"
PETS = SHARED / "data" / "video" / "opencv_vtest_pets2009_s2l1_480x360.avi"
ABODA = SHARED / "data" / "video" / "aboda_video4.avi"
EXAMPLES = ROOT / "detectors" / "examples"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def need(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"real data absent: {', '.join(missing)} (see ../shared/data/README.md)")


@dataclass(frozen=True)
class Seen:
    """One event of a run with the source frame it came from."""

    index: int
    t: float
    event: VideoDetectionEvent

    @property
    def data(self) -> VideoDetection:
        return self.event.data


def run_clip(config: Path, clip: Path, tmp: Path) -> Iterator[Seen]:
    from detectors.capture import FrameSource, Sample
    from detectors.config import load_config
    from detectors.model import load_detector
    from detectors.pipeline import Pipeline

    cfg = replace(load_config(config), snapshot_dir=tmp)
    pipe = Pipeline(cfg, load_detector(cfg.model), start=T0)
    index, t = 0, 0.0
    for s in FrameSource(str(clip), cfg.sample_fps, threads=cfg.decode_threads).frames():
        assert isinstance(s, Sample), "a file never reports a lost stream"
        index, t = s.index, s.t
        for ev in pipe.process(s):
            yield Seen(index, t, ev)
    for ev in pipe.close():
        yield Seen(index, t, ev)


@pytest.fixture(scope="session")
def pets_run(tmp_path_factory: pytest.TempPathFactory) -> list[Seen]:
    need(PETS, MODEL)
    return list(run_clip(EXAMPLES / "pets2009_walkway.yaml", PETS, tmp_path_factory.mktemp("pets")))


@pytest.fixture(scope="session")
def aboda_run(tmp_path_factory: pytest.TempPathFactory) -> list[Seen]:
    need(ABODA, MODEL)
    return list(run_clip(EXAMPLES / "aboda_left_bag.yaml", ABODA, tmp_path_factory.mktemp("aboda")))
