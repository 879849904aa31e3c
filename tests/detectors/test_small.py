"""Small and dense people: tiles at the scene's scale (detectors/tiling.py) against the hand-labelled frames of
the shared clips (tests/detectors/labels/README.md), and motion gating that still pays off with tiles."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from detectors.model import Detection, Image, ModelConfig, YoloxDetector
from detectors.tiling import layout, merge, scene_scale, spans
from tests.detectors.conftest import ABODA, EXAMPLES, MODEL, PETS, T0, need
from tests.detectors.labels.evaluate import HERE, Labelled, Score, evaluate, load, mosaics

# The setting docs/detectors.md recommends for the scene (people 60-100 px tall in a 1280-px-wide frame).
RECOMMENDED = {"scene_min_height_px": 60.0}


def test_spans_cover_with_the_overlap_and_never_exceed_the_tile() -> None:
    for lo, hi, size, overlap in ((0, 1280, 624, 0.25), (37, 990, 300, 0.1), (0, 624, 624, 0.25), (5, 100, 624, 0.5)):
        parts = spans(lo, hi, size, overlap)
        assert parts[0][0] == lo and parts[-1][1] == hi
        assert all(b - a <= size for a, b in parts)
        for (_, end), (start, _) in itertools.pairwise(parts):
            assert end - start >= overlap * size - 1  # consecutive spans overlap by at least the share (rounding)
    assert spans(0, 600, 624, 0.25) == [(0, 600)]
    # As short as the overlap allows, in whole strides (48 frame px: 32 input px at 2/3): no grey padding.
    assert [b - a for a, b in spans(0, 1280, 624, 0.25, 48.0)] == [576, 576, 576]
    assert len(layout((0, 0, 1280, 960), 624, 0.25)) == 6  # 3 columns x 2 rows


def test_merge_joins_cut_halves_absorbs_parts_and_keeps_neighbours() -> None:
    # A person cut by a tile border at y=100: the top half from one tile, the bottom half from the next.
    halves = np.array([[10, 40, 30, 100], [11, 80, 31, 150]], np.float32)
    boxes, _ = merge(halves, np.array([0.8, 0.7], np.float32), np.array([8, 2], np.int8), 0.45)
    assert boxes.tolist() == [[10, 40, 31, 150]]
    # A part cut by a border inside a whole box of the same person (the neighbouring tile saw all of it).
    part = np.array([[10, 40, 30, 150], [10, 40, 30, 100]], np.float32)
    boxes, _ = merge(part, np.array([0.6, 0.9], np.float32), np.array([0, 8], np.int8), 0.45)
    assert boxes.tolist() == [[10, 40, 30, 150]]
    # Two people side by side, one of them cut: both stay.
    pair = np.array([[10, 40, 30, 150], [28, 45, 50, 100]], np.float32)
    boxes, _ = merge(pair, np.array([0.9, 0.8], np.float32), np.array([0, 8], np.int8), 0.45)
    assert len(boxes) == 2


def test_scene_scale_raises_the_scale_only_where_people_are_small() -> None:
    fitted = 416 / 1280
    assert scene_scale(fitted, None) == fitted
    assert scene_scale(fitted, 60) == pytest.approx(40 / 60)  # the smallest person 40 px at the input
    assert scene_scale(fitted, 400) == fitted  # already large enough at the fitted scale


@pytest.fixture(scope="module")
def walkway() -> list[Labelled]:
    need(PETS)
    return load(HERE / "pets2009_walkway.json", PETS)


@pytest.fixture(scope="module")
def concourse(walkway: list[Labelled]) -> list[Labelled]:
    """The walkway's labelled frames in 2x2 mosaics at 1280x960, each frame 4/3: 720p-class width, people
    29-120 px tall (the issue's 80-90 px people are 26-29 px at a 416 input; these 60-100 px ones 20-33)."""
    return mosaics(walkway)


def score(frames: list[Labelled], **model: object) -> tuple[Score, YoloxDetector]:
    need(MODEL)
    det = YoloxDetector(ModelConfig(MODEL, keep=frozenset({"person"}), **model))  # type: ignore[arg-type]

    def boxes(image: Image) -> list[tuple[tuple[float, float, float, float], float]]:
        return [((d.x1, d.y1, d.x2, d.y2), d.score) for d in det.detect(image)]

    return evaluate(boxes, frames), det


def test_tiles_at_the_scene_scale_find_the_small_people_the_default_misses(concourse: list[Labelled]) -> None:
    default, _ = score(concourse)
    tiled, det = score(concourse, **RECOMMENDED)
    assert det.calls == 6 * len(concourse)  # 1280x960 at 2/3: 3 x 2 tiles of 416 px
    # The criterion: people 60-100 px tall in a 720p-wide frame at >= 80 % recall.
    assert tiled.recall(60, 100) >= 0.8, tiled.table()
    # Over every small person (40-100 px) the default falls short and tiles do not.
    assert default.recall(40, 100) < 0.8 <= tiled.recall(40, 100), (default.table(), tiled.table())
    assert tiled.precision() >= 0.9, tiled.table()
    assert tiled.count_mae < default.count_mae / 2, (tiled.count_errors, default.count_errors)


def test_one_input_at_the_scene_scale_matches_the_tiles(concourse: list[Labelled]) -> None:
    whole, det = score(concourse, **RECOMMENDED, tiling=False)
    assert det.calls == len(concourse)
    assert whole.recall(60, 100) >= 0.8 and whole.precision() >= 0.9, whole.table()


def test_the_default_scale_stays_right_for_large_people(walkway: list[Labelled]) -> None:
    """Where people are large against the input (the walkway at 480x360, ABODA at 720x480) the default needs no
    tiles; the scene setting there changes nothing for them."""
    need(ABODA)
    aboda = load(HERE / "aboda_video4.json", ABODA)
    native, _ = score(walkway)
    assert native.recall(40, 100) >= 0.9, native.table()
    big, det = score(aboda, scene_min_height_px=100.0)
    assert det.calls == len(aboda) and big.recall(100) >= 0.8, big.table()


def test_a_person_cut_by_a_tile_border_is_joined_into_one_box(walkway: list[Labelled]) -> None:
    """Two tiles meeting (no overlap) on a vertical border through each labelled walker's centre, at 2x: each
    tile sees half a person. The merge joins the halves into one box that matches the person."""
    need(MODEL)
    det = YoloxDetector(ModelConfig(MODEL, keep=frozenset({"person"}), scene_min_height_px=20.0, tile_overlap=0.0))
    side = det.tile_px(det.scale(360, 480))
    split = joined = 0
    for frame in walkway:
        for p in frame.people:
            cx, cy = int((p[0] + p[2]) / 2), int((p[1] + p[3]) / 2)
            region = (cx - side, cy - side // 2, cx + side, cy + side // 2)
            if region[0] < 0 or region[1] < 0 or region[2] > 480 or region[3] > 360:
                continue
            tiles = det.tile_layout(region, 360, 480)
            assert [t[2] for t in tiles] == [cx, cx + side]  # two tiles, meeting at the person's centre
            parts = [_iou(p, d) for t in tiles for d in det.detect_region(frame.image, t) if _iou(p, d) > 0.1]
            if len(parts) < 2 or max(parts) >= 0.5:
                continue  # not seen as two halves
            split += 1
            joined += any(_iou(p, d) >= 0.5 for d in det.detect_region(frame.image, region))
    assert split >= 8, split
    assert joined >= 0.75 * split, (joined, split)


def _iou(p: tuple[float, ...], d: Detection) -> float:
    iw = max(0.0, min(p[2], d.x2) - max(p[0], d.x1))
    ih = max(0.0, min(p[3], d.y2) - max(p[1], d.y1))
    inter = iw * ih
    return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (d.x2 - d.x1) * (d.y2 - d.y1) - inter)


def test_motion_gating_still_pays_off_with_tiles_on_a_quiet_scene(tmp_path: Path) -> None:
    """ABODA (a still scene, one walker) tiled 3 x 2 at 4/3: the gated worker infers a small share of the
    tiles an ungated one would, skipping tiles with no motion and no track, and still tracks the walker."""
    need(ABODA, MODEL)
    from detectors.capture import FrameSource, Sample
    from detectors.config import load_config
    from detectors.model import load_detector
    from detectors.pipeline import Pipeline

    cfg = load_config(EXAMPLES / "aboda_left_bag.yaml")
    cfg = replace(cfg, snapshot_dir=tmp_path, model=replace(cfg.model, scene_min_height_px=30.0))
    det = load_detector(cfg.model)
    assert isinstance(det, YoloxDetector)
    pipe = Pipeline(cfg, det, start=T0)
    samples, people = 0, set()
    for s in FrameSource(str(ABODA), cfg.sample_fps, threads=cfg.decode_threads).frames():
        assert isinstance(s, Sample)
        if s.index >= 450:  # 15 s: the scene still, then a man walks in (from ~10 s)
            break
        samples += 1
        for ev in pipe.process(s):
            if ev.data.analytic.value == "person":
                people.add(ev.data.track_id)
    per_frame = len(det.tile_layout((0, 0, 720, 480), 480, 720))
    assert per_frame == 6
    assert people, "the walker is tracked through the tiles"
    assert det.calls <= 0.25 * samples * per_frame, (det.calls, samples, pipe.stats)


def test_tiles_with_no_motion_and_no_track_are_skipped() -> None:
    """A 1440x1080 frame tiled 3 x 2 at the scene's scale: motion in the top-left corner and one track at the
    bottom right leave the tiles between them out (the whole frame is inferred: the two span most of it)."""
    need(MODEL, ABODA)
    from detectors.config import load_config
    from detectors.motion import Motion
    from detectors.pipeline import Pipeline

    cfg = load_config(EXAMPLES / "aboda_left_bag.yaml")
    cfg = replace(cfg, snapshot_dir=None, model=replace(cfg.model, scene_min_height_px=60.0))
    det = YoloxDetector(cfg.model)
    pipe = Pipeline(cfg, det, start=T0)
    frame = np.full((1080, 1440, 3), 128, np.uint8)
    mask = np.zeros((120, 160), np.uint8)
    mask[5:15, 5:15] = 255  # frame pixels ~45-135: the top-left tile only
    pipe.tracker.update([Detection(1300.0, 900.0, 1340.0, 1000.0, 0.9, "person")], 0.0)
    wanted = pipe._tiles_wanted(frame, Motion(True, 0.01, (0.0, 0.0, 1440.0, 1080.0), mask), 0.0)
    assert wanted is not None
    tiles = det.tile_layout((0, 0, 1440, 1080), 1080, 1440)
    assert len(tiles) == 6
    assert [wanted(t) for t in tiles] == [True, False, False, False, False, True]
    pipe.infer(frame, None, wanted)
    assert det.calls == 2
    # Without tiles (the default scale) there is nothing to skip: the filter is not made.
    plain = Pipeline(cfg, YoloxDetector(replace(cfg.model, scene_min_height_px=None)), start=T0)
    assert plain._tiles_wanted(frame, Motion(True, 0.01, None, mask), 0.0) is None
