"""The worker: sample -> health -> motion gate -> ONNX detector -> tracker -> analytics -> events -> sink."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

import numpy as np

from detectors.analytics import Analytics, Finding
from detectors.background import StaticForeground
from detectors.capture import FrameSource, Lost, Sample, is_stream
from detectors.config import CameraConfig, check_frame
from detectors.events import EventFactory
from detectors.health import HealthChange, HealthMonitor
from detectors.model import Detection, Image, ObjectDetector, RegionDetector, TileFilter
from detectors.motion import Greys, Motion, MotionGate
from detectors.publish import Sink
from detectors.tracker import Box, Track, Tracker, covered
from schemas.events import VideoDetectionEvent

if TYPE_CHECKING:  # prometheus_client comes with the kafka extra; only --metrics-port needs it
    from detectors.metrics import DetectorMetrics

log = logging.getLogger("saqshy.detectors.pipeline")
CROP_MAX_FRACTION = 0.6  # a moving region larger than this share of the frame is inferred on the whole frame
CROP_MIN_PX = 96  # a crop inferred at the frame's scale is at least this wide and high (frame pixels): context
# A track explains motion (the detector may skip a sample) only while its predicted move since it was measured
# stays under this fraction of its smaller side: small, fast objects (PETS walkers) are re-detected every sample.
FOLLOW_MOVE = 0.3
TRACK_MARGIN = 0.25  # a track explains motion within its predicted box grown by this fraction of its size...
TRACK_MARGIN_PX = 16.0  # ...plus this many pixels
LOST_TICK_S = 1.0  # a stream that is down is reported this often: no_signal comes within 1 s of no_signal_s
# A tile is inferred when a changed pixel lies within this many frame pixels of it (a walker's moving legs in one
# tile, the body in the next) or a track's predicted box (grown as above) overlaps it; the others are skipped.
TILE_MOTION_PX = 64


@dataclass
class Stats:
    frames: int = 0
    inferences: int = 0
    followed: int = 0  # moving samples left to the tracks (motion only where confirmed tracks are)
    full: int = 0  # inferences on the whole frame (the rest are on crops)
    infer_s: float = 0.0
    events: int = 0
    lost: int = 0
    by_analytic: dict[str, int] = field(default_factory=dict)

    @property
    def infer_ms(self) -> float:
        return 1000.0 * self.infer_s / self.inferences if self.inferences else 0.0


def _cells(box: Box, scale: float, grow: float, grow_px: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A full-frame box grown by `grow` of its size plus `grow_px`, in cells of a mask `scale` times as wide."""
    x1, y1, x2, y2 = box
    gx, gy = (x2 - x1) * grow + grow_px, (y2 - y1) * grow + grow_px
    c1, r1 = max(0, int((x1 - gx) * scale)), max(0, int((y1 - gy) * scale))
    c2, r2 = min(shape[1], int((x2 + gx) * scale) + 1), min(shape[0], int((y2 + gy) * scale) + 1)
    return c1, r1, c2, r2


def _grown(box: Box) -> Box:
    """A track's predicted box grown as for following (TRACK_MARGIN of its size plus TRACK_MARGIN_PX)."""
    x1, y1, x2, y2 = box
    gx, gy = (x2 - x1) * TRACK_MARGIN + TRACK_MARGIN_PX, (y2 - y1) * TRACK_MARGIN + TRACK_MARGIN_PX
    return (x1 - gx, y1 - gy, x2 + gx, y2 + gy)


