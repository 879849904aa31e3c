"""Tamper without false alarms: the shared clips as they are, and cameras that drift, pan, turn slowly or are
knocked, made from their real frames by moving a window over them."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.config import HealthConfig, load_config, parse_config
from detectors.errors import ConfigError
from detectors.health import HealthChange, HealthMonitor
from detectors.model import Image
from tests.detectors.conftest import ABODA, EXAMPLES, PETS, need

FPS = 5.0
BASE = {"camera": {"id": "c1", "location": {"lat": 43.2, "lon": 76.9}}, "model": {"path": "m.onnx"}}
WINDOW = 0.7  # the simulated camera sees this much of the clip's width and height (PETS: 336 px wide)
Pose = tuple[float, float, float, float]  # window centre offset dx, dy (clip px), rotation (degrees), zoom


def samples(clip: Path, fps: float, limit: float = math.inf) -> Iterator[tuple[float, Image]]:
    """The clip's frames at about fps, with their times (frame index / the clip's rate)."""
    need(clip)
    cap = cv2.VideoCapture(str(clip))
    rate = cap.get(cv2.CAP_PROP_FPS)
    step = max(1, round(rate / fps))
    i = 0
    while i / rate < limit:
        ok, frame = cap.read()
        if not ok:
            break
        if i % step == 0:
            yield i / rate, frame
        i += 1
    cap.release()


@pytest.fixture(scope="module")
def clips() -> dict[str, list[Image]]:
    """24 s of each clip at 5 fps."""
    return {p.name: [f for _, f in samples(p, FPS, 24.0)] for p in (PETS, ABODA)}


def view(frame: Image, pose: Pose) -> Image:
    """What a camera sees whose window (WINDOW of the frame, centred) is moved by (dx, dy), turned and zoomed."""
    dx, dy, angle, zoom = pose
    h, w = frame.shape[:2]
    size = (round(w * WINDOW), round(h * WINDOW))
    a = math.radians(angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) / zoom
    centre = np.array([w / 2 + dx, h / 2 + dy])
    m = np.hstack([rot, (centre - rot @ np.array([size[0] / 2, size[1] / 2]))[:, None]])
    out: Image = cv2.warpAffine(frame, m, size, flags=cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT101)
    return out


def drift(t: float, width: float) -> Pose:
    """Creeping like a loose mount: 1/60 of the view's width a second for 9 s from 2 s (5.6 px/s on PETS' 336-px
    view; 3.5x the issue's 18 px over 3 s on a 1280-px view), turning 0.15 degrees and zooming 0.3 % a second with
    it; then still."""
    s = min(max(t - 2.0, 0.0), 9.0)
    return -width / 12 + width / 60 * s, 0.0, 0.15 * s, 1.0 + 0.003 * s


def pan(t: float, width: float) -> Pose:
    """A slow pan: 1/6 of the view's width over 20 s from 2 s (56 px on PETS' 336-px view; the issue's 60 px over
    20 s on a 1280-px view is 1/21)."""
    s = min(max(t - 2.0, 0.0), 20.0)
    return -width / 12 + width / 6 * s / 20, 0.0, 0.0, 1.0


def camera(frames: list[Image], path: Callable[[float, float], Pose]) -> list[Image]:
    width = frames[0].shape[1] * WINDOW
    return [view(f, path(k / FPS, width)) for k, f in enumerate(frames)]


def feed(mon: HealthMonitor, frames: list[Image], t0: float = 0.0) -> list[tuple[float, HealthChange]]:
    out = []
    for k, f in enumerate(frames):
        t = t0 + k / FPS
        out += [(t, c) for c in mon.frame(f, t)]
    return out


@pytest.mark.parametrize("clip", [PETS, ABODA], ids=["pets", "aboda"])
def test_no_tamper_alarm_on_the_shared_clips(clip: Path) -> None:
    """Every frame the example configs sample, every health cadence: not one blackout, blur, frozen or moved."""
    config = EXAMPLES / ("pets2009_walkway.yaml" if clip == PETS else "aboda_left_bag.yaml")
    cfg = load_config(config)
    mons = {f"every_s={every}": HealthMonitor(HealthConfig(every_s=every)) for every in (0.0, 1.0, 1.3)}
    mons["example"] = HealthMonitor(cfg.health)
    changes: dict[str, list[tuple[float, HealthChange]]] = {k: [] for k in mons}
    n = 0
    for t, frame in samples(clip, cfg.sample_fps):
        n += 1
        for k, mon in mons.items():
            changes[k] += [(t, c) for c in mon.frame(frame, t)]
    assert n * 2 > cfg.sample_fps * 30, "the whole clip was read"
    assert changes == {k: [] for k in mons}


@pytest.mark.parametrize("path", [drift, pan])
@pytest.mark.parametrize("every_s", [0.0, 1.0, 1.3])
@pytest.mark.parametrize("clip", [PETS, ABODA], ids=["pets", "aboda"])
def test_a_drifting_camera_raises_nothing(
    clips: dict[str, list[Image]], clip: Path, every_s: float, path: Callable[[float, float], Pose]
) -> None:
    frames = camera(clips[clip.name], path)
    assert feed(HealthMonitor(HealthConfig(every_s=every_s)), frames) == []


def knocked(t: float, width: float) -> Pose:
    """Drifting, then knocked at 6 s to look 30 % of the view's width further right, drifting on."""
    x = -0.21 * width + width / 120 * t
    return x + (0.3 * width if t >= 6.0 else 0.0), 0.0, 0.0, 1.0


