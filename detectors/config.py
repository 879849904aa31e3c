"""Camera config: one YAML file per camera, parsed into frozen, typed records. Errors name the file and key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, time, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from detectors.errors import ConfigError
from detectors.model import COCO_CLASSES, ModelConfig
from schemas.common import AdminPath, GeoPoint

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BAGS = frozenset({"backpack", "handbag", "suitcase"})
VEHICLES = frozenset({"car", "truck", "bus", "motorcycle"})


@dataclass(frozen=True)
class Schedule:
    """Active on `days` from `start` to `end` (local time of the camera); end < start spans midnight."""

    days: frozenset[int] = frozenset(range(7))
    start: time = time(0, 0)
    end: time = time(23, 59, 59, 999999)

    def active(self, weekday: int, at: time) -> bool:
        if self.start <= self.end:
            return weekday in self.days and self.start <= at <= self.end
        # Overnight: the part after midnight belongs to the previous day's window.
        return (weekday in self.days and at >= self.start) or ((weekday - 1) % 7 in self.days and at <= self.end)


@dataclass(frozen=True)
class Zone:
    id: str
    polygon: tuple[tuple[float, float], ...]
    classes: frozenset[str] = frozenset({"person"})
    intrusion: bool = False
    schedules: tuple[Schedule, ...] = ()  # empty: always armed
    loiter_s: float | None = None
    crowd_threshold: int | None = None


@dataclass(frozen=True)
class Line:
    """A tripwire from a to b; crossing from its left side to its right side (image coordinates) is "in"."""

    id: str
    a: tuple[float, float]
    b: tuple[float, float]
    classes: frozenset[str] = frozenset({"person"})


@dataclass(frozen=True)
class MotionConfig:
    enabled: bool = True
    width: int = 160  # motion runs on a frame this wide
    threshold: int = 25  # grey-level difference that counts as change
    min_area: float = 0.0015  # fraction of the frame that must change
    # Every still_every sampled frames, moving or not, the detector re-checks where the tracks are (still objects
    # stay verified; a full frame when they cover most of it); every full_every, the whole frame (what motion
    # missed). With no tracks and no motion nothing else runs: an empty still scene costs one call per full_every.
    still_every: int = 10
    pad: float = 0.15  # grow the moving region by this fraction before inference
    # While every moving pixel lies on confirmed tracks seen at the last inference, the detector runs only every
    # N sampled frames (1: on every moving sample); motion anywhere else runs it at once.
    redetect_every: int = 3
    full_every: int = 50


@dataclass(frozen=True)
class TrackerConfig:
    iou_threshold: float = 0.25
    max_missed_s: float = 1.5
    min_hits: int = 2
    update_every_s: float = 5.0  # an "update" event per track at most this often


@dataclass(frozen=True)
class AbandonedConfig:
    enabled: bool = True
    classes: frozenset[str] = BAGS
    still_s: float = 5.0  # the object has not moved for this long
    unattended_s: float = 5.0  # ...and no person was near it for this long
    near: float = 2.5  # "near" = within this many object widths (at least 60 px)
    static_foreground: bool = True  # also find unlabelled left objects by a dual background model
    min_area: float = 0.0008
    max_area: float = 0.05
    # The static-object model updates this often (0: every sampled frame); ages are late by at most this.
    static_every_s: float = 1.0


@dataclass(frozen=True)
class StationaryConfig:
    enabled: bool = True
    classes: frozenset[str] = VEHICLES
    still_s: float = 60.0
    move_px: float = 15.0


@dataclass(frozen=True)
class HealthConfig:
    enabled: bool = True
    no_signal_s: float = 5.0
    frozen_s: float = 10.0
    blackout_level: float = 18.0  # mean grey below this, or contrast below blackout_std: covered / dark
    blackout_std: float = 6.0
    blur_ratio: float = 0.3  # sharpness below this fraction of the learned baseline
    scene_change: float = 0.6  # fraction of edge structure that no longer matches the reference
    hold_s: float = 2.0  # a condition must last this long before it is reported
    every_s: float = 1.0  # the checks run this often (0: every sampled frame)


@dataclass(frozen=True)
class CameraConfig:
    camera_id: str
    location: GeoPoint
    model: ModelConfig
    name: str | None = None
    admin: AdminPath | None = None
    utc_offset: timezone = UTC
    sample_fps: float = 5.0
    snapshot_dir: Path | None = None
    motion: MotionConfig = field(default_factory=MotionConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    zones: tuple[Zone, ...] = ()
    lines: tuple[Line, ...] = ()
    abandoned: AbandonedConfig = field(default_factory=AbandonedConfig)
    stationary: StationaryConfig = field(default_factory=StationaryConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    track_classes: frozenset[str] = frozenset({"person"}) | VEHICLES | BAGS
    # FFmpeg decoder threads (0: OpenCV's default, 2 here). One worker per core decodes on one thread: on ABODA
    # grab() costs ~30 % less CPU than with OpenCV's 2 (no hand-off between threads per frame).
    decode_threads: int = 1


class _Reader:
    """Typed access to a YAML mapping; every error names the file and dotted key."""

    def __init__(self, data: Any, where: str, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: {path or 'document'} must be a mapping")
        self.data, self.where, self.path = data, where, path

    def key(self, k: str) -> str:
        return f"{self.path}.{k}" if self.path else k

    def fail(self, k: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.where}: {self.key(k)}: {msg}")

    def sub(self, k: str) -> _Reader:
        return _Reader(self.data.get(k) or {}, self.where, self.key(k))

    def num(self, k: str, default: float, lo: float = 0.0, hi: float = float("inf")) -> float:
        v = self.data.get(k, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            raise self.fail(k, f"must be a number in [{lo}, {hi}], got {v!r}")
        return float(v)

    def int_(self, k: str, default: int, lo: int = 0) -> int:
        v = self.data.get(k, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise self.fail(k, f"must be an integer >= {lo}, got {v!r}")
        return v

    def bool_(self, k: str, default: bool) -> bool:
        v = self.data.get(k, default)
        if not isinstance(v, bool):
            raise self.fail(k, f"must be true or false, got {v!r}")
        return v

    def str_(self, k: str, default: str | None = None) -> str:
        v = self.data.get(k, default)
        if not isinstance(v, str) or not v:
            raise self.fail(k, "is required (a non-empty string)")
        return v

    def classes(self, k: str, default: frozenset[str], known: tuple[str, ...]) -> frozenset[str]:
        v = self.data.get(k)
        if v is None:
            return default
        if not isinstance(v, list) or not all(isinstance(c, str) for c in v):
            raise self.fail(k, "must be a list of class names")
        unknown = sorted(set(v) - set(known))
        if unknown:
            raise self.fail(k, f"unknown classes {unknown}")
        return frozenset(v)

    def points(self, k: str, minimum: int) -> tuple[tuple[float, float], ...]:
        v = self.data.get(k)
        out: list[tuple[float, float]] = []
        for p in v if isinstance(v, list) else []:
            if not (isinstance(p, list) and len(p) == 2 and all(isinstance(c, int | float) for c in p)):
                break
            out.append((float(p[0]), float(p[1])))
        if not isinstance(v, list) or len(out) != len(v) or len(out) < minimum:
            raise self.fail(k, f"must be a list of at least {minimum} [x, y] points (pixels)")
        return tuple(out)


def _clock(r: _Reader, k: str, default: str) -> time:
    raw = r.data.get(k, default)
    try:
        return time.fromisoformat(str(raw))
    except ValueError:
        raise r.fail(k, f"must be HH:MM, got {raw!r}") from None


def _schedule(r: _Reader) -> Schedule:
    days = r.data.get("days", list(DAYS))
    if not isinstance(days, list) or not set(days) <= set(DAYS):
        raise r.fail("days", f"must be a list of {DAYS}")
    return Schedule(frozenset(DAYS.index(d) for d in days), _clock(r, "start", "00:00"), _clock(r, "end", "23:59:59"))


def _offset(r: _Reader) -> timezone:
    raw = str(r.data.get("utc_offset", "+00:00"))
    try:
        sign = -1 if raw.startswith("-") else 1
        hh, mm = raw.lstrip("+-").split(":")
        return timezone(sign * timedelta(hours=int(hh), minutes=int(mm)))
    except ValueError:
        raise r.fail("utc_offset", f"must be like +05:00, got {raw!r}") from None


def _providers(r: _Reader) -> tuple[str, ...]:
    v = r.data.get("providers", ["CPUExecutionProvider"])
    if not isinstance(v, list) or not v or not all(isinstance(p, str) and p.endswith("ExecutionProvider") for p in v):
        raise r.fail(
            "providers", "must be onnxruntime provider names, e.g. [CUDAExecutionProvider, CPUExecutionProvider]"
        )
    return tuple(v)


def parse_config(data: Any, where: str = "<config>", base: Path | None = None) -> CameraConfig:
    root = _Reader(data, where, "")
    cam = root.sub("camera")
    loc = cam.sub("location")
    try:
        location = GeoPoint(lat=loc.num("lat", 0, -90, 90), lon=loc.num("lon", 0, -180, 180))
        if "lat" not in loc.data or "lon" not in loc.data:
            raise loc.fail("lat", "camera.location needs lat and lon")
        admin = AdminPath(**cam.data["admin"]) if cam.data.get("admin") else None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: camera: {exc}") from None
    base = base or Path.cwd()

    m = root.sub("model")
    names = m.data.get("classes", list(COCO_CLASSES))
    if not isinstance(names, list) or not names:
        raise m.fail("classes", "must be a list of class names in the model's output order")
    known = tuple(str(n) for n in names)
    model = ModelConfig(
        path=(base / m.str_("path")).resolve(),
        adapter=m.str_("adapter", "yolox"),
        input_size=m.int_("input_size", 416, 32),
        score_threshold=m.num("score_threshold", 0.3, 0, 1),
        nms_threshold=m.num("nms_threshold", 0.45, 0, 1),
        classes=known,
        keep=m.classes("keep", frozenset(), known) or None,
        threads=m.int_("threads", 1, 1),
        providers=_providers(m),
        rectangular=m.bool_("rectangular", True),
    )

    zones = []
    for i, z in enumerate(root.data.get("zones") or []):
        zr = _Reader(z, where, f"zones[{i}]")
        pts = zr.points("polygon", 3)
        scheds = tuple(
            _schedule(_Reader(s, where, f"zones[{i}].schedule[{j}]"))
            for j, s in enumerate(zr.data.get("schedule") or [])
        )
        loiter = zr.data.get("loiter_s")
        crowd = zr.data.get("crowd_threshold")
        zones.append(
            Zone(
                id=zr.str_("id"),
                polygon=pts,
                classes=zr.classes("classes", frozenset({"person"}), known),
                intrusion=zr.bool_("intrusion", False),
                schedules=scheds,
                loiter_s=None if loiter is None else zr.num("loiter_s", 0, 0.1),
                crowd_threshold=None if crowd is None else zr.int_("crowd_threshold", 0, 1),
            )
        )
    lines = []
    for i, ln in enumerate(root.data.get("lines") or []):
        lr = _Reader(ln, where, f"lines[{i}]")
        pts = lr.points("points", 2)
        if len(pts) != 2:
            raise lr.fail("points", "a line has exactly two points")
        lines.append(Line(lr.str_("id"), pts[0], pts[1], lr.classes("classes", frozenset({"person"}), known)))
    ids = [z.id for z in zones] + [ln.id for ln in lines]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{where}: zone and line ids must be unique, got {ids}")

    mo, tr, ab, st, he = (root.sub(k) for k in ("motion", "tracker", "abandoned", "stationary", "health"))
    snap = root.data.get("snapshot_dir")
    return CameraConfig(
        camera_id=cam.str_("id"),
        name=cam.data.get("name"),
        location=location,
        admin=admin,
        utc_offset=_offset(cam),
        model=model,
        sample_fps=root.num("sample_fps", 5.0, 0.1, 120),
        snapshot_dir=None if snap is None else (base / str(snap)).resolve(),
        motion=MotionConfig(
            mo.bool_("enabled", True),
            mo.int_("width", 160, 32),
            mo.int_("threshold", 25, 1),
            mo.num("min_area", 0.0015, 0, 1),
            mo.int_("still_every", 10, 1),
            mo.num("pad", 0.15, 0, 2),
            mo.int_("redetect_every", 3, 1),
            mo.int_("full_every", 50, 1),
        ),
        tracker=TrackerConfig(
            tr.num("iou_threshold", 0.25, 0, 1),
            tr.num("max_missed_s", 1.5, 0),
            tr.int_("min_hits", 2, 1),
            tr.num("update_every_s", 5.0, 0),
        ),
        zones=tuple(zones),
        lines=tuple(lines),
        abandoned=AbandonedConfig(
            ab.bool_("enabled", True),
            ab.classes("classes", BAGS, known),
            ab.num("still_s", 5.0, 0),
            ab.num("unattended_s", 5.0, 0),
            ab.num("near", 2.5, 0),
            ab.bool_("static_foreground", True),
            ab.num("min_area", 0.0008, 0, 1),
            ab.num("max_area", 0.05, 0, 1),
            ab.num("static_every_s", 1.0, 0, 2),
        ),
        stationary=StationaryConfig(
            st.bool_("enabled", True),
            st.classes("classes", VEHICLES, known),
            st.num("still_s", 60, 0),
            st.num("move_px", 15, 0),
        ),
        health=HealthConfig(
            he.bool_("enabled", True),
            he.num("no_signal_s", 5, 0),
            he.num("frozen_s", 10, 0),
            he.num("blackout_level", 18, 0, 255),
            he.num("blackout_std", 6, 0, 255),
            he.num("blur_ratio", 0.3, 0, 1),
            he.num("scene_change", 0.6, 0, 1),
            he.num("hold_s", 2.0, 0),
            he.num("every_s", 1.0, 0, 60),
        ),
        track_classes=root.classes("track_classes", frozenset({"person"}) | VEHICLES | BAGS, known),
        decode_threads=root.int_("decode_threads", 1, 0),
    )


def load_config(path: Path) -> CameraConfig:
    """Read a camera YAML; relative paths in it (model, snapshot_dir) are relative to the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, str(path), path.parent)
