"""The hand-labelled person set (README.md here): frames read from the real clips, 2x2 mosaics at 720p-class
width, and recall / precision by person height, count error, for any detector.

A detection matches a labelled person at IoU >= 0.5 (greedy, best score first); one that matches no person but
lies mostly inside an `ignore` box (a person too occluded or cut by the frame's edge to demand) is not counted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

HERE = Path(__file__).resolve().parent
Box = tuple[float, float, float, float]
Image = npt.NDArray[Any]
BINS: tuple[tuple[float, float], ...] = ((0, 40), (40, 60), (60, 100), (100, math.inf))  # person height, px
MATCH_IOU = 0.5
IGNORE_IOS = 0.5  # an unmatched detection this much inside an ignore box is not a false positive
# The mosaics: four walkway frames at 4/3 (640x480 each) in a 1280x960 frame, as wide as 720p: a 416-px model
# input sees them at 0.325x, like the concourse, and the labelled 22-90 px people become 29-120 px.
MOSAIC_SCALE = 4 / 3


@dataclass(frozen=True)
class Labelled:
    name: str
    image: Image
    people: tuple[Box, ...]
    ignore: tuple[Box, ...] = ()


def load(labels: Path, clip: Path) -> list[Labelled]:
    """The labelled frames of one clip, read in decode order (no seeking: the frame indices are decode order)."""
    doc = json.loads(labels.read_text(encoding="utf-8"))
    wanted = {int(k): v for k, v in doc["frames"].items()}
    cap = cv2.VideoCapture(str(clip))
    out: list[Labelled] = []
    index = 0
    try:
        while index <= max(wanted):
            ok, frame = cap.read()
            if not ok:
                raise ValueError(f"{clip}: ends at frame {index}, labels go to {max(wanted)}")
            if index in wanted:
                fr = wanted[index]
                people = tuple(tuple(b) for b in fr["person"])
                ignore = tuple(tuple(b) for b in fr.get("ignore", ()))
                out.append(Labelled(f"{labels.stem}#{index}", frame, people, ignore))  # type: ignore[arg-type]
            index += 1
    finally:
        cap.release()
    return out


def _scaled(boxes: Iterable[Box], k: float, dx: float, dy: float) -> tuple[Box, ...]:
    return tuple((b[0] * k + dx, b[1] * k + dy, b[2] * k + dx, b[3] * k + dy) for b in boxes)


def mosaic(frames: Sequence[Labelled], k: float = MOSAIC_SCALE) -> Labelled:
    """Four frames of one size, each scaled by k, in a 2x2 mosaic; their labels moved with them."""
    assert len(frames) == 4
    h, w = frames[0].image.shape[:2]
    th, tw = round(h * k), round(w * k)
    canvas = np.empty((2 * th, 2 * tw, 3), np.uint8)
    people: tuple[Box, ...] = ()
    ignore: tuple[Box, ...] = ()
    for i, f in enumerate(frames):
        oy, ox = (i // 2) * th, (i % 2) * tw
        canvas[oy : oy + th, ox : ox + tw] = cv2.resize(f.image, (tw, th), interpolation=cv2.INTER_LINEAR)
        people += _scaled(f.people, tw / w, ox, oy)
        ignore += _scaled(f.ignore, tw / w, ox, oy)
    return Labelled("+".join(f.name for f in frames), canvas, people, ignore)


def mosaics(frames: Sequence[Labelled], k: float = MOSAIC_SCALE) -> list[Labelled]:
    return [mosaic(frames[i : i + 4], k) for i in range(0, len(frames) - 3, 4)]


def _iou(a: Box, b: Box) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _inside(a: Box, b: Box) -> float:
    """Share of a's area inside b."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1])
    return iw * ih / area if area > 0 else 0.0


def _bin(height: float) -> int:
    return next(i for i, (lo, hi) in enumerate(BINS) if lo <= height < hi)


@dataclass
class Score:
    """Counts over a set of frames; recall by labelled height, precision by detected height."""

    people: list[int] = field(default_factory=lambda: [0] * len(BINS))
    found: list[int] = field(default_factory=lambda: [0] * len(BINS))
    detections: list[int] = field(default_factory=lambda: [0] * len(BINS))
    true: list[int] = field(default_factory=lambda: [0] * len(BINS))
    count_errors: list[int] = field(default_factory=list)  # per frame: detections (not ignored) - people

    def add(self, frame: Labelled, dets: Sequence[tuple[Box, float]]) -> None:
        free = set(range(len(frame.people)))
        counted = 0
        for box, _ in sorted(dets, key=lambda d: -d[1]):
            best = max(free, key=lambda i: _iou(box, frame.people[i]), default=None)
            hit = best is not None and _iou(box, frame.people[best]) >= MATCH_IOU
            if not hit and any(_inside(box, ig) >= IGNORE_IOS for ig in frame.ignore):
                continue
            counted += 1
            b = _bin(box[3] - box[1])
            self.detections[b] += 1
            if hit:
                assert best is not None
                free.discard(best)
                self.true[b] += 1
                self.found[_bin(frame.people[best][3] - frame.people[best][1])] += 1
        for p in frame.people:
            self.people[_bin(p[3] - p[1])] += 1
        self.count_errors.append(counted - len(frame.people))

    def recall(self, lo: float = 0, hi: float = math.inf) -> float:
        idx = [i for i, (a, b) in enumerate(BINS) if a >= lo and b <= hi]
        n = sum(self.people[i] for i in idx)
        return sum(self.found[i] for i in idx) / n if n else math.nan

    def precision(self) -> float:
        n = sum(self.detections)
        return sum(self.true) / n if n else math.nan

    @property
    def count_mae(self) -> float:
        return float(np.mean(np.abs(self.count_errors))) if self.count_errors else math.nan

    def table(self) -> dict[str, Any]:
        """Per height bin: people, recall, detections, precision; then the totals."""
        rows: dict[str, Any] = {}
        for i, (lo, hi) in enumerate(BINS):
            name = f"{lo:g}-{hi:g}" if hi != math.inf else f">{lo:g}"
            rows[name] = {
                "people": self.people[i],
                "recall": round(self.found[i] / self.people[i], 3) if self.people[i] else None,
                "detections": self.detections[i],
                "precision": round(self.true[i] / self.detections[i], 3) if self.detections[i] else None,
            }
        rows["all"] = {
            "people": sum(self.people),
            "recall": round(self.recall(), 3),
            "detections": sum(self.detections),
            "precision": round(self.precision(), 3),
            "count_mae": round(self.count_mae, 2),
        }
        return rows


Detect = Callable[[Image], Sequence[tuple[Box, float]]]


def evaluate(detect: Detect, frames: Iterable[Labelled]) -> Score:
    score = Score()
    for f in frames:
        score.add(f, detect(f.image))
    return score