def turned(t: float, width: float) -> Pose:
    """Drifting, then turned by 20 degrees at 6 s."""
    return -width / 12 + width / 120 * t, 0.0, 20.0 if t >= 6.0 else 0.0, 1.0


@pytest.mark.parametrize("every_s", [0.0, 1.0, 1.3])
@pytest.mark.parametrize("how", ["knocked", "turned", "cut"])
@pytest.mark.parametrize("clip", [PETS, ABODA], ids=["pets", "aboda"])
def test_an_abrupt_change_on_a_drifting_camera_is_reported(
    clips: dict[str, list[Image]], clip: Path, how: str, every_s: float
) -> None:
    cfg = HealthConfig(every_s=every_s)
    frames = clips[clip.name][:60]
    if how == "cut":  # the feed now shows another camera's scene
        seen = camera(frames, drift)
        other = clips[(ABODA if clip == PETS else PETS).name]
        size = (seen[0].shape[1], seen[0].shape[0])
        seen[30:] = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in other[30:60]]
    else:
        seen = camera(frames, knocked if how == "knocked" else turned)
    changes = feed(HealthMonitor(cfg), seen)
    new = [(t, c) for t, c in changes if c.active]
    assert [c.tamper for _, c in new] == ["scene_change"], changes
    bound = cfg.hold_s + (every_s if every_s in (0.0, 1.0) else 2 * every_s)  # docs/detectors.md, health
    assert 6.0 + cfg.hold_s - 1e-9 <= new[0][0] <= 6.0 + bound + 1e-9, changes
    # The new view is learned: it ends at the next check, and nothing else follows.
    assert [(c.tamper, c.active) for _, c in changes] == [("scene_change", True), ("scene_change", False)]


@pytest.mark.parametrize(("scene_shift", "reported"), [(None, True), (0.2, False)])
def test_scene_shift_sets_the_knock_that_counts(
    clips: dict[str, list[Image]], scene_shift: float | None, reported: bool
) -> None:
    """A sway of 15 % of the width is a knock at the default 0.1 and followed at 0.2 (health.scene_shift)."""
    health = {} if scene_shift is None else {"scene_shift": scene_shift}
    cfg = parse_config({**BASE, "health": health}, "cam.yaml")
    frames = camera(clips[PETS.name][:60], lambda t, w: (-0.1 * w + (0.15 * w if t >= 6.0 else 0.0), 0.0, 0.0, 1.0))
    changes = feed(HealthMonitor(cfg.health), frames)
    assert [c.tamper for _, c in changes if c.active] == (["scene_change"] if reported else [])


def test_scene_shift_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"cam\.yaml: .*health\.scene_shift: must be a number in \[0\.01, 1\]"):
        parse_config({**BASE, "health": {"scene_shift": 0}}, "cam.yaml")
