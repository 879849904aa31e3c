"""The worker: sample -> health -> motion gate -> ONNX detector -> tracker -> analytics -> events -> sink."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from detectors.analytics import Analytics, Finding
from detectors.background import StaticForeground
from detectors.capture import FrameSource, Lost, Sample, is_stream
from detectors.config import CameraConfig
from detectors.events import EventFactory
from detectors.health import HealthChange, HealthMonitor
from detectors.model import Detection, Image, ObjectDetector
from detectors.motion import Motion, MotionGate
from detectors.publish import Sink
from detectors.tracker import Box, Track, Tracker
from schemas.events import VideoDetectionEvent

log = logging.getLogger("saqshy.detectors.pipeline")
CROP_MAX_FRACTION = 0.6  # a moving region larger than this share of the frame is inferred on the whole frame


@dataclass
class Stats:
    frames: int = 0
    inferences: int = 0
    infer_s: float = 0.0
    events: int = 0
    lost: int = 0
    by_analytic: dict[str, int] = field(default_factory=dict)

    @property
    def infer_ms(self) -> float:
        return 1000.0 * self.infer_s / self.inferences if self.inferences else 0.0


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
        self.start = start  # event time of t=0 for files; None: t is epoch seconds (streams)
        self.gate = MotionGate(cfg.motion)
        self.tracker = Tracker(cfg.tracker)
        self.analytics = Analytics(cfg)
        self.health = HealthMonitor(cfg.health)
        self.static = StaticForeground() if cfg.abandoned.enabled and cfg.abandoned.static_foreground else None
        self.factory = EventFactory(cfg)
        self.stats = Stats()
        self._since_full = 0
        self._seq = 0
        self._last_t = 0.0
        self._last_frame: Image | None = None

    def when(self, t: float) -> datetime:
        return self.start + timedelta(seconds=t) if self.start is not None else datetime.fromtimestamp(t, UTC)

    def crop_region(self, frame: Image, region: Box | None) -> Box | None:
        """The moving region grown to at least the model's input size: a crop is never upscaled (YOLOX-Nano
        scores drop sharply on upscaled crops), so on small frames cropping only helps where the frame is large."""
        if region is None:
            return None
        h, w = frame.shape[:2]
        size = getattr(getattr(self.detector, "cfg", None), "input_size", 416)
        cx, cy = (region[0] + region[2]) / 2, (region[1] + region[3]) / 2
        half_w, half_h = max(region[2] - region[0], size) / 2, max(region[3] - region[1], size) / 2
        x1, x2 = max(0.0, min(cx - half_w, w - 2 * half_w)), min(float(w), max(cx + half_w, 2 * half_w))
        y1, y2 = max(0.0, min(cy - half_h, h - 2 * half_h)), min(float(h), max(cy + half_h, 2 * half_h))
        if (x2 - x1) * (y2 - y1) >= CROP_MAX_FRACTION * w * h:
            return None
        return (x1, y1, x2, y2)

    def infer(self, frame: Image, region: Box | None) -> tuple[list[Detection], Box | None]:
        t0 = time.perf_counter()
        if region is not None:
            x1, y1, x2, y2 = (int(v) for v in region)
            found = self.detector.detect(frame[y1:y2, x1:x2])
            dets = [Detection(d.x1 + x1, d.y1 + y1, d.x2 + x1, d.y2 + y1, d.score, d.label) for d in found]
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
        self.analytics.set_frame_size(frame.shape[1], frame.shape[0])
        events = [self._health_event(c, when, frame) for c in self.health.frame(frame, t)]
        motion = self.gate(frame) if self.gating else Motion(True, 1.0, None)
        self._since_full += 1
        ended: list[Track] = []
        # A full frame at least every still_every samples, moving or not, so still objects stay verified.
        full = not self.gating or self._since_full >= self.cfg.motion.still_every
        if full or motion.moving:
            region = None if full else self.crop_region(frame, motion.region)
            if region is None:
                self._since_full = 0
            dets, region = self.infer(frame, region)
            _, ended = self.tracker.update(dets, t, region)
        tracks = [tr for tr in self.tracker.tracks.values() if tr.confirmed]
        blobs = self.static.update(frame, t) if self.static is not None else None
        findings = self.analytics.step(t, when, tracks, ended, blobs)
        events += [self._event(f, when, frame) for f in findings]
        return events

    def lost(self, lost: Lost) -> list[VideoDetectionEvent]:
        self.stats.lost += 1
        return [self._health_event(c, self.when(lost.t), None) for c in self.health.signal_lost(lost.t)]

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
) -> Stats:
    """Run a camera to the end of its file (or forever on a stream); returns the counters."""
    if start is None and not is_stream(source):
        start = datetime.now(UTC)
    pipe = Pipeline(cfg, detector, start=None if is_stream(source) else start, gating=gating)
    capture = FrameSource(source, cfg.sample_fps)
    try:
        for item in capture.frames():
            out = pipe.lost(item) if isinstance(item, Lost) else pipe.process(item)
            for ev in out:
                sink.publish(ev)
            if max_frames is not None and pipe.stats.frames >= max_frames:
                break
        for ev in pipe.close():
            sink.publish(ev)
    finally:
        sink.flush()
    return pipe.stats
