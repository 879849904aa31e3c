"""Tracker: stable ids through motion, crossing paths and short misses; ends after max_missed_s."""

from __future__ import annotations

from detectors.config import TrackerConfig
from detectors.model import Detection
from detectors.tracker import Tracker, iou


def box(x: float, y: float, w: float = 20, h: float = 50, label: str = "person") -> Detection:
    return Detection(x, y, x + w, y + h, 0.9, label)


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == 1 / 3


def test_a_walker_keeps_one_id_and_ends_after_missing() -> None:
    tr = Tracker(TrackerConfig(min_hits=2, max_missed_s=1.0))
    ids = set()
    for k in range(20):
        confirmed, ended = tr.update([box(10 + 6 * k, 100)], k * 0.2)
        assert not ended
        ids |= {t.id for t in confirmed}
    assert ids == {1}
    # Gone: still alive within max_missed_s, ended after.
    assert tr.update([], 4.0)[1] == []
    ended = tr.update([], 5.2)[1]
    assert [t.id for t in ended] == [1]


def test_velocity_carries_a_track_through_a_short_occlusion() -> None:
    tr = Tracker(TrackerConfig(min_hits=2, max_missed_s=1.0, iou_threshold=0.3))
    for k in range(10):
        tr.update([box(10 + 8 * k, 100)], k * 0.2)
    tr.update([], 2.0)  # occluded for two samples
    tr.update([], 2.2)
    confirmed, _ = tr.update([box(10 + 8 * 12, 100)], 2.4)
    assert [t.id for t in confirmed] == [1]


def test_two_people_passing_each_other_keep_their_ids() -> None:
    tr = Tracker(TrackerConfig(min_hits=1))
    final: dict[int, float] = {}
    for k in range(15):
        a, b = box(10 + 10 * k, 100), box(150 - 10 * k, 170)  # different rows: paths cross in x, not in boxes
        confirmed, _ = tr.update([a, b], k * 0.2)
        final = {t.id: t.box[0] for t in confirmed}
    assert final[1] > final[2], "id 1 walked right, id 2 walked left"


def test_labels_do_not_mix() -> None:
    tr = Tracker(TrackerConfig(min_hits=1))
    tr.update([box(10, 10, label="person")], 0.0)
    confirmed, _ = tr.update([box(10, 10, label="car")], 0.2)
    assert {t.label for t in confirmed} == {"car"} and {t.id for t in confirmed} == {2}


def test_outside_the_inferred_crop_a_still_track_is_not_lost() -> None:
    tr = Tracker(TrackerConfig(min_hits=1, max_missed_s=0.5))
    tr.update([box(300, 300, 60, 40, "car")], 0.0)
    for k in range(1, 30):  # only a crop on the left was inferred, for six seconds
        _, ended = tr.update([], k * 0.2, region=(0, 0, 100, 100))
        assert not ended
    _, ended = tr.update([], 6.2)  # a full frame: now it is missing
    _, ended = tr.update([], 7.0)
    assert [t.label for t in ended] == ["car"]
