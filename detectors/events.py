"""Findings to contract events: stable ids, normalised boxes, camera geolocation, JPEG snapshots."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import cv2

from detectors.analytics import Finding
from detectors.config import CameraConfig
from detectors.health import HealthChange
from detectors.model import Image
from schemas.events import Analytic, BBox, Phase, VideoDetection, VideoDetectionEvent

log = logging.getLogger("saqshy.detectors.events")
SNAPSHOT_PHASES = frozenset({Phase.NEW})  # one picture per event that starts something, not per update


def event_id(camera_id: str, *parts: object) -> str:
    """Deterministic id: replaying the same clip gives the same ids, so consumers deduplicate."""
    digest = hashlib.sha1("|".join(map(str, (camera_id, *parts))).encode()).hexdigest()[:20]
    return f"vd-{digest}"


def _bbox(box: tuple[float, float, float, float] | None, width: int, height: int) -> BBox | None:
    if box is None or width <= 0 or height <= 0:
        return None
    x1, y1 = min(max(box[0] / width, 0.0), 1.0), min(max(box[1] / height, 0.0), 1.0)
    x2, y2 = min(max(box[2] / width, 0.0), 1.0), min(max(box[3] / height, 0.0), 1.0)
    return BBox(x=round(x1, 5), y=round(y1, 5), w=round(max(0.0, x2 - x1), 5), h=round(max(0.0, y2 - y1), 5))


@dataclass
class EventFactory:
    cfg: CameraConfig

    def from_finding(self, f: Finding, when: datetime, seq: int, frame: Image | None) -> VideoDetectionEvent:
        h, w = frame.shape[:2] if frame is not None else (0, 0)
        direction: Literal["in", "out"] | None = (
            "in" if f.direction == "in" else "out" if f.direction == "out" else None
        )
        data = VideoDetection(
            camera_id=self.cfg.camera_id,
            analytic=f.analytic,
            label=f.label[:64],
            confidence=round(min(max(f.confidence, 0.0), 1.0), 4),
            bbox=_bbox(f.box, w, h),
            track_id=f.track_id,
            zone_id=f.zone_id,
            line_id=f.line_id,
            direction=direction,
            phase=f.phase,
            count=f.count,
            count_spread=None if f.count_spread is None else round(f.count_spread, 2),
            dwell_s=None if f.dwell_s is None else round(max(0.0, f.dwell_s), 2),
        )
        eid = event_id(self.cfg.camera_id, f.analytic, f.phase, f.track_id, f.zone_id, f.line_id, seq)
        if f.phase in SNAPSHOT_PHASES and frame is not None:
            data = data.model_copy(update={"snapshot": self.snapshot(eid, frame, f.box, f.label)})
        return self._wrap(eid, when, data)

    def from_health(self, c: HealthChange, when: datetime, seq: int, frame: Image | None) -> VideoDetectionEvent:
        phase = Phase.NEW if c.active else Phase.END
        data = VideoDetection(
            camera_id=self.cfg.camera_id,
            analytic=Analytic.CAMERA_TAMPER,
            label=c.tamper,
            confidence=1.0,
            tamper=c.tamper,
            phase=phase,
        )
        eid = event_id(self.cfg.camera_id, "tamper", c.tamper, phase, seq)
        if c.active and frame is not None:
            data = data.model_copy(update={"snapshot": self.snapshot(eid, frame, None, c.tamper)})
        return self._wrap(eid, when, data)

    def _wrap(self, eid: str, when: datetime, data: VideoDetection) -> VideoDetectionEvent:
        return VideoDetectionEvent(
            id=eid,
            source=f"saqshy.detector/{self.cfg.camera_id}",
            time=when,
            location=self.cfg.location,
            admin=self.cfg.admin,
            data=data,
        )

    def snapshot(self, eid: str, frame: Image, box: tuple[float, float, float, float] | None, label: str) -> str | None:
        if self.cfg.snapshot_dir is None:
            return None
        img = frame.copy()
        if box is not None:
            p1, p2 = (int(box[0]), int(box[1])), (int(box[2]), int(box[3]))
            cv2.rectangle(img, p1, p2, (0, 0, 255), 2)
            cv2.putText(img, label, (p1[0], max(12, p1[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1)
        path = self.cfg.snapshot_dir / self.cfg.camera_id / f"{eid}.jpg"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 85]):
                raise OSError("cv2.imwrite returned False")
        except OSError as exc:  # a full disk must not stop the events: they go out without a picture
            log.error("snapshot %s not written: %s", path, exc)
            return None
        return str(path)
