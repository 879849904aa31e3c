"""ONNX detectors through onnxruntime. YOLOX is the reference adapter; others plug in through `ADAPTERS`.

YOLOX export (Megvii, and the reference yolox_nano.onnx): input [1,3,S,S] float32 BGR 0..255 letterboxed
(top-left aligned, pad 114, no mean/std); output [1,N,5+C] raw: per-cell (dx, dy, log w, log h) in stride units,
objectness and class probabilities already through a sigmoid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from detectors.errors import ModelError

Image = npt.NDArray[Any]  # an OpenCV BGR frame (H, W, 3) uint8; cv2's stubs type arrays loosely
FloatArray = npt.NDArray[np.float32]

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Detection:
    """One box in pixel coordinates of the original frame (x1, y1, x2, y2)."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    label: str


@dataclass(frozen=True)
class ModelConfig:
    path: Path
    adapter: str = "yolox"
    input_size: int = 416
    score_threshold: float = 0.3
    nms_threshold: float = 0.45
    classes: tuple[str, ...] = COCO_CLASSES
    keep: frozenset[str] | None = None  # labels to report; None keeps all
    threads: int = 1
    providers: tuple[str, ...] = ("CPUExecutionProvider",)


class ObjectDetector(Protocol):
    def detect(self, frame: Image) -> list[Detection]: ...


def letterbox(frame: Image, size: int, pad: int = 114) -> tuple[FloatArray, float]:
    """Resize keeping aspect into a size x size canvas (top-left aligned); returns NCHW float32 and the scale."""
    h, w = frame.shape[:2]
    r = min(size / h, size / w)
    nh, nw = round(h * r), round(w * r)
    canvas = np.full((size, size, 3), pad, dtype=np.uint8)
    canvas[:nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32), r


def _grids(size: int, strides: tuple[int, ...]) -> tuple[FloatArray, FloatArray]:
    grids, expanded = [], []
    for s in strides:
        n = size // s
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        grids.append(np.stack((xs, ys), axis=2).reshape(-1, 2))
        expanded.append(np.full((n * n, 1), s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(expanded).astype(np.float32)


def nms(boxes: FloatArray, scores: FloatArray, threshold: float) -> list[int]:
    """Greedy non-maximum suppression; boxes are x1, y1, x2, y2."""
    order = scores.argsort()[::-1]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= threshold]
    return keep


class YoloxDetector:
    def __init__(self, cfg: ModelConfig) -> None:
        if not cfg.path.is_file():
            raise ModelError(f"model file not found: {cfg.path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = cfg.threads
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(cfg.path), opts, providers=list(cfg.providers))
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load {cfg.path}: {exc}") from exc
        inp = self.session.get_inputs()[0]
        self.input_name: str = inp.name
        shape = inp.shape
        if len(shape) != 4 or (isinstance(shape[2], int) and shape[2] != cfg.input_size):
            raise ModelError(f"{cfg.path}: input {inp.name} has shape {shape}, config says {cfg.input_size}")
        self.cfg = cfg
        self.grid, self.strides = _grids(cfg.input_size, (8, 16, 32))
        self.last_infer_s = 0.0

    def raw(self, blob: FloatArray) -> FloatArray:
        out = self.session.run(None, {self.input_name: blob})[0]
        arr: FloatArray = np.asarray(out, dtype=np.float32)[0]
        if arr.shape != (self.grid.shape[0], 5 + len(self.cfg.classes)):
            raise ModelError(f"{self.cfg.path}: output shape {arr.shape} does not match YOLOX grids/classes")
        return arr

    def detect(self, frame: Image) -> list[Detection]:
        blob, r = letterbox(frame, self.cfg.input_size)
        pred = self.raw(blob)
        return self.decode(pred, r, frame.shape[1], frame.shape[0])

    def decode(self, pred: FloatArray, r: float, width: int, height: int) -> list[Detection]:
        cls = pred[:, 5:]
        best = cls.argmax(axis=1)
        scores = pred[:, 4] * cls[np.arange(len(best)), best]
        mask = scores >= self.cfg.score_threshold
        if not mask.any():
            return []
        p, g, s, best, scores = pred[mask], self.grid[mask], self.strides[mask], best[mask], scores[mask]
        cxcy = (p[:, :2] + g) * s
        wh = np.exp(np.clip(p[:, 2:4], -10, 10)) * s
        boxes = np.concatenate((cxcy - wh / 2, cxcy + wh / 2), axis=1) / r
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        out: list[Detection] = []
        for c in np.unique(best):  # class-aware NMS
            idx = np.flatnonzero(best == c)
            label = self.cfg.classes[int(c)]
            if self.cfg.keep is not None and label not in self.cfg.keep:
                continue
            for k in nms(boxes[idx], scores[idx], self.cfg.nms_threshold):
                b = boxes[idx[k]]
                out.append(Detection(float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(scores[idx[k]]), label))
        return out


ADAPTERS: dict[str, Callable[[ModelConfig], ObjectDetector]] = {"yolox": YoloxDetector}


def load_detector(cfg: ModelConfig) -> ObjectDetector:
    factory = ADAPTERS.get(cfg.adapter)
    if factory is None:
        raise ModelError(f"unknown model adapter {cfg.adapter!r}; known: {sorted(ADAPTERS)}")
    return factory(cfg)
