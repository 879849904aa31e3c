"""Multi-object tracking by IoU association with a constant-velocity prediction (a light Kalman: alpha-beta).

Track ids are stable for as long as an object keeps being matched; a track that misses for `max_missed_s`
ends. A detector run on a crop (motion gating) only sees part of the frame: tracks outside the inferred
region are not counted as missed, so a still object is not lost because nothing moved near it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.config import TrackerConfig
from detectors.model import Detection

Box = tuple[float, float, float, float]
ALPHA, BETA = 0.6, 0.2  # position and velocity gains of the alpha-beta filter


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def covered(box: Box, by: Box) -> float:
    """Fraction of `box` inside `by`."""
    ix = max(0.0, min(box[2], by[2]) - max(box[0], by[0]))
    iy = max(0.0, min(box[3], by[3]) - max(box[1], by[1]))
    area = (box[2] - box[0]) * (box[3] - box[1])
    return ix * iy / area if area > 0 else 0.0


def bottom_centre(b: Box) -> tuple[float, float]:
    return ((b[0] + b[2]) / 2, b[3])


@dataclass
class Track:
    id: int
    label: str
    box: Box
    score: float
    first_t: float
    last_t: float
    velocity: Box = (0.0, 0.0, 0.0, 0.0)  # per second, for each box coordinate
    hits: int = 1
    missed_s: float = 0.0  # time unmatched while inside the inferred region
    eval_t: float = 0.0  # last inference that could have seen it
    confirmed: bool = False
    announced: bool = False  # a "new" event went out
    last_update_t: float = 0.0
    anchor: tuple[float, float] = (0.0, 0.0)  # where it was when it last moved more than move_px
    anchor_t: float = 0.0

    def predict(self, t: float) -> Box:
        dt = max(0.0, t - self.last_t)
        return tuple(c + v * dt for c, v in zip(self.box, self.velocity, strict=True))  # type: ignore[return-value]

    @property
    def point(self) -> tuple[float, float]:
        return bottom_centre(self.box)


class Tracker:
    def __init__(self, cfg: TrackerConfig) -> None:
        self.cfg = cfg
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, dets: list[Detection], t: float, region: Box | None = None) -> tuple[list[Track], list[Track]]:
        """Match detections at time t; returns (tracks confirmed this step, tracks that ended)."""
        live = list(self.tracks.values())
        preds = [tr.predict(t) for tr in live]
        pairs: list[tuple[float, int, int]] = []
        for ti, (tr, p) in enumerate(zip(live, preds, strict=True)):
            for di, d in enumerate(dets):
                if d.label != tr.label:
                    continue
                s = iou(p, (d.x1, d.y1, d.x2, d.y2))
                if s >= self.cfg.iou_threshold:
                    pairs.append((s, ti, di))
        pairs.sort(reverse=True)
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _, ti, di in pairs:  # greedy by IoU: good enough at these frame rates, and deterministic
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            self._correct(live[ti], dets[di], t)
        for di, d in enumerate(dets):
            if di not in used_d:
                self._spawn(d, t)
        ended: list[Track] = []
        for ti, tr in enumerate(live):
            if ti in used_t:
                continue
            seen = region is None or covered(preds[ti], region) > 0.5
            if seen:  # outside the inferred crop a track is unseen, not missing
                tr.missed_s += t - max(tr.eval_t, tr.last_t)
            tr.eval_t = t
            if seen and (tr.missed_s > self.cfg.max_missed_s or not tr.confirmed):
                del self.tracks[tr.id]
                if tr.confirmed:
                    ended.append(tr)
        confirmed = [tr for tr in self.tracks.values() if tr.confirmed and tr.last_t == t]
        return confirmed, ended

    def _correct(self, tr: Track, d: Detection, t: float) -> None:
        dt = t - tr.last_t
        pred = tr.predict(t)
        meas = (d.x1, d.y1, d.x2, d.y2)
        resid = [m - p for m, p in zip(meas, pred, strict=True)]
        tr.box = tuple(p + ALPHA * r for p, r in zip(pred, resid, strict=True))  # type: ignore[assignment]
        if dt > 0:
            tr.velocity = tuple(v + BETA * r / dt for v, r in zip(tr.velocity, resid, strict=True))  # type: ignore[assignment]
        tr.score = d.score
        tr.last_t = tr.eval_t = t
        tr.missed_s = 0.0
        tr.hits += 1
        if tr.hits >= self.cfg.min_hits:
            tr.confirmed = True

    def _spawn(self, d: Detection, t: float) -> None:
        box = (d.x1, d.y1, d.x2, d.y2)
        tr = Track(self._next_id, d.label, box, d.score, t, t, anchor=bottom_centre(box), anchor_t=t, eval_t=t)
        tr.confirmed = self.cfg.min_hits <= 1
        self._next_id += 1
        self.tracks[tr.id] = tr

    def close_all(self) -> list[Track]:
        ended = [tr for tr in self.tracks.values() if tr.confirmed]
        self.tracks.clear()
        return ended


def moving_speed(tr: Track) -> float:
    """Speed of the bottom centre in pixels per second."""
    vx = (tr.velocity[0] + tr.velocity[2]) / 2
    return float(np.hypot(vx, tr.velocity[3]))
