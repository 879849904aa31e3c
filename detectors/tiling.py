"""Small objects: a frame (or a moving region of it) inferred in overlapping tiles at a larger scale, SAHI-style.

YOLOX-Nano loses people under ~30 px tall at its input, more so in groups (a 1280-px-wide frame fitted into 416
px is inferred at 0.325x: a person 80-90 px tall in the frame is 26-29 px to the model). Inferring at a scale where the
camera's smallest expected person is `MIN_INPUT_PX` tall at the input finds them; tiles of the model's input size
keep every call the size the model was exported for (and the per-call memory bounded), and only the tiles the
pipeline asks for are inferred. Boxes from all tiles are merged per class: greedy NMS, and a box cut by an inner
tile border is folded into the whole box that contains it, or joined with the other part of the same person.

Pure geometry on numpy arrays: the detector (detectors/model.py) owns inference.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Region = tuple[int, int, int, int]  # x1, y1, x2, y2 in whole frame pixels
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int8]

# The height (input pixels) at which YOLOX-Nano finds people reliably. Recall by height at the input on the
# labelled walkway (tests/detectors/labels), whole frames at inputs of 160-640: 15-20 px 0.53, 20-25 0.83,
# 25-30 0.89, 30-40 0.94-0.95, 40-60 0.95, over 60 0.98-1.0 (the misses there: people in groups).
MIN_INPUT_PX = 40.0
CUT_TOLERANCE_PX = 3.0  # input pixels: a box edge this close to an inner tile border was cut by it
IOS_THRESHOLD = 0.6  # a cut box this much inside another box of its class is part of the same object
# A person box under this share of the camera's `scene_min_height_px` is not a person of this scene: at a raised
# scale, small person-like things (a sign, a cone: ~25 px on the walkway mosaic) start to score as people.
SMALLEST_SHARE = 0.5


def scene_scale(default: float, scene_min_height_px: float | None, min_input_px: float = MIN_INPUT_PX) -> float:
    """The inference scale (input pixels per frame pixel): the frame fitted into the model's input, raised so
    that a person `scene_min_height_px` tall in the frame is `min_input_px` tall at the input."""
    if scene_min_height_px is None:
        return default
    return max(default, min_input_px / scene_min_height_px)


def spans(lo: int, hi: int, size: int, overlap: float, quantum: float = 1.0) -> list[tuple[int, int]]:
    """Cover lo..hi with the fewest spans of at most `size` that overlap by at least `overlap` of `size`, spread
    evenly; each as short as that allows, rounded up to a multiple of `quantum` (the model's stride in frame
    pixels: no grey padding at the input). One span when lo..hi fits in one."""
    length = hi - lo
    if length <= size:
        return [(lo, hi)]
    band = overlap * size
    n = math.ceil((length - band) / (size - band))
    span = min(size, math.ceil(math.ceil((length + (n - 1) * band) / n / quantum) * quantum))
    starts = [lo + round(i * (length - span) / (n - 1)) for i in range(n)]
    return [(s, s + span) for s in starts]


def layout(region: Region, size: int, overlap: float, quantum: float = 1.0) -> list[Region]:
    """Tiles of at most `size` x `size` frame pixels covering `region`, row by row (see `spans`)."""
    x1, y1, x2, y2 = region
    rows, cols = spans(y1, y2, size, overlap, quantum), spans(x1, x2, size, overlap, quantum)
    return [(a, c, b, d) for c, d in rows for a, b in cols]


LEFT, TOP, RIGHT, BOTTOM = 1, 2, 4, 8  # the sides of a box that a tile border cut


def cut_sides(boxes: FloatArray, tile: Region, width: int, height: int, tolerance: float) -> IntArray:
    """Per box (N x 4, frame pixels), the sides (LEFT | TOP | RIGHT | BOTTOM) on a border of `tile` that lies
    inside the frame: there the tile saw only part of what is there. 0: a whole box."""
    x1, y1, x2, y2 = tile
    cut = np.zeros(len(boxes), np.int8)
    for col, edge, inner, side in ((0, x1, x1 > 0, LEFT), (1, y1, y1 > 0, TOP), (2, x2, x2 < width, RIGHT)):
        if inner:
            cut |= np.where(np.abs(boxes[:, col] - edge) <= tolerance, side, 0).astype(np.int8)
    if y2 < height:
        cut |= np.where(np.abs(boxes[:, 3] - y2) <= tolerance, BOTTOM, 0).astype(np.int8)
    return cut


def _inter(box: FloatArray, others: FloatArray) -> FloatArray:
    w = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    out: FloatArray = w * h
    return out


def _area(boxes: FloatArray) -> FloatArray:
    out: FloatArray = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    return out


def _span_iou(a1: float, a2: float, b1: float, b2: float) -> float:
    inter = max(0.0, min(a2, b2) - max(a1, b1))
    return inter / (max(a2, b2) - min(a1, b1) + 1e-9)


def facing(a: FloatArray, cut_a: int, b: FloatArray, cut_b: int, gap: float) -> int:
    """The sides of `a` that `b` continues across a tile border: b is cut on the opposite side, the two overlap
    across it or leave at most `gap` between them, and they line up along it (IoU of their extents along the
    border >= 0.5). 0: none."""
    sides = 0
    if _span_iou(a[0], a[2], b[0], b[2]) >= 0.5:
        if cut_a & BOTTOM and cut_b & TOP and b[1] - gap <= a[3] < b[3]:
            sides |= BOTTOM
        if cut_a & TOP and cut_b & BOTTOM and b[1] < a[1] <= b[3] + gap:
            sides |= TOP
    if _span_iou(a[1], a[3], b[1], b[3]) >= 0.5:
        if cut_a & RIGHT and cut_b & LEFT and b[0] - gap <= a[2] < b[2]:
            sides |= RIGHT
        if cut_a & LEFT and cut_b & RIGHT and b[0] < a[0] <= b[2] + gap:
            sides |= LEFT
    return sides


def merge(
    boxes: FloatArray,
    scores: FloatArray,
    cut: IntArray,
    nms_threshold: float,
    gap: float = 0.0,
    ios_threshold: float = IOS_THRESHOLD,
) -> tuple[FloatArray, FloatArray]:
    """Merge one class's boxes from overlapping tiles (`cut`: their cut sides, `cut_sides`). Whole boxes lead,
    then by score: a box overlapping the leader by IoU over `nms_threshold` is a duplicate; a cut box mostly
    inside it (intersection over the cut box's area >= `ios_threshold`) is a part of it; a cut leader is joined
    with the boxes that continue it across its cut sides (`facing`, at most `gap` apart): the union, the same
    object seen in two tiles. Returns the kept boxes and scores."""
    order = np.lexsort((-scores, cut != 0))  # whole boxes first, then by score
    boxes, scores, cut = boxes[order].copy(), scores[order], cut[order]
    alive = np.ones(len(boxes), bool)
    out_boxes: list[FloatArray] = []
    out_scores: list[float] = []
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        alive[i] = False
        box, sides = boxes[i], int(cut[i])
        for j in np.flatnonzero(alive) if sides else ():  # join the parts across the cut sides
            joined = facing(box, sides, boxes[j], int(cut[j]), gap)
            if joined:
                box = np.concatenate((np.minimum(box[:2], boxes[j, :2]), np.maximum(box[2:], boxes[j, 2:])))
                sides = (sides | int(cut[j])) & ~joined & ~_opposite(joined)
                alive[j] = False
        rest = np.flatnonzero(alive)
        if rest.size:
            inter = _inter(box, boxes[rest])
            iou = inter / (_area(box) + _area(boxes[rest]) - inter + 1e-9)
            part = (cut[rest] != 0) & (inter / (_area(boxes[rest]) + 1e-9) >= ios_threshold)
            alive[rest[(iou > nms_threshold) | part]] = False
        out_boxes.append(box)
        out_scores.append(float(scores[i]))
    if not out_boxes:
        return np.empty((0, 4), np.float32), np.empty(0, np.float32)
    return np.stack(out_boxes).astype(np.float32), np.asarray(out_scores, np.float32)


def _opposite(sides: int) -> int:
    """LEFT <-> RIGHT, TOP <-> BOTTOM."""
    return ((sides & (LEFT | TOP)) << 2) | ((sides & (RIGHT | BOTTOM)) >> 2)
