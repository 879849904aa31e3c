"""Static foreground for left objects: a dual background model (long-term vs short-term), as in Porikli et al.

A pixel that differs from the long-term background but matches the short-term one is something new that stopped
moving. The long-term model only learns where the scene matches it (selective update), so a left bag is not
absorbed; a change that stays longer than `absorb_s` is finally learned (a parked car is not left forever).
The model updates every `every_s` (on a grid; the samples between get the last blobs): abandonment is measured
in seconds (still_s, unattended_s), and at 5 fps updating once a second (the default) costs a fifth of the ~0.7 ms a
sample of updating every sample; a blob's age is then late by at most every_s.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from detectors.model import Image
from detectors.motion import Greys, grey_of

Box = tuple[float, float, float, float]
FloatImage = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class StaticBlob:
    box: Box  # full-frame pixels
    age_s: float  # how long every pixel of it has been static (the minimum over the blob)


def _median(values: FloatImage) -> float:
    """np.median of a small float32 array (0 when empty), in float32 as numpy computes it."""
    n = values.size
    if not n:
        return 0.0
    s = np.sort(values)
    return float(s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / np.float32(2))


class StaticForeground:
    def __init__(
        self,
        width: int = 160,
        threshold: float = 22.0,
        short_tau_s: float = 1.0,
        slow_tau_s: float = 120.0,
        absorb_s: float = 600.0,
        every_s: float = 0.0,
    ) -> None:
        self.width, self.threshold, self.every_s = width, threshold, every_s
        self.short_tau, self.slow_tau, self.absorb_s = short_tau_s, slow_tau_s, absorb_s
        self.long: FloatImage | None = None
        self.short: FloatImage | None = None
        self.age: FloatImage | None = None
        self.last_t = 0.0
        self._due_t = -float("inf")
        self._blobs_now: list[StaticBlob] = []
        self._kernel = np.ones((3, 3), np.uint8)

    def reset(self) -> None:
        self.long = self.short = self.age = None
        self._due_t, self._blobs_now = -float("inf"), []

    def update(self, frame: Image | Greys, t: float) -> list[StaticBlob]:
        if t < self._due_t - 1e-6:
            return self._blobs_now
        self._due_t = t + self.every_s if t >= self._due_t + self.every_s else self._due_t + self.every_s
        self._blobs_now = self._update(frame, t)
        return self._blobs_now

    def _update(self, frame: Image | Greys, t: float) -> list[StaticBlob]:
        g = grey_of(frame, self.width).astype(np.float32)
        if isinstance(frame, Greys):
            frame = frame.frame
        if self.long is None or self.short is None or self.age is None or self.long.shape != g.shape:
            self.long, self.short, self.age = g.copy(), g.copy(), np.zeros_like(g)
            self.last_t = t
            return []
        dt = max(1e-3, t - self.last_t)
        self.last_t = t
        fg_long = cv2.absdiff(g, self.long) > self.threshold
        cv2.accumulateWeighted(g, self.short, min(1.0, dt / self.short_tau))
        static = fg_long & (cv2.absdiff(g, self.short) <= self.threshold)
        self.age = np.where(static, self.age + np.float32(dt), np.float32(0.0))
        # Learn the long-term background only where it already matches (slow drift, e.g. daylight) or where a
        # change has stayed longer than absorb_s. np.where on whole arrays: boolean indexing is ~4x slower here.
        absorbed = self.age > self.absorb_s
        a = min(1.0, dt / self.slow_tau)
        self.long = np.where(~fg_long | absorbed, self.long + a * (g - self.long), self.long)
        if absorbed.any():
            self.long[absorbed] = g[absorbed]
        return self._blobs(g, frame.shape[1] / g.shape[1])

    def _blobs(self, g: FloatImage, scale: float) -> list[StaticBlob]:
        assert self.age is not None and self.long is not None
        mask = cv2.morphologyEx((self.age > 0).astype(np.uint8), cv2.MORPH_CLOSE, self._kernel, iterations=2)
        # 16-bit labels (a 160-px mask has far fewer than 65536 blobs): half the time of the default 32-bit.
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_16U)
        out = []
        for i in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[i])
            if area < 4:
                continue
            box = (slice(y, y + h), slice(x, x + w))  # the blob's pixels, looked for inside its bounding box only
            sel = labels[box] == i
            if self._ghost(g, box, sel, (x, y, w, h)):
                continue
            ages = self.age[box][sel]
            ages = ages[ages > 0]
            # The median, not the minimum: a blob's rim flickers in and out of the threshold. np.median's own
            # overhead is ~0.15 ms on these few pixels; sorting them is a tenth of that, with the same value.
            age = _median(ages)
            out.append(StaticBlob((x * scale, y * scale, (x + w) * scale, (y + h) * scale), age))
        return out

    def _ghost(
        self, g: FloatImage, box: tuple[slice, slice], sel: npt.NDArray[np.bool_], rect: tuple[int, int, int, int]
    ) -> bool:
        """Something that was in the first frames and then left looks like a new static object (a ghost).
        A real object brings edges; a ghost's edges are in the old background, not in the frame: learn it away."""
        assert self.long is not None and self.age is not None
        x, y, w, h = rect
        win = (slice(max(0, y - 2), y + h + 2), slice(max(0, x - 2), x + w + 2))

        def energy(img: FloatImage) -> float:
            sub = img[win]
            gx, gy = cv2.Sobel(sub, cv2.CV_32F, 1, 0), cv2.Sobel(sub, cv2.CV_32F, 0, 1)
            return float(np.abs(gx).sum() + np.abs(gy).sum())

        if energy(g) >= energy(self.long):
            return False
        long, age = self.long[box], self.age[box]  # views: writing them writes the models
        long[sel] = g[box][sel]
        age[sel] = 0.0
        return True
