"""Analytics on synthetic tracks: lines with direction, zones by schedule, loitering, crowd, stationary vehicles
that do not flood, and abandoned objects (labelled bags and unlabelled static blobs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detectors.analytics import Analytics, Finding
from detectors.background import StaticBlob
from detectors.config import CameraConfig, parse_config
from detectors.errors import ConfigError
from detectors.model import Detection
from detectors.tracker import Tracker
from schemas.events import Analytic, Phase

MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday


def config(**extra: Any) -> CameraConfig:
    data = {"camera": {"id": "c1", "location": {"lat": 43.2, "lon": 76.9}}, "model": {"path": "m.onnx"}, **extra}
    return parse_config(data)


class Rig:
    """Tracker + analytics fed with boxes per step, as the pipeline does."""

    def __init__(self, cfg: CameraConfig, start: datetime = MONDAY_NOON) -> None:
        self.tracker = Tracker(cfg.tracker)
        self.analytics = Analytics(cfg)
        self.analytics.set_frame_size(640, 480)
        self.start = start
        self.findings: list[tuple[float, Finding]] = []

    def step(self, t: float, dets: list[Detection], blobs: list[StaticBlob] | None = None) -> list[Finding]:
        _, ended = self.tracker.update(dets, t)
        tracks = [tr for tr in self.tracker.tracks.values() if tr.confirmed]
        out = self.analytics.step(t, self.start + timedelta(seconds=t), tracks, ended, blobs)
        self.findings += [(t, f) for f in out]
        return out

    def of(self, analytic: Analytic, phase: Phase | None = None) -> list[tuple[float, Finding]]:
        return [(t, f) for t, f in self.findings if f.analytic is analytic and (phase is None or f.phase is phase)]


def person_at(x: float, y: float, label: str = "person") -> Detection:
    """A box whose bottom centre is (x, y)."""
    return Detection(x - 20, y - 100, x + 20, y, 0.9, label)


def test_line_crossing_counts_each_crossing_once_with_direction() -> None:
    rig = Rig(config(lines=[{"id": "gate", "points": [[100, 0], [100, 400]]}]))
    # a -> b points down the screen, so its right-hand side is x < 100: walking right to left is "in".
    # Walk left at 8 px a sample, dither across the line (jitter must not double count), turn, walk back.
    xs = [*range(160, 104, -8), 104, 98, 101, 97, 102, 98, *range(92, 60, -8), *range(60, 150, 8)]
    for k, x in enumerate(xs):
        rig.step(k * 0.2, [person_at(x, 200)])
    got = [f.direction for _, f in rig.of(Analytic.LINE_CROSSING)]
    assert got == ["in", "out"]
    assert len({f.track_id for _, f in rig.of(Analytic.LINE_CROSSING)}) == 1


def test_passing_beyond_the_end_of_a_line_is_not_a_crossing() -> None:
    rig = Rig(config(lines=[{"id": "gate", "points": [[100, 0], [100, 100]]}]))
    for k, x in enumerate(range(160, 40, -20)):
        rig.step(k * 0.2, [person_at(x, 300)])
    assert rig.of(Analytic.LINE_CROSSING) == []


ZONE = {"id": "yard", "polygon": [[0, 200], [300, 200], [300, 480], [0, 480]], "intrusion": True}


def test_intrusion_follows_the_schedule_in_camera_local_time() -> None:
    night = {**ZONE, "schedule": [{"days": ["mon", "tue"], "start": "22:00", "end": "06:00"}]}
    cam = {"id": "c1", "location": {"lat": 43.2, "lon": 76.9}, "utc_offset": "+05:00"}
    cfg = parse_config({"camera": cam, "model": {"path": "m.onnx"}, "zones": [night]})
    for start, want in (
        (datetime(2026, 11, 23, 7, 0, tzinfo=UTC), 0),  # Monday 12:00 local: disarmed
        (datetime(2026, 11, 23, 18, 0, tzinfo=UTC), 1),  # Monday 23:00 local: armed
        (datetime(2026, 11, 24, 23, 30, tzinfo=UTC), 1),  # Wednesday 04:30 local: Tuesday night's window
        (datetime(2026, 11, 25, 23, 30, tzinfo=UTC), 0),  # Thursday 04:30 local: no Wednesday window
    ):
        rig = Rig(cfg, start)
        for k in range(10):
            rig.step(k * 0.2, [person_at(100 + k, 300)])
        assert len(rig.of(Analytic.INTRUSION)) == want, start
        assert all(f.zone_id == "yard" for _, f in rig.of(Analytic.INTRUSION))


def test_intrusion_is_by_the_bottom_centre_and_by_class() -> None:
    rig = Rig(config(zones=[ZONE]))
    for k in range(5):  # head inside the zone, feet outside: not in the zone
        rig.step(k * 0.2, [Detection(90, 150, 110, 199, 0.9, "person")])
        rig.step(k * 0.2 + 0.1, [Detection(400, 250, 460, 300, 0.9, "car")])  # a car in the zone: not its class
    assert rig.of(Analytic.INTRUSION) == []


def test_loitering_reports_dwell_once_and_ends_when_leaving() -> None:
    rig = Rig(config(zones=[{**ZONE, "intrusion": False, "loiter_s": 10}]))
    for k in range(75):  # 15 s in the zone, moving a little
        rig.step(k * 0.2, [person_at(100 + (k % 5), 300)])
    new = rig.of(Analytic.LOITERING, Phase.NEW)
    assert len(new) == 1 and 10.0 <= new[0][0] <= 10.6 and new[0][1].dwell_s is not None
    for k in range(75, 100):
        rig.step(k * 0.2, [person_at(100 + 20 * (k - 74), 300)])  # walks out to the right
    end = rig.of(Analytic.LOITERING, Phase.END)
    assert len(end) == 1 and end[0][1].dwell_s is not None and end[0][1].dwell_s > 15


def test_crowd_starts_over_the_threshold_and_ends_with_hysteresis() -> None:
    rig = Rig(config(zones=[{**ZONE, "intrusion": False, "crowd_threshold": 5}], tracker={"max_missed_s": 0.3}))
    for k, n in enumerate([2, 4, 5, 6, 5, 4, 5, 3, 3]):
        for j in range(10):  # each level held for two seconds
            rig.step(k * 2 + j * 0.2, [person_at(25 + 50 * i, 300) for i in range(n)])
    phases = [(f.phase, f.count) for _, f in rig.of(Analytic.CROWD)]
    assert phases[0] == (Phase.NEW, 5)
    assert phases[-1] == (Phase.END, 3)
    assert sum(p is Phase.NEW for p, _ in phases) == 1, "4 is inside the hysteresis band: no second crowd"


def test_a_parked_car_is_one_event_not_thousands() -> None:
    rig = Rig(config(stationary={"still_s": 30}, tracker={"update_every_s": 5, "max_missed_s": 1.0}))
    car = Detection(300, 300, 380, 350, 0.8, "car")
    t = 0.0
    for _ in range(3000):  # ten minutes at 5 fps
        rig.step(t, [car])
        t += 0.2
    for _ in range(10):  # the detector loses it for two seconds (track ends) and finds it again
        rig.step(t, [])
        t += 0.2
    for _ in range(1000):
        rig.step(t, [car])
        t += 0.2
    assert len(rig.of(Analytic.STATIONARY_VEHICLE, Phase.NEW)) == 1
    updates = rig.of(Analytic.VEHICLE, Phase.UPDATE)
    assert all(ts < 31 for ts, _ in updates), "no vehicle updates while parked"
    assert len(rig.findings) < 20
    for k in range(20):  # it drives away
        rig.step(t, [Detection(300 + 10 * k, 300, 380 + 10 * k, 350, 0.8, "car")])
        t += 0.2
    assert len(rig.of(Analytic.STATIONARY_VEHICLE, Phase.END)) == 1


def test_abandoned_blob_fires_only_after_nobody_is_near() -> None:
    rig = Rig(config(abandoned={"still_s": 3, "unattended_s": 5}))
    bag = StaticBlob((300, 400, 330, 430), age_s=0.0)
    t = 0.0
    for _ in range(50):  # 10 s: the owner stands right beside the bag
        rig.step(t, [person_at(350, 430)], [StaticBlob(bag.box, age_s=t)])
        t += 0.2
    assert rig.of(Analytic.ABANDONED_OBJECT) == []
    for k in range(40):  # 8 s: the owner walks away to the left
        rig.step(t, [person_at(330 - 15 * k, 430)] if k < 20 else [], [StaticBlob(bag.box, age_s=t)])
        t += 0.2
    fired = rig.of(Analytic.ABANDONED_OBJECT, Phase.NEW)
    assert len(fired) == 1
    # The owner's feet were last within max(60, 2.5 * 30) = 75 px of the bag at k = 5 (t = 11 s), a little later
    # for the tracker that smooths the walk: due 5 s after that.
    assert 16.0 <= fired[0][0] <= 16.8
    for _ in range(15):  # the bag is picked up: the blob disappears
        rig.step(t, [], [])
        t += 0.2
    assert len(rig.of(Analytic.ABANDONED_OBJECT, Phase.END)) == 1


def test_a_person_standing_still_is_not_an_abandoned_object() -> None:
    rig = Rig(config(abandoned={"still_s": 1, "unattended_s": 1}))
    for k in range(60):
        rig.step(k * 0.2, [person_at(300, 430)], [StaticBlob((285, 340, 315, 428), age_s=k * 0.2)])
    assert rig.of(Analytic.ABANDONED_OBJECT) == []


def test_a_still_labelled_bag_with_nobody_near_is_abandoned() -> None:
    rig = Rig(config(abandoned={"still_s": 2, "unattended_s": 2, "static_foreground": False}))
    for k in range(30):
        rig.step(k * 0.2, [Detection(300, 400, 330, 430, 0.6, "suitcase")])
    fired = rig.of(Analytic.ABANDONED_OBJECT, Phase.NEW)
    assert len(fired) == 1 and fired[0][1].label == "suitcase" and fired[0][1].track_id == 1


def test_walking_along_a_zone_border_is_one_intrusion_and_one_stay() -> None:
    rig = Rig(config(zones=[{**ZONE, "loiter_s": 6}]))
    for k in range(60):  # feet 3 px either side of the top edge (y = 200), alternating every two samples
        rig.step(k * 0.2, [person_at(50 + k, 203 if (k // 2) % 2 == 0 else 197)])
    assert len(rig.of(Analytic.INTRUSION)) == 1
    assert len(rig.of(Analytic.LOITERING, Phase.NEW)) == 1, "the stay is not reset by flicker on the border"


def test_a_self_crossing_zone_is_a_config_error() -> None:
    bow = {"id": "bow", "polygon": [[0, 0], [100, 100], [100, 0], [0, 100]]}
    with pytest.raises(ConfigError, match="'bow' is not a simple polygon"):
        Analytics(config(zones=[bow]))
