"""YOLOX adapter: letterbox, grid decoding and NMS on constructed outputs, and the real model on a real frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from detectors.errors import ModelError
from detectors.model import COCO_CLASSES, Detection, ModelConfig, YoloxDetector, letterbox, load_detector, nms
from detectors.onnxshape import encode, free_spatial_input, input_dims, put_varint
from tests.detectors.conftest import MODEL, PETS, need


def test_letterbox_keeps_aspect_and_pads_114() -> None:
    frame = np.full((360, 480, 3), 7, np.uint8)
    blob, r = letterbox(frame, 416)
    assert blob.shape == (1, 3, 416, 416) and blob.dtype == np.float32
    assert r == pytest.approx(416 / 480)
    assert blob[0, :, 0, 0].tolist() == [7, 7, 7]
    assert blob[0, :, 415, 0].tolist() == [114, 114, 114]  # below the image: padding


def test_nms_drops_overlaps_and_keeps_separate_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert nms(boxes, scores, 0.45) == [0, 2]


@pytest.fixture(scope="module")
def detector() -> YoloxDetector:
    need(MODEL)
    return YoloxDetector(ModelConfig(MODEL, score_threshold=0.3))


def test_grid_decoding_places_a_box_where_the_cell_says(detector: YoloxDetector) -> None:
    """One stride-16 cell (column 10, row 5) with offsets (0.5, 0.25) and size exp(1)*16: a person there."""
    n8, n16 = 52 * 52, 26 * 26
    pred = np.zeros((n8 + n16 + 13 * 13, 85), np.float32)
    cell = n8 + 5 * 26 + 10
    pred[cell, :4] = [0.5, 0.25, 1.0, 0.0]
    pred[cell, 4] = 0.9
    pred[cell, 5 + COCO_CLASSES.index("person")] = 0.8
    dets = detector.decode(pred, 0.5, 832, 832)  # r = 0.5: the frame was twice the input size
    assert len(dets) == 1
    d = dets[0]
    assert d.label == "person" and d.score == pytest.approx(0.72)
    cx, cy, w, h = (10.5 * 16) / 0.5, (5.25 * 16) / 0.5, np.e * 16 / 0.5, 16 / 0.5
    assert (d.x1, d.y1, d.x2, d.y2) == pytest.approx((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), rel=1e-5)


def test_real_model_finds_the_people_on_the_walkway(detector: YoloxDetector) -> None:
    need(PETS)
    cap = cv2.VideoCapture(str(PETS))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 300)
    ok, frame = cap.read()
    cap.release()
    assert ok
    people = [d for d in detector.detect(frame) if d.label == "person"]
    # Frame 300 shows six people on the walkway and the road (counted by eye); nano finds most of them.
    assert 5 <= len(people) <= 9, people
    assert all(0 <= d.x1 < d.x2 <= 480 and 0 <= d.y1 < d.y2 <= 360 for d in people)


def test_bad_model_paths_and_adapters_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_detector(ModelConfig(tmp_path / "none.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        load_detector(ModelConfig(junk))
    with pytest.raises(ModelError, match="unknown model adapter"):
        load_detector(ModelConfig(junk, adapter="ssd"))


def test_letterbox_with_a_stride_pads_only_to_it() -> None:
    frame = np.full((480, 720, 3), 7, np.uint8)
    blob, r = letterbox(frame, 416, stride=32)
    assert blob.shape == (1, 3, 288, 416) and r == pytest.approx(416 / 720)  # 277 rows of image, 11 of padding
    assert blob[0, :, 276, 0].tolist() == [7, 7, 7] and blob[0, :, 278, 0].tolist() == [114, 114, 114]
    crop, rc = letterbox(frame[:100, :50], 416, stride=32, scale=0.5)
    assert crop.shape == (1, 3, 64, 32) and rc == 0.5


def test_a_fixed_size_export_is_freed_and_computes_the_same() -> None:
    need(MODEL)
    fixed = MODEL.read_bytes()
    free = free_spatial_input(fixed)
    assert input_dims(fixed) == [1, 3, 416, 416] and input_dims(free) == [1, 3, "height", "width"]
    x = np.random.default_rng(1).uniform(0, 255, (1, 3, 416, 416)).astype(np.float32)
    a = ort.InferenceSession(fixed, providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    session = ort.InferenceSession(free, providers=["CPUExecutionProvider"])
    assert np.array_equal(session.run(None, {"images": x})[0], a)
    assert session.run(None, {"images": x[:, :, :288]})[0].shape == (1, 52 * 36 + 26 * 18 + 13 * 9, 85)
    with pytest.raises(ModelError, match="not an ONNX model"):
        free_spatial_input(b"\xff\xff\xff")
    assert free_spatial_input(free) == free_spatial_input(free_spatial_input(free)), "idempotent"


def iou(a: Detection, b: Detection) -> float:
    w = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    h = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = w * h
    return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter)


def test_a_region_is_inferred_at_the_frame_scale_and_finds_what_the_frame_finds(detector: YoloxDetector) -> None:
    need(PETS)
    cap = cv2.VideoCapture(str(PETS))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 300)
    ok, frame = cap.read()
    cap.release()
    assert ok
    square = YoloxDetector(ModelConfig(MODEL, score_threshold=0.3, rectangular=False))
    whole = [d for d in detector.detect(frame) if d.label == "person"]
    # The rectangular letterbox (416x320 here) finds the people the square one (416x416) does.
    ref = [d for d in square.detect(frame) if d.label == "person"]
    assert len(whole) == len(ref) and all(max(iou(d, e) for e in whole) > 0.9 for d in ref)
    region = (200, 60, 480, 360)  # the right part of the walkway: a 280x300 crop, at 416/480 of its size
    inside = [d for d in whole if d.x1 >= region[0] + 5 and d.y1 >= region[1] + 5]
    got = [d for d in detector.detect_region(frame, region) if d.label == "person"]
    assert inside and all(max((iou(d, e) for e in got), default=0.0) > 0.7 for d in inside), (inside, got)
    assert all(d.x1 >= region[0] and d.y1 >= region[1] for d in got), "boxes are in frame coordinates"


def test_a_region_is_fitted_to_whole_strides_of_picture(detector: YoloxDetector) -> None:
    """The fitted crop letterboxes with no grey: each side a multiple of 32 input pixels at the frame's scale,
    the nearest one to the asked side, about its centre, inside the frame; a square model takes it as asked."""
    h, w = 480, 720
    r = detector.scale(h, w)
    rng = np.random.default_rng(0)
    for _ in range(200):
        x1, y1 = rng.uniform(0, w - 20), rng.uniform(0, h - 20)
        region = (x1, y1, rng.uniform(x1 + 10, w), rng.uniform(y1 + 10, h))
        fx1, fy1, fx2, fy2 = detector.fit_region(region, h, w)
        assert 0 <= fx1 < fx2 <= w and 0 <= fy1 < fy2 <= h
        blob, _ = letterbox(np.zeros((fy2 - fy1, fx2 - fx1, 3), np.uint8), 416, stride=32, scale=r)
        for asked, got, side, limit in (
            (region[2] - region[0], fx2 - fx1, 3, w),
            (region[3] - region[1], fy2 - fy1, 2, h),
        ):
            n = blob.shape[side]
            if got < limit:  # a crop as large as the frame keeps the frame's own padding
                assert round(got * r) >= n - 1, "no grey: the crop fills its input within a pixel"
                assert n == max(32, round(asked * r / 32) * 32), "the nearest multiple of the stride"
        centre = ((region[0] + region[2]) / 2, (fx1 + fx2) / 2)
        assert abs(centre[0] - centre[1]) <= 1 or fx1 == 0 or fx2 == w
    square = YoloxDetector(ModelConfig(MODEL, rectangular=False))
    assert square.fit_region((10.7, 20.2, 300.9, 400.0), h, w) == (10, 20, 300, 400)


def toy_reshape_model(h: int, w: int) -> bytes:
    """A hand-encoded ONNX model, images [1,3,h,w] -> Reshape to the constant [1,3,h*w]: an export whose graph
    bakes its input size in, so it cannot run at any other size."""

    def msg(*fields: tuple[int, int, bytes]) -> bytes:
        return encode(list(fields))

    def s(n: int, text: str) -> tuple[int, int, bytes]:
        return (n, 2, text.encode())

    def varint(n: int, v: int) -> tuple[int, int, bytes]:
        return (n, 0, put_varint(v))

    def tensor_type(dims: list[int]) -> tuple[int, int, bytes]:
        shape = msg(*[(1, 2, msg(varint(1, d))) for d in dims])
        return (2, 2, msg((1, 2, msg(varint(1, 1), (2, 2, shape)))))  # TypeProto.tensor_type{FLOAT, shape}

    packed = b"".join(put_varint(v) for v in (1, 3, h * w))
    shape_const = msg(varint(1, 3), varint(2, 7), (7, 2, packed), s(8, "shape"))  # TensorProto int64 [3]
    node = msg(s(1, "images"), s(1, "shape"), s(2, "output"), s(4, "Reshape"))
    graph = msg(
        (1, 2, node),
        s(2, "toy"),
        (5, 2, shape_const),
        (11, 2, msg(s(1, "images"), tensor_type([1, 3, h, w]))),
        (12, 2, msg(s(1, "output"), tensor_type([1, 3, h * w]))),
    )
    return msg(varint(1, 7), (7, 2, graph), (8, 2, msg(s(1, ""), varint(2, 13))))


def test_an_export_that_bakes_its_size_in_fails_clearly_at_another_size(tmp_path: Path) -> None:
    path = tmp_path / "toy.onnx"
    path.write_bytes(toy_reshape_model(64, 64))
    assert ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()[0].shape == [1, 3, 64, 64]
    det = YoloxDetector(ModelConfig(path, input_size=64))
    assert det.freed and det.session.get_inputs()[0].shape == [1, 3, "height", "width"]
    with pytest.raises(ModelError, match=r"(?s)inference on a 32x64 input failed.*model\.rectangular: false"):
        det.detect(np.zeros((32, 64, 3), np.uint8))
