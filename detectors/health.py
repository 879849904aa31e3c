"""Camera health as camera_tamper findings: no signal, frozen frame, blackout/covered lens, blur, scene change.

Every check runs on a small grey frame (~0.8 ms together on a 320-px frame, with its downscale), every `every_s`
seconds (default 1 s: none of these conditions needs every sample; at 5 fps that is a fifth of the cost). A
condition must hold for `hold_s` before it is reported (NEW) and is reported once more when it clears (END): a
flickering check does not flood the centre. The checks keep to a grid of every_s, so a tamper is reported within
hold_s + 2 x every_s of its start (the first check that sees it, then the first one hold_s after that; hold_s +
every_s when hold_s is a multiple of every_s, as with the defaults); frozen likewise with frozen_s; no_signal
within no_signal_s of the last frame, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from detectors.config import HealthConfig
from detectors.model import Image
from detectors.motion import Greys, grey_of

Tamper = Literal["no_signal", "frozen", "blackout", "blur", "scene_change"]
WIDTH = 320
BASELINE_TAU_S = 30.0  # how fast the learned sharpness and reference frame follow a healthy scene


@dataclass(frozen=True, slots=True)
class HealthChange:
    tamper: Tamper
    active: bool  # True: started (NEW), False: cleared (END)
    value: float  # the measurement that decided it, for the operator


@dataclass
class _Cond:
    since: float | None = None
    active: bool = False


@dataclass
class HealthMonitor:
    cfg: HealthConfig
    _conds: dict[str, _Cond] = field(default_factory=dict)
    _prev: Image | None = None
    _still_since: float | None = None
    _sharp: float | None = None  # learned baseline sharpness (variance of the Laplacian)
    _ref_edges: Image | None = None  # reference edge map of the healthy scene
    _last_frame_t: float | None = None
    _last_t: float | None = None  # time of the last check
    _due_t: float = -float("inf")  # time of the next check

    def signal_lost(self, t: float) -> list[HealthChange]:
        """The capture reports no frame at time t."""
        out: list[HealthChange] = []
        since = self._last_frame_t if self._last_frame_t is not None else t
        self._set("no_signal", t - since >= self.cfg.no_signal_s, t, t - since, out, hold=0.0)
        return out

    def frame(self, frame: Image | Greys, t: float) -> list[HealthChange]:
        out: list[HealthChange] = []
        if not self.cfg.enabled:
            return out
        self._last_frame_t = t
        self._set("no_signal", False, t, 0.0, out)
        if t < self._due_t - 1e-6:
            return out  # not due: the frame is not even downscaled
        # On a grid (no drift by the sample period), restarting after a gap longer than every_s.
        self._due_t = t + self.cfg.every_s if t >= self._due_t + self.cfg.every_s else self._due_t + self.cfg.every_s
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        prev_t, self._last_t = self._last_t, t
        g = grey_of(frame, WIDTH)
        mu, sigma = cv2.meanStdDev(g)  # one pass (numpy's mean + std take ~25x as long on a 320-px frame)
        mean, std = float(mu[0, 0]), float(sigma[0, 0])
        dark = mean < self.cfg.blackout_level or std < self.cfg.blackout_std
        self._set("blackout", dark, t, mean, out)

        # Frozen: frames that do not change at all (a real sensor always has some noise). The picture has stood
        # still since the previous check, which saw it already.
        if self._prev is not None and self._prev.shape == g.shape and float(cv2.absdiff(g, self._prev).max()) <= 1:
            self._still_since = prev_t if self._still_since is None else self._still_since
        else:
            self._still_since = None
        self._prev = g
        frozen_for = 0.0 if self._still_since is None else t - self._still_since
        self._set("frozen", not dark and frozen_for >= self.cfg.frozen_s, t, frozen_for, out, hold=0.0)

        # Variance of the Laplacian; int16 holds it exactly for uint8 input and meanStdDev is one pass (~40 % faster).
        sharp = float(cv2.meanStdDev(cv2.Laplacian(g, cv2.CV_16S))[1][0, 0]) ** 2
        edges = cv2.Canny(g, 50, 150)
        edges = cv2.dilate(edges, np.ones((5, 5), np.uint8))
        blurred = self._sharp is not None and sharp < self.cfg.blur_ratio * self._sharp
        self._set("blur", not dark and blurred, t, sharp / (self._sharp or 1.0), out)

        lost = 0.0
        if self._ref_edges is not None and self._ref_edges.shape == edges.shape:
            n = cv2.countNonZero(self._ref_edges)  # edge maps are 0/255
            lost = 1.0 - cv2.countNonZero(cv2.bitwise_and(self._ref_edges, edges)) / n if n else 0.0
        moved = not dark and not blurred and lost >= self.cfg.scene_change
        self._set("scene_change", moved, t, lost, out)
        if self._conds["scene_change"].active and moved:
            # The camera now looks elsewhere: after reporting, learn the new view as the reference.
            self._ref_edges, self._sharp = edges, sharp
            self._conds["scene_change"] = _Cond(since=None, active=True)
            return out
        if not (dark or blurred or moved or frozen_for > 0):
            a = 1.0 if self._sharp is None else min(1.0, dt / BASELINE_TAU_S)
            self._sharp = sharp if self._sharp is None else self._sharp + a * (sharp - self._sharp)
            if self._ref_edges is None or a >= 1.0:
                self._ref_edges = edges
            elif dt > 0 and lost < 0.2:
                # Slowly refresh the reference so shadows and parked cars do not count as a moved camera.
                blend = cv2.addWeighted(self._ref_edges, 1.0 - a, edges, a, 0)
                self._ref_edges = cv2.threshold(blend, 127, 255, cv2.THRESH_BINARY)[1]
        return out

    def _set(
        self, name: Tamper, cond: bool, t: float, value: float, out: list[HealthChange], hold: float | None = None
    ) -> None:
        c = self._conds.setdefault(name, _Cond())
        hold = self.cfg.hold_s if hold is None else hold
        if cond:
            c.since = t if c.since is None else c.since
            if not c.active and t - c.since >= hold:
                c.active = True
                out.append(HealthChange(name, True, value))
        else:
            c.since = None
            if c.active:
                c.active = False
                out.append(HealthChange(name, False, value))
