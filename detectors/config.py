"""Camera config: one YAML file per camera, validated into frozen pydantic models (pydantic dataclasses: they keep
positional construction and `dataclasses.replace`, which validates again).

Unknown keys are refused with a did-you-mean, and every error reads `file:line:col: dotted.key: message` in the
project's words (positions from schemas/yamlpos.py, the reader the rule language uses). Zones and lines are pixels
of the source frame: they are checked against the frame size once it is known (`check_frame`: at load when the
config gives `frame: {width, height}`, and by the worker at the first frame): entirely outside is an error, partly
outside a warning.
"""

from __future__ import annotations

import difflib
import logging
import re
import types
from dataclasses import field, replace
from datetime import UTC, time, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AliasPath,
    BaseModel,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass, is_pydantic_dataclass
from pydantic.fields import FieldInfo
from shapely import make_valid
from shapely.geometry import LineString, Polygon, box

from detectors.errors import ConfigError
from detectors.fields import SECTION, Flag, Int, Invalid, Names, Num, Point, Points, PointXY, Text, points, shown
from detectors.model import ModelConfig
from schemas.common import AdminPath, GeoPoint
from schemas.yamlpos import YamlDoc, YamlSourceError, load_yaml

log = logging.getLogger("saqshy.detectors.config")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BAGS = frozenset({"backpack", "handbag", "suitcase"})
VEHICLES = frozenset({"car", "truck", "bus", "motorcycle"})
KeyPath = tuple[str | int, ...]
_CLOCK = re.compile(r"\d{1,2}:\d{2}(:\d{2})?")


def _days(v: Any) -> Any:
    if isinstance(v, frozenset | set) and all(isinstance(d, int) and 0 <= d < 7 for d in v):
        return frozenset(v)  # from code: weekday numbers, Monday = 0
    if not isinstance(v, list | tuple) or not all(isinstance(d, str) and d in DAYS for d in v):
        raise Invalid(f"must be a list of {', '.join(DAYS)}, got {shown(v)}")
    return frozenset(DAYS.index(d) for d in v)


def _clock(v: Any) -> time:
    if isinstance(v, time):
        return v
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 24 * 60:
        # YAML 1.1 reads an unquoted 20:00 as the base-60 number 1200 (06:00 stays text): hours and minutes.
        return time(*divmod(v, 60))
    if isinstance(v, str) and _CLOCK.fullmatch(v):
        try:
            return time.fromisoformat(v.zfill(5) if len(v) == 4 else v)
        except ValueError:
            pass
    raise Invalid(f'must be HH:MM (in quotes: "20:00"), got {shown(v)}')


def _utc_offset(v: Any) -> timezone:
    if isinstance(v, timezone):
        return v
    m = re.fullmatch(r"([+-])(\d{2}):(\d{2})", v) if isinstance(v, str) else None
    if m is None or int(m[2]) > 14 or int(m[3]) > 59:
        raise Invalid(f'must be like "+05:00", got {shown(v)}')
    sign = -1 if m[1] == "-" else 1
    return timezone(sign * timedelta(hours=int(m[2]), minutes=int(m[3])))


@dataclass(frozen=True, config=SECTION)
class Schedule:
    """Active on `days` from `start` to `end` (local time of the camera); end < start spans midnight."""

    days: Annotated[frozenset[int], PlainValidator(_days)] = frozenset(range(7))
    start: Annotated[time, PlainValidator(_clock)] = time(0, 0)
    end: Annotated[time, PlainValidator(_clock)] = time(23, 59, 59, 999999)

    def active(self, weekday: int, at: time) -> bool:
        if self.start <= self.end:
            return weekday in self.days and self.start <= at <= self.end
        # Overnight: the part after midnight belongs to the previous day's window.
        return (weekday in self.days and at >= self.start) or ((weekday - 1) % 7 in self.days and at <= self.end)


