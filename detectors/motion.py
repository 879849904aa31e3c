"""Cheap motion gating on a small grey frame: is anything moving, and where (so inference sees only that)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detectors.config import MotionConfig
from detectors.model import Image

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Motion:
    moving: bool
    area: float  # fraction of the frame that changed
    region: Box | None  # union of moving regions in full-frame pixels, padded
    mask: Image | None = None  # the changed pixels on the motion frame (uint8 0/255), when something moved


def _halvable(src: Image, size: tuple[int, int]) -> bool:
    h, w = int(src.shape[0]), int(src.shape[1])
    return w >= 2 * size[0] and h >= 2 * size[1] and h % 2 == 0 == w % 2


def _last_step(src: Image, size: tuple[int, int]) -> Image:
    if (src.shape[1], src.shape[0]) == size:
        return src
    exact = src.shape[1] % size[0] == 0 and src.shape[0] % size[1] == 0
    out: Image = cv2.resize(src, size, interpolation=cv2.INTER_AREA if exact else cv2.INTER_LINEAR)
    return out


def _halve(src: Image) -> Image:
    out: Image = cv2.resize(src, (src.shape[1] // 2, src.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return out


def shrink(grey: Image, size: tuple[int, int]) -> Image:
    """Downscale to size (w, h) averaging pixel areas. OpenCV's INTER_AREA is fast only at integer ratios (720x480
    to 360x240: ~0.03 ms; to 320x213: ~1.2 ms on one core), so halve exactly while the result stays at least the
    target, then cover the last step (under 2x) with INTER_LINEAR; the 5x5 blur every user applies next hides
    the difference (~1 grey level on average)."""
    src = grey
    while _halvable(src, size):
        src = _halve(src)
    return _last_step(src, size)


def small_grey(frame: Image, width: int) -> Image:
    h, w = frame.shape[:2]
    g = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    small = shrink(g, (width, max(1, round(h * width / w))))
    out: Image = cv2.GaussianBlur(small, (5, 5), 0)
    return out


class Greys:
    """The grey downscales of one frame, each computed once: health, the motion gate and the static-object model
    all work on small grey frames. Equal to `small_grey` whatever was asked before: the exact halvings are
    shared (720x480 -> 360x240 -> 180x120), each width takes its own last step from them."""

    __slots__ = ("_halves", "_small", "frame")

    def __init__(self, frame: Image) -> None:
        self.frame = frame
        self._halves: list[Image] = []  # the grey frame, then its exact halvings as far as they were needed
        self._small: dict[int, Image] = {}

    def small(self, width: int) -> Image:
        out = self._small.get(width)
        if out is None:
            h, w = self.frame.shape[:2]
            size = (width, max(1, round(h * width / w)))
            if not self._halves:
                f = self.frame
                self._halves.append(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) if f.ndim == 3 else f)
            k = 0
            while _halvable(self._halves[k], size):
                if k + 1 == len(self._halves):
                    self._halves.append(_halve(self._halves[k]))
                k += 1
            out = self._small[width] = cv2.GaussianBlur(_last_step(self._halves[k], size), (5, 5), 0)
        return out


def grey_of(frame: Image | Greys, width: int) -> Image:
    return frame.small(width) if isinstance(frame, Greys) else small_grey(frame, width)


class MotionGate:
    """Difference against the previous sampled frame, thresholded and dilated; no model, ~0.2 ms a frame."""

    def __init__(self, cfg: MotionConfig) -> None:
        self.cfg = cfg
        self.prev: Image | None = None
        self._kernel = np.ones((3, 3), np.uint8)

    def __call__(self, frame: Image | Greys) -> Motion:
        g = grey_of(frame, self.cfg.width)
        if isinstance(frame, Greys):
            frame = frame.frame
        prev, self.prev = self.prev, g
        if prev is None or prev.shape != g.shape:
            return Motion(True, 1.0, None)  # first frame: look at everything
        diff = cv2.absdiff(g, prev)
        _, mask = cv2.threshold(diff, self.cfg.threshold, 255, cv2.THRESH_BINARY)
        mask = cv2.dilate(mask, self._kernel, iterations=2)
        area = cv2.countNonZero(mask) / mask.size
        if area < self.cfg.min_area:
            return Motion(False, area, None)
        bx, by, bw, bh = cv2.boundingRect(mask)  # of the non-zero pixels: ~50x faster than np.nonzero + min/max
        scale = frame.shape[1] / g.shape[1]
        x1, x2, y1, y2 = bx * scale, (bx + bw) * scale, by * scale, (by + bh) * scale
        # Pad generously: a person whose legs move still needs the whole body in the crop.
        px, py = (x2 - x1) * self.cfg.pad + 32, (y2 - y1) * self.cfg.pad + 64
        h, w = frame.shape[:2]
        region = (max(0.0, x1 - px), max(0.0, y1 - py), min(float(w), x2 + px), min(float(h), y2 + py))
        return Motion(True, area, region, mask)
