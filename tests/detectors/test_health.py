"""Camera health on real frames that we blank, blur, shift and freeze; no signal from a dead stream."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detectors.config import HealthConfig
from detectors.health import HealthChange, HealthMonitor
from detectors.model import Image
from tests.detectors.conftest import PETS, need

FPS = 5.0


@pytest.fixture(scope="module")
def frames() -> list[Image]:
    """Twelve seconds of the walkway at 5 fps: a live scene with people moving."""
    need(PETS)
    cap = cv2.VideoCapture(str(PETS))
    out: list[Image] = []
    i = 0
    while len(out) < 60:
        ok, f = cap.read()
        assert ok
        if i % 2 == 0:
            out.append(f)
        i += 1
    cap.release()
    return out


def feed(mon: HealthMonitor, frames: list[Image], t0: float = 0.0) -> list[tuple[float, HealthChange]]:
    out = []
    for k, f in enumerate(frames):
        t = t0 + k / FPS
        out += [(t, c) for c in mon.frame(f, t)]
    return out


def started(changes: list[tuple[float, HealthChange]]) -> set[str]:
    return {c.tamper for _, c in changes if c.active}


def test_a_healthy_scene_raises_nothing(frames: list[Image]) -> None:
    assert feed(HealthMonitor(HealthConfig()), frames) == []


@pytest.mark.parametrize(
    ("name", "spoil"),
    [
        ("blackout", lambda f: np.zeros_like(f)),
        ("blackout", lambda f: np.full_like(f, 128)),  # a hand or tape over the lens: flat grey
        ("blur", lambda f: cv2.GaussianBlur(f, (0, 0), 6)),
        ("scene_change", lambda f: np.roll(f, (90, 140), axis=(0, 1))),  # camera knocked to a new view
        ("scene_change", lambda f: cv2.flip(f, 1)),
    ],
)
@pytest.mark.parametrize("every_s", [0.0, 1.0, 1.3])
def test_tamper_is_reported_once_and_clears(frames: list[Image], name: str, spoil: object, every_s: float) -> None:
    mon = HealthMonitor(HealthConfig(hold_s=1.0, every_s=every_s))
    assert feed(mon, frames[:30]) == []
    bad = [spoil(f) for f in frames[30:45]]  # type: ignore[operator]
    changes = feed(mon, bad, 30 / FPS)
    assert started(changes) == {name}, changes
    assert sum(c.active for _, c in changes) == 1, "reported once, not per frame"
    t_new = next(t for t, c in changes if c.active)
    assert t_new >= 30 / FPS + 1.0 - 1e-9, "held for hold_s first"
    assert t_new <= 30 / FPS + 1.0 + 2 * every_s + 1 / FPS + 1e-9, "checked every every_s"
    if name != "scene_change":  # a moved camera becomes the new reference; the others clear when repaired
        after = feed(mon, frames[45:], 45 / FPS)
        assert [(c.tamper, c.active) for _, c in after] == [(name, False)]


@pytest.mark.parametrize("every_s", [0.0, 1.0, 1.3])
def test_frozen_frame(frames: list[Image], every_s: float) -> None:
    mon = HealthMonitor(HealthConfig(frozen_s=3.0, every_s=every_s))
    feed(mon, frames[:20])
    changes = feed(mon, [frames[20]] * 25, 20 / FPS)
    assert started(changes) == {"frozen"}
    t_new = next(t for t, c in changes if c.active)
    assert 20 / FPS + 3.0 - 1e-9 <= t_new <= 20 / FPS + 3.0 + 2 * every_s + 1 / FPS + 1e-9


def test_no_signal_after_the_configured_gap(frames: list[Image]) -> None:
    mon = HealthMonitor(HealthConfig(no_signal_s=5.0))
    feed(mon, frames[:5])
    last = 4 / FPS
    assert mon.signal_lost(last + 2.0) == []
    lost = mon.signal_lost(last + 5.5)
    assert [(c.tamper, c.active) for c in lost] == [("no_signal", True)]
    back = mon.frame(frames[5], last + 8.0)
    assert [(c.tamper, c.active) for c in back] == [("no_signal", False)]