@dataclass(frozen=True, config=SECTION)
class Zone:
    id: Annotated[str, Text()]
    polygon: Annotated[tuple[Point, ...], Points(3)]
    classes: Annotated[frozenset[str], Names()] = frozenset({"person"})
    intrusion: Annotated[bool, Flag()] = False
    schedules: tuple[Schedule, ...] = Field(default=(), validation_alias="schedule")  # empty: always armed
    loiter_s: Annotated[float, Num(0.1)] | None = None
    crowd_threshold: Annotated[int, Int(1)] | None = None
    # The crowd is the median of the per-sample counts over crowd_window_s (0: the raw count); it ends only after
    # that estimate stays under crowd_release x crowd_threshold for crowd_hold_s (docs/detectors.md, crowd).
    crowd_release: Annotated[float, Num(0.1, 1)] = 0.8
    crowd_window_s: Annotated[float, Num(0, 60)] = 3.0
    crowd_hold_s: Annotated[float, Num(0, 600)] = 2.0


@dataclass(frozen=True, config=SECTION)
class Line:
    """A tripwire from a to b; crossing from its left side to its right side (image coordinates) is "in".
    In YAML: `points: [[x, y], [x, y]]`."""

    id: Annotated[str, Text()]
    a: Annotated[Point, PointXY()]
    b: Annotated[Point, PointXY()]
    classes: Annotated[frozenset[str], Names()] = frozenset({"person"})
    # Hysteresis (pixels; null: from each track's box height, 0.1 and 0.3 of it): nothing within band_px of the
    # line has crossed, and a crossing needs min_travel_px across it from the furthest point on the side it left.
    band_px: Annotated[float, Num(0)] | None = None
    min_travel_px: Annotated[float, Num(0)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_points(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "a" in data or "b" in data:
            return data  # from code, or a and b given (an error of their own if wrong)
        if "points" not in data:
            unknown = [k for k in data if k not in document_keys(Line)]
            if unknown:
                raise Invalid(_unknown(str(unknown[0]), document_keys(Line)), (unknown[0],), key=True)
            raise Invalid("is required: [[x, y], [x, y]] (pixels)", ("points",))
        data = dict(data)
        try:
            pts = points(data.pop("points"), 2)
        except Invalid as exc:
            raise Invalid(exc.message, ("points",)) from None
        if len(pts) != 2:
            raise Invalid("a line has exactly two points", ("points",))
        data["a"], data["b"] = pts
        return data


@dataclass(frozen=True, config=SECTION)
class MotionConfig:
    enabled: Annotated[bool, Flag()] = True
    width: Annotated[int, Int(32)] = 160  # motion runs on a frame this wide
    threshold: Annotated[int, Int(1)] = 25  # grey-level difference that counts as change
    min_area: Annotated[float, Num(0, 1)] = 0.0015  # fraction of the frame that must change
    # Every still_every sampled frames, moving or not, the detector re-checks where the tracks are (still objects
    # stay verified; a full frame when they cover most of it); every full_every, the whole frame (what motion
    # missed). With no tracks and no motion nothing else runs: an empty still scene costs one call per full_every.
    still_every: Annotated[int, Int(1)] = 10
    pad: Annotated[float, Num(0, 2)] = 0.15  # grow the moving region by this fraction before inference
    # While every moving pixel lies on confirmed tracks seen at the last inference, the detector runs only every
    # N sampled frames (1: on every moving sample); motion anywhere else runs it at once.
    redetect_every: Annotated[int, Int(1)] = 3
    full_every: Annotated[int, Int(1)] = 50


@dataclass(frozen=True, config=SECTION)
class TrackerConfig:
    iou_threshold: Annotated[float, Num(0, 1)] = 0.25
    max_missed_s: Annotated[float, Num(0)] = 1.5
    min_hits: Annotated[int, Int(1)] = 2
    update_every_s: Annotated[float, Num(0)] = 5.0  # an "update" event per track at most this often


@dataclass(frozen=True, config=SECTION)
class AbandonedConfig:
    enabled: Annotated[bool, Flag()] = True
    classes: Annotated[frozenset[str], Names()] = BAGS
    still_s: Annotated[float, Num(0)] = 5.0  # the object has not moved for this long
    unattended_s: Annotated[float, Num(0)] = 5.0  # ...and no person was near it for this long
    near: Annotated[float, Num(0)] = 2.5  # "near" = within this many object widths (at least 60 px)
    static_foreground: Annotated[bool, Flag()] = True  # also find unlabelled left objects by a dual background model
    min_area: Annotated[float, Num(0, 1)] = 0.0008
    max_area: Annotated[float, Num(0, 1)] = 0.05
    # The static-object model updates this often (0: every sampled frame); ages are late by at most this.
    static_every_s: Annotated[float, Num(0, 2)] = 1.0


@dataclass(frozen=True, config=SECTION)
class StationaryConfig:
    enabled: Annotated[bool, Flag()] = True
    classes: Annotated[frozenset[str], Names()] = VEHICLES
    still_s: Annotated[float, Num(0)] = 60.0
    move_px: Annotated[float, Num(0)] = 15.0


@dataclass(frozen=True, config=SECTION)
class HealthConfig:
    enabled: Annotated[bool, Flag()] = True
    # No frame for this long (since the last one, or since the worker started watching a source that never
    # delivered one): no_signal.
    no_signal_s: Annotated[float, Num(0)] = 5.0
    frozen_s: Annotated[float, Num(0)] = 10.0
    # Mean grey below blackout_level, or contrast below blackout_std: covered / dark.
    blackout_level: Annotated[float, Num(0, 255)] = 18.0
    blackout_std: Annotated[float, Num(0, 255)] = 6.0
    blur_ratio: Annotated[float, Num(0, 1)] = 0.3  # sharpness below this fraction of the learned baseline
    # scene_change (tamper.py): between two checks a corner of the view moved by scene_shift of the width, or no
    # transform fits and this fraction of the reference's edges is missing.
    scene_change: Annotated[float, Num(0, 1)] = 0.6
    scene_shift: Annotated[float, Num(0.01, 1)] = 0.1
    hold_s: Annotated[float, Num(0)] = 2.0  # a condition must last this long before it is reported
    every_s: Annotated[float, Num(0, 60)] = 1.0  # the checks run this often (0: every sampled frame)


@dataclass(frozen=True, config=SECTION)
class FrameSize:
    """The source's frame size in pixels, when the config states it (checked at load and at the first frame)."""

    width: Annotated[int, Int(1)]
    height: Annotated[int, Int(1)]


def _as_is(v: Any) -> Any:
    return v


# The `camera:` section of the YAML: its keys and the CameraConfig fields they fill.
CAMERA_KEYS = {"id": "camera_id", "name": "name", "location": "location", "admin": "admin", "utc_offset": "utc_offset"}


def _camera(key: str) -> AliasPath:
    return AliasPath("camera", key)


@dataclass(frozen=True, config=SECTION)
class CameraConfig:
    camera_id: Annotated[str, Text()] = Field(validation_alias=_camera("id"))
    location: GeoPoint = Field(validation_alias=_camera("location"))
    model: ModelConfig = Field()  # required (Field: the fields before it carry aliases)
    name: str | None = Field(default=None, validation_alias=_camera("name"))
    admin: AdminPath | None = Field(default=None, validation_alias=_camera("admin"))
    utc_offset: Annotated[timezone, PlainValidator(_utc_offset)] = Field(
        default=UTC, validation_alias=_camera("utc_offset")
    )
    sample_fps: Annotated[float, Num(0.1, 120)] = 5.0
    snapshot_dir: Path | None = None
    motion: MotionConfig = field(default_factory=MotionConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    zones: tuple[Zone, ...] = ()
    lines: tuple[Line, ...] = ()
    abandoned: AbandonedConfig = field(default_factory=AbandonedConfig)
    stationary: StationaryConfig = field(default_factory=StationaryConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    track_classes: Annotated[frozenset[str], Names()] = frozenset({"person"}) | VEHICLES | BAGS
    # FFmpeg decoder threads (0: OpenCV's default, 2 here). One worker per core decodes on one thread: on ABODA
    # grab() costs ~30 % less CPU than with OpenCV's 2 (no hand-off between threads per frame).
    decode_threads: Annotated[int, Int(0)] = 1
    frame: FrameSize | None = None  # the source's frame size, if known when writing the config
    # The YAML it was read from (positions for errors found later, at the first frame); not a config key.
    origin: Annotated[YamlDoc | None, PlainValidator(_as_is)] = field(default=None, compare=False, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _document(cls, data: Any) -> Any:
        """A YAML document (a dict; code passes keywords): the camera section is a mapping of known keys, and the
        fields it fills, and `origin`, are not keys of the top level."""
        if not isinstance(data, dict):
            return data
        camera = data.get("camera")
        if not isinstance(camera, dict):
            raise Invalid(
                "is required: a mapping with id and location" if camera is None else "must be a mapping", ("camera",)
            )
        for key in camera:
            if key not in CAMERA_KEYS:
                raise Invalid(_unknown(str(key), list(CAMERA_KEYS)), ("camera", key), key=True)
        for key in data:
            if key == "origin" or key in CAMERA_KEYS.values():
                raise Invalid(_unknown(key, document_keys(CameraConfig)), (key,), key=True)
        return data

    @field_validator("snapshot_dir", mode="before")
    @classmethod
    def _relative_to_config(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None or isinstance(v, Path):
            return v
        if not isinstance(v, str) or not v:
            raise Invalid(f"must be a directory path, got {shown(v)}")
        base = (info.context or {}).get("base")
        return (base / v).resolve() if base is not None else Path(v)

    @model_validator(mode="after")
    def _consistent(self) -> CameraConfig:
        known = set(self.model.classes)
        named: list[tuple[KeyPath, frozenset[str]]] = [
            *((("zones", i, "classes"), z.classes) for i, z in enumerate(self.zones)),
            *((("lines", i, "classes"), ln.classes) for i, ln in enumerate(self.lines)),
            (("abandoned", "classes"), self.abandoned.classes),
            (("stationary", "classes"), self.stationary.classes),
            (("track_classes",), self.track_classes),
        ]
        for at, classes in named:
            if classes - known:
                raise Invalid(f"unknown classes {sorted(classes - known)} (not in model.classes)", at)
        seen: dict[str, KeyPath] = {}
        for at, id_ in [
            *((("zones", i, "id"), z.id) for i, z in enumerate(self.zones)),
            *((("lines", i, "id"), ln.id) for i, ln in enumerate(self.lines)),
        ]:
            if id_ in seen:
                raise Invalid(f"zone and line ids must be unique: {id_!r} is also {_dotted(seen[id_])}", at)
            seen[id_] = at
        return self


_ADAPTER = TypeAdapter(CameraConfig)


def parse_config(
    data: Any, where: str = "<config>", base: Path | None = None, doc: YamlDoc | None = None
) -> CameraConfig:
    """A camera config from its YAML data; `doc` (the parsed file) gives errors their line and column, and
    relative paths in it (model, snapshot_dir) are relative to `base`."""
    if not isinstance(data, dict):
        loc = doc.location(()) if doc is not None else where
        raise ConfigError(f"{loc}: the file must be a mapping (camera:, model:, ...), got {shown(data)}")
    try:
        cfg = _ADAPTER.validate_python(data, context={"base": base or Path.cwd()})
    except ValidationError as exc:
        raise ConfigError("\n".join(_report(exc, where, doc))) from None
    if doc is not None:
        cfg = replace(cfg, origin=doc)
    if cfg.frame is not None:
        check_frame(cfg, cfg.frame.width, cfg.frame.height)
    return cfg


def load_config(path: Path) -> CameraConfig:
    """Read a camera YAML; relative paths in it (model, snapshot_dir) are relative to the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        doc = load_yaml(text, str(path))
    except YamlSourceError as exc:
        raise ConfigError(f"{exc.location}: not valid YAML: {exc.message.removeprefix('YAML: ')}") from None
    return parse_config(doc.value, str(path), path.parent, doc)


# --- the frame: zones and lines against the frame size ------------------------------------------------------------


def check_frame(cfg: CameraConfig, width: int, height: int) -> None:
    """Zones and lines against a frame of width x height pixels: ConfigError for one that lies entirely outside
    (it could never fire) or for a frame other than the config's `frame`, a warning for one partly outside."""
    if cfg.frame is not None and (cfg.frame.width, cfg.frame.height) != (width, height):
        raise ConfigError(
            f"{_where(cfg, ('frame',))}: frame: the config is for {cfg.frame.width}x{cfg.frame.height} frames, the "
            f"source delivers {width}x{height} (zones and lines are pixels of the source frame)"
        )
    rect = box(0, 0, width, height)
    shapes: list[tuple[str, str, KeyPath, tuple[Point, ...], bool]] = [
        *(("zone", z.id, ("zones", i, "polygon"), z.polygon, True) for i, z in enumerate(cfg.zones)),
        *(("line", ln.id, ("lines", i, "points"), (ln.a, ln.b), False) for i, ln in enumerate(cfg.lines)),
    ]
    for kind, id_, at, pts, area in shapes:
        geom = make_valid(Polygon(pts)) if area else LineString(pts)
        common = geom.intersection(rect)
        inside = common.area if area else common.length
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        span = f"x {min(xs):g}..{max(xs):g}, y {min(ys):g}..{max(ys):g}"
        if inside <= 0:
            raise ConfigError(
                f"{_where(cfg, at)}: {_dotted(at)}: {kind} {id_!r} lies entirely outside the {width}x{height} frame "
                f"({span}); coordinates are pixels of the source frame"
            )
        if any(not (0 <= x <= width and 0 <= y <= height) for x, y in pts):
            log.warning(
                "%s: %s: %s %r is partly outside the %dx%d frame (%s)", _where(cfg, at), _dotted(at), kind, id_, width,
                height, span,
            )  # fmt: skip


def _where(cfg: CameraConfig, at: KeyPath) -> str:
    return str(cfg.origin.location(at)) if cfg.origin is not None else f"camera {cfg.camera_id}"


# --- errors in the project's words ----------------------------------------------------------------------------------

_MAPPING = {"dict_type", "dataclass_type", "dataclass_exact_type", "model_type", "model_attributes_type"}
_LIST = {"list_type", "tuple_type", "set_type", "frozen_set_type", "iterable_type"}
_NUMBER = {"float_type", "float_parsing", "int_type", "int_parsing", "int_from_float", "finite_number"}
_BOUNDS = {"less_than_equal": "<=", "less_than": "<", "greater_than_equal": ">=", "greater_than": ">"}


def _report(exc: ValidationError, where: str, doc: YamlDoc | None) -> list[str]:
    """One line per error: file:line:col (the file alone without positions): dotted.key: message."""
    out: list[tuple[tuple[int, int], str]] = []
    for err in exc.errors(include_url=False):
        error = err.get("ctx", {}).get("error")
        at = error.at if isinstance(error, Invalid) else ()
        path = _doc_path(doc.value if doc is not None else None, (*err["loc"], *at))
        key = err["type"] in {"extra_forbidden", "unexpected_keyword_argument"} or getattr(error, "key", False)
        loc = doc.location(path, key=key) if doc is not None else None
        line = f"{loc or where}: {_dotted(path) or '(file)'}: {_message(err, path, error)}"
        out.append(((loc.line, loc.col) if loc else (0, 0), line))
    return [line for _, line in sorted(out, key=lambda item: item[0])]  # in the order of the file


def _message(err: Any, path: KeyPath, error: object) -> str:
    kind, got = err["type"], shown(err.get("input"))
    if isinstance(error, Invalid):
        return error.message
    if kind == "missing":
        return "is required"
    if kind in {"extra_forbidden", "unexpected_keyword_argument"}:
        return _unknown(str(path[-1]), document_keys(_section_at(path[:-1])), path[:-1])
    if kind in _MAPPING:
        return f"must be a mapping, got {got}"
    if kind in _LIST:
        return f"must be a list, got {got}"
    if kind in _NUMBER:
        return f"must be a number, got {got}"
    if kind in {"bool_type", "bool_parsing"}:
        return f"must be true or false, got {got}"
    if kind == "string_type":
        return f"must be text, got {got}"
    if kind in _BOUNDS:
        bound = next(iter(err.get("ctx", {}).values()), "?")
        return f"must be {_BOUNDS[kind]} {bound}, got {got}"
    if error is not None:
        return str(error)
    msg = str(err["msg"])
    return msg[:1].lower() + msg[1:]


def _unknown(key: str, known: list[str], parent: KeyPath = ()) -> str:
    """'unknown key' with the closest known key beside it, or anywhere in the config."""
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if near:
        return f"unknown key {key!r} (did you mean {near[0]!r}?)"
    elsewhere = difflib.get_close_matches(key, list(_ALL_KEYS), n=1, cutoff=0.75)
    if elsewhere:
        return f"unknown key {key!r} (did you mean {_ALL_KEYS[elsewhere[0]]}?)"
    return f"unknown key {key!r}; known here: {', '.join(sorted(known))}"


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _doc_path(value: Any, loc: tuple[int | str, ...]) -> KeyPath:
    """The YAML path of a pydantic error location (pydantic also names the branches of a union: skipped)."""
    if value is None:
        return tuple(p for p in loc if isinstance(p, int) or not p.startswith(("function-", "nullable")))
    path: list[str | int] = []
    current = value
    for part in loc:
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        ):
            path.append(part)
            current = current[part]  # type: ignore[index]
        elif isinstance(part, str) and part.startswith(("function-", "nullable")):
            continue
        else:  # a missing or unknown key, or a value pydantic made (a line's a/b from its points)
            path.append(part)
            current = None
    return tuple(path)


# --- the keys of each section, for did-you-mean ------------------------------------------------------------------


def _unwrap(tp: Any) -> Any:
    """The section type inside Annotated, X | None, tuple[X, ...] and frozenset[X]."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(tp) if a is not type(None)]
            tp = rest[0] if len(rest) == 1 else tp
            if len(rest) != 1:
                return tp
        elif origin in (tuple, frozenset, list) and get_args(tp):
            tp = get_args(tp)[0]
        else:
            return tp


def _fields(tp: Any) -> dict[str, Any]:
    """YAML key -> type, for a section (pydantic dataclass or model); the camera: section is a dict of keys."""
    if isinstance(tp, dict):
        return tp
    if tp is CameraConfig:
        fields = _field_infos(CameraConfig)
        top = {k: f.annotation for k, f in fields.items() if k != "origin" and k not in CAMERA_KEYS.values()}
        return {"camera": {k: fields[name].annotation for k, name in CAMERA_KEYS.items()}, **top}
    if tp is Line:
        return {"id": str, "points": Point, "classes": frozenset[str]}
    if is_pydantic_dataclass(tp):
        return {
            f.validation_alias if isinstance(f.validation_alias, str) else name: f.annotation
            for name, f in _field_infos(tp).items()
        }
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {name: f.annotation for name, f in tp.model_fields.items()}
    return {}


def _field_infos(tp: Any) -> dict[str, FieldInfo]:
    fields: dict[str, FieldInfo] = tp.__pydantic_fields__
    return fields


def _section_at(path: KeyPath) -> Any:
    tp: Any = CameraConfig
    for part in path:
        tp = _unwrap(tp) if isinstance(part, int) else _fields(_unwrap(tp)).get(str(part))
    return _unwrap(tp)


def document_keys(tp: Any) -> list[str]:
    """The keys a section of the YAML may have."""
    return list(_fields(tp))


def _all_keys(tp: Any, prefix: str, out: dict[str, str]) -> dict[str, str]:
    for key, sub in _fields(tp).items():
        list_like = get_origin(_strip(sub)) is tuple and ... in get_args(_strip(sub))
        out.setdefault(key, f"{prefix}{key}")
        _all_keys(_unwrap(sub), f"{prefix}{key}{'[].' if list_like else '.'}", out)
    return out


def _strip(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


_ALL_KEYS = _all_keys(CameraConfig, "", {})  # key -> where it belongs, e.g. crowd_threshold -> zones[].crowd_threshold