class Pipeline:
    def __init__(
        self,
        cfg: CameraConfig,
        detector: ObjectDetector,
        *,
        start: datetime | None = None,
        gating: bool = True,
    ) -> None:
        self.cfg, self.detector, self.gating = cfg, detector, gating
        self._regional = isinstance(detector, RegionDetector)  # once: a runtime Protocol check is slow
        self.start = start  # event time of t=0 for files; None: t is epoch seconds (streams)
        self.gate = MotionGate(cfg.motion)
        self.tracker = Tracker(cfg.tracker)
        self.analytics = Analytics(cfg)
        self.health = HealthMonitor(cfg.health)
        ab = cfg.abandoned
        self.static = StaticForeground(every_s=ab.static_every_s) if ab.enabled and ab.static_foreground else None
        self.factory = EventFactory(cfg)
        self.stats = Stats()
        self._since_full = 0
        self._since_verify = 0
        self._since_infer = 0
        self._infer_t: float | None = None  # time of the last inference
        self._seq = 0
        self._last_t = 0.0
        self._last_frame: Image | None = None
        self._frame_shape: tuple[int, ...] | None = None

    def when(self, t: float) -> datetime:
        return self.start + timedelta(seconds=t) if self.start is not None else datetime.fromtimestamp(t, UTC)

    def crop_region(self, frame: Image, region: Box | None) -> Box | None:
        """The region to infer, or None for the whole frame. A RegionDetector that keeps the frame's scale gets
        it grown to CROP_MIN_PX; a detector that resizes crops to its input gets it grown to that input size: a
        crop is never upscaled (YOLOX-Nano scores drop sharply on upscaled crops), and on small frames cropping
        then only helps where the frame is large. The detector then fits the crop to its stride (`fit_region`)."""
        if region is None:
            return None
        h, w = frame.shape[:2]
        if self._regional:
            size: float = max(CROP_MIN_PX, cast(RegionDetector, self.detector).crop_min)
        else:
            size = getattr(getattr(self.detector, "cfg", None), "input_size", 416)
        cx, cy = (region[0] + region[2]) / 2, (region[1] + region[3]) / 2
        half_w, half_h = max(region[2] - region[0], size) / 2, max(region[3] - region[1], size) / 2
        x1, x2 = max(0.0, min(cx - half_w, w - 2 * half_w)), min(float(w), max(cx + half_w, 2 * half_w))
        y1, y2 = max(0.0, min(cy - half_h, h - 2 * half_h)), min(float(h), max(cy + half_h, 2 * half_h))
        if (x2 - x1) * (y2 - y1) >= CROP_MAX_FRACTION * w * h:
            return None
        if self._regional:  # whole stride multiples: the input the detector pays for is all picture
            fx1, fy1, fx2, fy2 = cast(RegionDetector, self.detector).fit_region((x1, y1, x2, y2), h, w)
            return (float(fx1), float(fy1), float(fx2), float(fy2))
        return (x1, y1, x2, y2)

    def infer(
        self, frame: Image, region: Box | None, wanted: TileFilter | None = None
    ) -> tuple[list[Detection], Box | None]:
        t0 = time.perf_counter()
        if region is not None:
            x1, y1, x2, y2 = (int(v) for v in region)
            if self._regional:
                dets = cast(RegionDetector, self.detector).detect_region(frame, (x1, y1, x2, y2), wanted)
            else:
                found = self.detector.detect(frame[y1:y2, x1:x2])
                dets = [Detection(d.x1 + x1, d.y1 + y1, d.x2 + x1, d.y2 + y1, d.score, d.label) for d in found]
        elif wanted is not None:  # the whole frame, in the tiles worth inferring
            h, w = frame.shape[:2]
            dets = cast(RegionDetector, self.detector).detect_region(frame, (0, 0, w, h), wanted)
        else:
            dets, region = self.detector.detect(frame), None
        self.stats.infer_s += time.perf_counter() - t0
        self.stats.inferences += 1
        return [d for d in dets if d.label in self.cfg.track_classes], region

    def process(self, sample: Sample) -> list[VideoDetectionEvent]:
        frame, t = sample.frame, sample.t
        self.stats.frames += 1
        self._last_t, self._last_frame = t, frame
        when = self.when(t)
        if frame.shape[:2] != self._frame_shape:  # the first frame, or a stream that changed its size
            check_frame(self.cfg, frame.shape[1], frame.shape[0])  # zones and lines inside it, or ConfigError
            self._frame_shape = frame.shape[:2]
        self.analytics.set_frame_size(frame.shape[1], frame.shape[0])
        greys = Greys(frame)  # the small grey frames health, motion and the static model share
        events = [self._health_event(c, when, frame) for c in self.health.frame(greys, t)]
        motion = self.gate(greys) if self.gating else Motion(True, 1.0, None)
        self._since_full += 1
        self._since_verify += 1
        self._since_infer += 1
        ended: list[Track] = []
        full = not self.gating or self._since_full >= self.cfg.motion.full_every
        verify = self._since_verify >= self.cfg.motion.still_every and bool(self.tracker.tracks)
        if full or verify or (motion.moving and not self._followed(motion, t)):
            region = None if full else self.crop_region(frame, self._look_at(frame, motion, verify, t))
            wanted = None if full else self._tiles_wanted(frame, motion, t)
            if region is None:
                self._since_full = 0 if wanted is None else self._since_full  # skipped tiles: not a full look
                self.stats.full += 1
            if verify or region is None or self._covers_tracks(region, t):  # as good as a verification
                self._since_verify = 0
            self._since_infer, self._infer_t = 0, t
            dets, region = self.infer(frame, region, wanted)
            _, ended = self.tracker.update(dets, t, region)
        elif motion.moving:
            self.stats.followed += 1
        tracks = [tr for tr in self.tracker.tracks.values() if tr.confirmed]
        blobs = self.static.update(greys, t) if self.static is not None else None
        findings = self.analytics.step(t, when, tracks, ended, blobs)
        events += [self._event(f, when, frame) for f in findings]
        return events

    def _tiles_wanted(self, frame: Image, motion: Motion, t: float) -> TileFilter | None:
        """Where the detector tiles frames (a scene scale, detectors/tiling.py): the tiles worth inferring, those
        near a changed pixel or under any track's predicted box. A track never lies in a skipped tile, so the
        tracker still judges every track inside the inferred region. None: every tile (no tiling, or the first
        frame, where motion has no mask)."""
        h, w = frame.shape[:2]
        if not self._regional or not cast(RegionDetector, self.detector).tiled(h, w):
            return None
        mask = motion.mask if motion.moving else None
        if motion.moving and mask is None:
            return None
        scale = mask.shape[1] / w if mask is not None else 0.0
        boxes = [_grown(tr.predict(t)) for tr in self.tracker.tracks.values()]

        def wanted(tile: tuple[int, int, int, int]) -> bool:
            x1, y1, x2, y2 = tile
            if mask is not None:
                r1, r2 = max(0, int((y1 - TILE_MOTION_PX) * scale)), math.ceil((y2 + TILE_MOTION_PX) * scale)
                c1, c2 = max(0, int((x1 - TILE_MOTION_PX) * scale)), math.ceil((x2 + TILE_MOTION_PX) * scale)
                if mask[r1:r2, c1:c2].any():
                    return True
            return any(b[0] < x2 and x1 < b[2] and b[1] < y2 and y1 < b[3] for b in boxes)

        return wanted

    def _covers_tracks(self, region: Box, t: float) -> bool:
        """Every track's predicted box is mostly inside `region` (the tracker judges all of them there)."""
        return all(covered(tr.predict(t), region) > 0.5 for tr in self.tracker.tracks.values())

    def _look_at(self, frame: Image, motion: Motion, verify: bool, t: float) -> Box | None:
        """Where to infer: the moving region, every track the last inference lost (so a track left behind by a
        walker who changed pace is judged, and ended, within max_missed_s instead of lingering unseen beside the
        crop) and, when verifying, every track; each track by its predicted box grown as for following. None (the
        whole frame) when something moves with no region (the first frame)."""
        parts: list[Box] = []
        if motion.moving:
            if motion.region is None:
                return None
            parts.append(motion.region)
        for tr in self.tracker.tracks.values():
            if verify or tr.missed_s > 0:
                parts.append(_grown(tr.predict(t)))
        if not parts:
            return None
        h, w = frame.shape[:2]
        x1, y1 = max(0.0, min(p[0] for p in parts)), max(0.0, min(p[1] for p in parts))
        return (x1, y1, min(float(w), max(p[2] for p in parts)), min(float(h), max(p[3] for p in parts)))

    def _followed(self, motion: Motion, t: float) -> bool:
        """True when the detector can sit this moving sample out: it ran less than `redetect_every` samples ago,
        no track is waiting to be confirmed, nothing moves where a track went missing at the last inference, and
        every changed pixel lies on the predicted box (now and at the previous sample) of a confirmed track the
        last inference matched and that moves little against its size, so the motion is theirs. Tracks keep
        their last measured boxes until the next inference; one that went missing is judged there (its missed
        time counts from when it was last seen, so it ends at most redetect_every - 1 samples later)."""
        if self._since_infer >= self.cfg.motion.redetect_every or self._infer_t is None or motion.mask is None:
            return False
        tracks = list(self.tracker.tracks.values())
        if any(not tr.confirmed for tr in tracks):
            return False  # something new is being confirmed
        mask = motion.mask
        frame = self._last_frame
        assert frame is not None
        scale = mask.shape[1] / frame.shape[1]
        for tr in tracks:
            if tr.last_t != self._infer_t:
                c1, r1, c2, r2 = _cells(tr.predict(t), scale, 0.0, 0.0, mask.shape)
                if c2 > c1 and r2 > r1 and mask[r1:r2, c1:c2].any():
                    return False  # something moves where the detector lost a track: look again
        live = [tr for tr in tracks if tr.last_t == self._infer_t and self._steady(tr, t)]
        if not live:
            return False
        cover = np.zeros_like(mask)
        prev_t = t - 1.0 / self.cfg.sample_fps
        for tr in live:
            for box in (tr.predict(t), tr.predict(prev_t)):
                c1, r1, c2, r2 = _cells(box, scale, TRACK_MARGIN, TRACK_MARGIN_PX, mask.shape)
                if c2 > c1 and r2 > r1:
                    cover[r1:r2, c1:c2] = 255
        unexplained = np.count_nonzero(mask > cover) / mask.size
        return bool(unexplained < self.cfg.motion.min_area)

    @staticmethod
    def _steady(tr: Track, t: float) -> bool:
        """The track's predicted move since it was measured is small against its size, so the next inference
        still associates it by IoU (a small, fast object is re-detected every sample)."""
        w, h = tr.box[2] - tr.box[0], tr.box[3] - tr.box[1]
        vx, vy = (tr.velocity[0] + tr.velocity[2]) / 2, (tr.velocity[1] + tr.velocity[3]) / 2
        return math.hypot(vx, vy) * (t - tr.last_t) <= FOLLOW_MOVE * min(w, h)

    def lost(self, lost: Lost) -> list[VideoDetectionEvent]:
        self.stats.lost += 1
        changes = self.health.signal_lost(lost.t, lost.since)
        return [self._health_event(c, self.when(lost.t), None) for c in changes]

    def close(self) -> list[VideoDetectionEvent]:
        """End of the source: end every open track and analytic."""
        when = self.when(self._last_t)
        ended = self.tracker.close_all()
        findings = self.analytics.step(self._last_t, when, [], ended, None) + self.analytics.close(self._last_t)
        return [self._event(f, when, self._last_frame) for f in findings]

    def _event(self, f: Finding, when: datetime, frame: Image | None) -> VideoDetectionEvent:
        self._seq += 1
        self._count(f.analytic.value)
        return self.factory.from_finding(f, when, self._seq, frame)

    def _health_event(self, c: HealthChange, when: datetime, frame: Image | None) -> VideoDetectionEvent:
        self._seq += 1
        self._count("camera_tamper")
        log.warning("camera %s: %s %s", self.cfg.camera_id, c.tamper, "started" if c.active else "cleared")
        return self.factory.from_health(c, when, self._seq, frame)

    def _count(self, name: str) -> None:
        self.stats.events += 1
        self.stats.by_analytic[name] = self.stats.by_analytic.get(name, 0) + 1


