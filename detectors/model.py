"""ONNX detectors through onnxruntime. YOLOX is the reference adapter; others plug in through `ADAPTERS`.

YOLOX export (Megvii, and the reference yolox_nano.onnx): input [1,3,S,S] float32 BGR 0..255 letterboxed
(top-left aligned, pad 114, no mean/std); output [1,N,5+C] raw: per-cell (dx, dy, log w, log h) in stride units,
objectness and class probabilities already through a sigmoid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol, runtime_checkable

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from pydantic import ValidationInfo, field_validator, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from detectors.errors import ModelError
from detectors.fields import SECTION, Flag, Int, Invalid, Names, Num, Text
from detectors.onnxshape import free_spatial_input, input_dims
from detectors.tiling import CUT_TOLERANCE_PX, SMALLEST_SHARE, Region, cut_sides, layout, merge, scene_scale

Image = npt.NDArray[Any]  # an OpenCV BGR frame (H, W, 3) uint8; cv2's stubs type arrays loosely
FloatArray = npt.NDArray[np.float32]
TileFilter = Callable[[tuple[int, int, int, int]], bool]  # whether a tile (x1, y1, x2, y2) is worth inferring

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


@pydantic_dataclass(frozen=True, config=SECTION)
class ModelConfig:
    """The `model:` section of a camera config (a pydantic model: unknown keys refused, see detectors/config.py)."""

    path: Path  # relative to the camera config file when loaded from one
    adapter: Annotated[str, Text()] = "yolox"
    input_size: Annotated[int, Int(32)] = 416
    score_threshold: Annotated[float, Num(0, 1)] = 0.3
    nms_threshold: Annotated[float, Num(0, 1)] = 0.45
    classes: Annotated[tuple[str, ...], Names(ordered=True, nonempty=True)] = COCO_CLASSES  # the output order
    keep: Annotated[frozenset[str], Names()] | None = None  # labels to report; None (or empty) keeps all
    threads: Annotated[int, Int(1)] = 1
    providers: Annotated[tuple[str, ...], Names(ordered=True, nonempty=True)] = ("CPUExecutionProvider",)
    # Letterbox to the frame's own aspect, padded only to the model's stride (a 720x480 frame: 416x288 instead of
    # 416x416, 30 % less work), and infer crops at the full frame's scale. A model exported with a fixed input
    # size has its H and W made symbolic in memory (detectors/onnxshape.py). False: the square of the export.
    rectangular: Annotated[bool, Flag()] = True
    # Small objects (detectors/tiling.py; docs/detectors.md, "Small objects"): the smallest person height, in frame
    # pixels, this camera must find. Frames are then inferred at the scale where that height is MIN_INPUT_PX (40)
    # at the model's input, when that is above the scale of the frame fitted into input_size; person boxes under
    # half of it are dropped. None: the fitted scale.
    scene_min_height_px: Annotated[float, Num(1)] | None = None
    # At the scene's scale, a frame or crop larger than the input is inferred in tiles of input_size overlapping
    # by tile_overlap (a share of a tile), merged; the pipeline skips tiles with no motion and no track. False: in
    # one input (rectangular models only: a square one always tiles).
    tiling: Annotated[bool, Flag()] = True
    tile_overlap: Annotated[float, Num(0, 0.75)] = 0.25
    # With tiles, also infer the region at the fitted scale, for objects too large to lie whole in a tile.
    tile_full_frame: Annotated[bool, Flag()] = False

    @field_validator("path", mode="before")
    @classmethod
    def _relative_to_config(cls, v: Any, info: ValidationInfo) -> Any:
        if not isinstance(v, str | Path) or not str(v):
            raise Invalid(f"must be the path of an ONNX file, got {v!r}")
        base = (info.context or {}).get("base")
        return (base / v).resolve() if base is not None else Path(v)

    @field_validator("keep")
    @classmethod
    def _empty_keeps_all(cls, v: frozenset[str] | None) -> frozenset[str] | None:
        return v or None

    @field_validator("providers")
    @classmethod
    def _provider_names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not all(p.endswith("ExecutionProvider") for p in v):
            raise Invalid("must be onnxruntime provider names, e.g. [CUDAExecutionProvider, CPUExecutionProvider]")
        return v

    @model_validator(mode="after")
    def _keep_known(self) -> ModelConfig:
        unknown = sorted(set(self.keep or ()) - set(self.classes))
        if unknown:
            raise Invalid(f"unknown classes {unknown}", ("keep",))
        return self


class ObjectDetector(Protocol):
    def detect(self, frame: Image) -> list[Detection]: ...


@runtime_checkable
class RegionDetector(Protocol):
    """A detector that infers a region of a frame at the scale it would infer the whole frame: the objects in
    a crop look the same size to the model as in the full frame, and a small crop costs a small inference."""

    # The smallest side worth cropping, in frame pixels: 0 where crops keep the frame's scale, the input size
    # where a crop is resized to the model's input (a smaller crop would be upscaled, which hurts YOLOX-Nano).
    crop_min: int

    def detect(self, frame: Image) -> list[Detection]: ...

    def detect_region(
        self, frame: Image, region: tuple[int, int, int, int], wanted: TileFilter | None = None
    ) -> list[Detection]: ...

    def tiled(self, height: int, width: int) -> bool: ...

    def fit_region(
        self, region: tuple[float, float, float, float], height: int, width: int
    ) -> tuple[int, int, int, int]: ...


def letterbox(
    frame: Image, size: int, pad: int = 114, *, stride: int | None = None, scale: float | None = None
) -> tuple[FloatArray, float]:
    """Resize keeping aspect, top-left aligned, into a size x size canvas, or with `stride` into the smallest
    canvas of multiples of it; `scale` overrides the fit-into-size scale. Returns NCHW float32 and the scale."""
    h, w = frame.shape[:2]
    r = scale if scale is not None else min(size / h, size / w)
    nh, nw = max(1, round(h * r)), max(1, round(w * r))
    ch, cw = (size, size) if stride is None else (-(-nh // stride) * stride, -(-nw // stride) * stride)
    # Straight into the float NCHW blob (no uint8 canvas, no second copy): ~15 % of a full frame's preprocessing.
    blob = np.empty((1, 3, ch, cw), np.float32)
    chw = blob[0]
    chw[:, nh:, :] = pad
    chw[:, :nh, nw:] = pad
    chw[:, :nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)
    return blob, r


STRIDES = (8, 16, 32)


def _cell_xy(idx: npt.NDArray[np.intp], height: int, width: int) -> tuple[FloatArray, FloatArray]:
    """Grid offsets (x, y) and strides of output cells `idx` (sorted) for an input of this size: the outputs are the
    stride-8 cells row by row, then stride 16, then 32. Computed for the candidates only (~0.3 ms saved per new
    crop size against building every cell's grid)."""
    xy = np.empty((len(idx), 2), np.float32)
    strides = np.empty((len(idx), 1), np.float32)
    start = 0
    for s in STRIDES:
        nh, nw = height // s, width // s
        lo, hi = np.searchsorted(idx, (start, start + nh * nw))
        j = idx[lo:hi] - start
        xy[lo:hi, 0], xy[lo:hi, 1], strides[lo:hi] = j % nw, j // nw, s
        start += nh * nw
    return xy, strides


def _snap(lo: float, hi: float, limit: int, r: float, stride: int) -> tuple[int, int]:
    """lo..hi (frame pixels) resized about its centre to the nearest multiple of `stride` input pixels at scale r
    (at most `limit`, kept inside 0..limit); the size is floored, so round(size * r) never passes the multiple."""
    target = max(stride, round((hi - lo) * r / stride) * stride)
    size = min(limit, math.floor(target / r))
    start = int(max(0.0, min((lo + hi - size) / 2, limit - size)))
    return start, start + size


def _cells(height: int, width: int) -> int:
    return sum((height // s) * (width // s) for s in STRIDES)


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
            model = cfg.path.read_bytes()
            self.freed = cfg.rectangular and any(isinstance(d, int) for d in input_dims(model)[2:])
            if self.freed:
                model = free_spatial_input(model)
            self.session = ort.InferenceSession(model, opts, providers=list(cfg.providers))
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load {cfg.path}: {exc}") from exc
        inp = self.session.get_inputs()[0]
        self.input_name: str = inp.name
        shape = inp.shape
        if len(shape) != 4 or (isinstance(shape[2], int) and shape[2] != cfg.input_size):
            raise ModelError(f"{cfg.path}: input {inp.name} has shape {shape}, config says {cfg.input_size}")
        self.cfg = cfg
        self.stride: int | None = STRIDES[-1] if cfg.rectangular else None
        self.crop_min = 0 if cfg.rectangular else cfg.input_size
        self.calls = 0  # onnxruntime runs (a tiled frame or crop is several)

    def raw(self, blob: FloatArray) -> FloatArray:
        self.calls += 1
        try:
            out = self.session.run(None, {self.input_name: blob})[0]
        except Exception as exc:  # onnxruntime raises its own untyped errors
            hint = " (its export fixes the input size and a graph op depends on it: model.rectangular: false)"
            raise ModelError(
                f"{self.cfg.path}: inference on a {blob.shape[2]}x{blob.shape[3]} input failed: {exc}"
                + (hint if self.freed else "")
            ) from exc
        arr: FloatArray = np.asarray(out, dtype=np.float32)[0]
        cells = _cells(blob.shape[2], blob.shape[3])
        if arr.shape != (cells, 5 + len(self.cfg.classes)):
            raise ModelError(f"{self.cfg.path}: output shape {arr.shape} does not match YOLOX grids/classes")
        return arr

    def detect(self, frame: Image) -> list[Detection]:
        h, w = frame.shape[:2]
        if self.upscaled(h, w):  # the scene's scale: the whole frame as a region (tiles where it is large)
            return self.detect_region(frame, (0, 0, w, h))
        return self._plausible(self._infer(frame, None))

    def detect_region(
        self, frame: Image, region: tuple[int, int, int, int], wanted: TileFilter | None = None
    ) -> list[Detection]:
        """Boxes, in frame coordinates, of the region x1, y1, x2, y2 inferred at the whole frame's scale (needs
        `rectangular`; a square model infers the crop at its own input size instead), in tiles where that scale
        is the scene's and the region is larger than the model's input; only the tiles `wanted` says yes to."""
        h, w = frame.shape[:2]
        r = self.scale(h, w)
        up = self.upscaled(h, w)
        if self.tiled(h, w):
            tiles = self.tile_layout(region, h, w)
            if len(tiles) > 1:
                tiles = [t for t in tiles if wanted is None or wanted(t)]
                return self._plausible(self._detect_tiles(frame, region, tiles, r))
        return self._plausible(self._infer_crop(frame, region, r if self.stride is not None or up else None))

    def _plausible(self, dets: list[Detection]) -> list[Detection]:
        """Without person boxes far smaller than the scene's smallest person (tiling.SMALLEST_SHARE of it)."""
        if self.cfg.scene_min_height_px is None:
            return dets
        least = SMALLEST_SHARE * self.cfg.scene_min_height_px
        return [d for d in dets if d.label != "person" or d.y2 - d.y1 >= least]

    def _infer(self, image: Image, r: float | None) -> list[Detection]:
        """One inference of `image` letterboxed at scale r (None: fitted into the input)."""
        blob, r = letterbox(image, self.cfg.input_size, stride=self.stride, scale=r)
        return self.decode(self.raw(blob), r, image.shape[1], image.shape[0], (blob.shape[2], blob.shape[3]))

    def _infer_crop(self, frame: Image, region: Region, r: float | None) -> list[Detection]:
        x1, y1, x2, y2 = region
        found = self._infer(frame[y1:y2, x1:x2], r)
        return [Detection(d.x1 + x1, d.y1 + y1, d.x2 + x1, d.y2 + y1, d.score, d.label) for d in found]

    def _detect_tiles(self, frame: Image, region: Region, tiles: list[Region], r: float) -> list[Detection]:
        """Infer each tile at scale r (and, with tile_full_frame, the region at the fitted scale), then merge
        per class: duplicates from overlaps dropped, boxes cut by an inner tile border folded into the whole."""
        h, w = frame.shape[:2]
        found: list[Detection] = []
        cut: list[int] = []
        for tile in tiles:
            dets = self._infer_crop(frame, tile, r)
            boxes = np.array([[d.x1, d.y1, d.x2, d.y2] for d in dets], np.float32).reshape(-1, 4)
            found += dets
            cut += cut_sides(boxes, tile, w, h, CUT_TOLERANCE_PX / r).tolist()
        if self.cfg.tile_full_frame:  # only what may be too large to lie whole in a tile: the tiles have the rest
            large = self.cfg.tile_overlap * self.tile_px(r)
            fitted = self.fitted_scale(h, w) if self.stride is not None else None
            whole = [d for d in self._infer_crop(frame, region, fitted) if max(d.x2 - d.x1, d.y2 - d.y1) > large]
            found += whole
            cut += [0] * len(whole)
        return self._merge(found, np.asarray(cut, np.int8), CUT_TOLERANCE_PX / r)

    def _merge(self, found: list[Detection], cut: npt.NDArray[np.int8], gap: float) -> list[Detection]:
        out: list[Detection] = []
        labels = np.array([d.label for d in found])
        boxes = np.array([[d.x1, d.y1, d.x2, d.y2] for d in found], np.float32).reshape(-1, 4)
        scores = np.array([d.score for d in found], np.float32)
        for label in dict.fromkeys(labels.tolist()):
            idx = np.flatnonzero(labels == label)
            kept, kept_scores = merge(boxes[idx], scores[idx], cut[idx], self.cfg.nms_threshold, gap)
            for b, score in zip(kept.tolist(), kept_scores.tolist(), strict=True):
                out.append(Detection(b[0], b[1], b[2], b[3], score, label))
        return out

    def tile_px(self, r: float) -> int:
        """A tile's largest side in frame pixels at scale r: the model's input size at the input."""
        return max(1, math.floor(self.cfg.input_size / r))

    def tile_layout(self, region: Region, height: int, width: int) -> list[Region]:
        """The tiles of `region` in a height x width frame at its scale (tiling.layout, sides in whole strides)."""
        r = self.scale(height, width)
        return layout(region, self.tile_px(r), self.cfg.tile_overlap, (self.stride or 1) / r)

    def fit_region(
        self, region: tuple[float, float, float, float], height: int, width: int
    ) -> tuple[int, int, int, int]:
        """The crop to infer for `region` (x1, y1, x2, y2) of a height x width frame, in whole pixels. With a
        stride, each side becomes the nearest multiple of it at the frame's scale (at least one), about the same
        centre and inside the frame: the letterbox pads a crop up to such a multiple with grey, which costs as
        much as pixels (~19 % of the crops' input on ABODA), so a side a little over one loses a few pixels of
        margin and one well over it gains real context instead of grey."""
        x1, y1, x2, y2 = region
        if self.stride is None:
            return int(x1), int(y1), int(x2), int(y2)
        r = self.scale(height, width)
        a, b = _snap(x1, x2, width, r, self.stride)
        c, d = _snap(y1, y2, height, r, self.stride)
        return a, c, b, d

    def scale(self, height: int, width: int) -> float:
        """The inference scale of a frame of this size: fitted into the input, or the scene's (tiling.py)."""
        return scene_scale(self.fitted_scale(height, width), self.cfg.scene_min_height_px)

    def fitted_scale(self, height: int, width: int) -> float:
        """The letterbox scale of a whole frame of this size."""
        return min(self.cfg.input_size / height, self.cfg.input_size / width)

    def tiled(self, height: int, width: int) -> bool:
        """Frames of this size are inferred in tiles (a region larger than one, that is)."""
        return self.upscaled(height, width) and (self.cfg.tiling or self.stride is None)

    def upscaled(self, height: int, width: int) -> bool:
        """Frames of this size are inferred at the scene's scale, above the fitted one."""
        return self.scale(height, width) > self.fitted_scale(height, width)

    def decode(
        self, pred: FloatArray, r: float, width: int, height: int, input_hw: tuple[int, int] | None = None
    ) -> list[Detection]:
        """Boxes of one output for an image width x height letterboxed by r into input_hw (default: square)."""
        in_h, in_w = input_hw or (self.cfg.input_size, self.cfg.input_size)
        # Class probabilities are at most 1, so only cells whose objectness passes can score: the argmax over the
        # 80 classes runs on those few instead of every cell.
        cand = np.flatnonzero(pred[:, 4] >= self.cfg.score_threshold)
        cls = pred[cand, 5:]
        best = cls.argmax(axis=1)
        scores = pred[cand, 4] * cls[np.arange(len(best)), best]
        keep = scores >= self.cfg.score_threshold
        if not keep.any():
            return []
        idx = cand[keep]
        (g, s), p, best, scores = _cell_xy(idx, in_h, in_w), pred[idx], best[keep], scores[keep]
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
