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

from detectors.config import HealthConfig
from detectors.model import Image
from detectors.motion import Greys, grey_of
from detectors.tamper import SceneReference

Tamper = Literal["no_signal", "frozen", "blackout", "blur", "scene_change"]
WIDTH = 320
BASELINE_TAU_S = 30.0  # how fast the learned sharpness follows a healthy scene


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
    _scene: SceneReference = field(init=False)  # the last healthy view, for scene_change (tamper.py)
    _last_frame_t: float | None = None
    _last_t: float | None = None  # time of the last check
    _due_t: float = -float("inf")  # time of the next check

    def __post_init__(self) -> None:
        self._scene = SceneReference(self.cfg.scene_shift, self.cfg.scene_change)

    def signal_lost(self, t: float, since: float | None = None) -> list[HealthChange]:
        """The capture reports no frame at time t; `since`: when it last had one, or when it started watching a
        source that never delivered one (a camera dead from the start is out since then, not since t)."""
        out: list[HealthChange] = []
        if not self.cfg.enabled:
            return out
        if since is None:
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
        blurred = self._sharp is not None and sharp < self.cfg.blur_ratio * self._sharp
        self._set("blur", not dark and blurred, t, sharp / (self._sharp or 1.0), out)

        view = self._scene.compare(g)
        moved = not dark and not blurred and view.moved
        self._set("scene_change", moved, t, view.value, out)
        if self._conds["scene_change"].active and moved:
            # The camera now looks elsewhere: after reporting, learn the new view as the reference.
            self._scene.follow()
            self._sharp = sharp
            self._conds["scene_change"] = _Cond(since=None, active=True)
            return out
        if not (dark or blurred or moved or frozen_for > 0):
            a = 1.0 if self._sharp is None else min(1.0, dt / BASELINE_TAU_S)
            self._sharp = sharp if self._sharp is None else self._sharp + a * (sharp - self._sharp)
            self._scene.follow()  # a healthy view: the next check is compared with this one (drift, pans follow)
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