def run(
    cfg: CameraConfig,
    source: str,
    detector: ObjectDetector,
    sink: Sink,
    *,
    start: datetime | None = None,
    gating: bool = True,
    max_frames: int | None = None,
    metrics: DetectorMetrics | None = None,
) -> Stats:
    """Run a camera to the end of its file (or forever on a stream); returns the counters."""
    if start is None and not is_stream(source):
        start = datetime.now(UTC)
    pipe = Pipeline(cfg, detector, start=None if is_stream(source) else start, gating=gating)
    capture = FrameSource(source, cfg.sample_fps, threads=cfg.decode_threads, tick_s=LOST_TICK_S)
    try:
        for item in capture.frames():
            out = pipe.lost(item) if isinstance(item, Lost) else pipe.process(item)
            for ev in out:
                sink.publish(ev)
            if metrics is not None:
                metrics.sample(item, pipe.stats.inferences, pipe.stats.infer_s, capture.reconnects)
                for ev in out:
                    metrics.event(ev.data.analytic.value)
            if max_frames is not None and pipe.stats.frames >= max_frames:
                break
        for ev in pipe.close():
            sink.publish(ev)
            if metrics is not None:
                metrics.event(ev.data.analytic.value)
    finally:
        sink.flush()
    return pipe.stats
