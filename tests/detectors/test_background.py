"""The static-object model on a real frame: an object put down is found, its age grows with time, and updating
every every_s (the samples between get the last blobs) finds it at the same place and age within every_s."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detectors.background import StaticBlob, StaticForeground
from detectors.model import Image
from detectors.motion import Greys
from tests.detectors.conftest import PETS, need

FPS = 5.0
PUT_DOWN_S = 2.0
BOX = (200, 220, 250, 260)  # x1, y1, x2, y2 on the 480x360 frame: a dark, textured object


@pytest.fixture(scope="module")
def scene() -> tuple[Image, Image]:
    need(PETS)
    cap = cv2.VideoCapture(str(PETS))
    ok, empty = cap.read()
    cap.release()
    assert ok
    with_object = empty.copy()
    x1, y1, x2, y2 = BOX
    with_object[y1:y2, x1:x2] = 30
    cv2.rectangle(with_object, (x1 + 5, y1 + 5), (x2 - 5, y2 - 5), (200, 200, 200), 2)
    return empty, with_object


def run(model: StaticForeground, scene: tuple[Image, Image], seconds: float) -> list[tuple[float, list[StaticBlob]]]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(int(seconds * FPS)):
        t = k / FPS
        base = scene[1] if t >= PUT_DOWN_S else scene[0]
        noise: Image = np.asarray(rng.integers(0, 3, base.shape), dtype=np.uint8)  # a sensor is never still
        noisy: Image = cv2.add(base, noise)
        out.append((t, model.update(Greys(noisy), t)))
    return out


def the_object(blobs: list[StaticBlob]) -> StaticBlob | None:
    x1, y1, x2, y2 = BOX
    for b in blobs:
        cx, cy = (b.box[0] + b.box[2]) / 2, (b.box[1] + b.box[3]) / 2
        if x1 <= cx <= x2 and y1 <= cy <= y2:
            return b
    return None


@pytest.mark.parametrize("every_s", [0.0, 0.4, 1.0])
def test_a_put_down_object_is_found_and_ages(scene: tuple[Image, Image], every_s: float) -> None:
    steps = run(StaticForeground(every_s=every_s), scene, 8.0)
    assert all(the_object(blobs) is None for t, blobs in steps if t < PUT_DOWN_S)
    last_t, last = steps[-1][0], the_object(steps[-1][1])
    assert last is not None, steps[-1]
    # It stopped at PUT_DOWN_S; the short-term model takes ~1-2 s to take it in. An update credits the whole
    # interval since the previous one, so with a cadence the age is off by up to every_s either way.
    expected = last_t - PUT_DOWN_S
    assert expected - 2.5 - every_s <= last.age_s <= expected + every_s + 1e-6, last.age_s


def test_between_updates_the_last_blobs_are_returned(scene: tuple[Image, Image]) -> None:
    steps = run(StaticForeground(every_s=1.0), scene, 6.0)
    updates = [t for (t, blobs), (_, before) in zip(steps[1:], steps, strict=False) if blobs is not before]
    assert updates == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0]), "on a grid of every_s"
