"""Per-camera analytics on tracks: track lifecycle, zones (intrusion, loitering, crowd), line crossing,
abandoned objects and stationary vehicles. Pure: frames and clocks come in as arguments, findings go out.

Crowds are estimates (a window median of the per-sample count, with hysteresis and a hold) and line crossings have
hysteresis (a band about the line and a minimum travel): flicker in counts and boxes must not start, end or count
anything (docs/detectors.md, Crowds and tripwires).

An object is in a zone by the bottom centre of its box (its feet or wheels), as Frigate does.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from shapely import prepared
from shapely.geometry import Point, Polygon

from detectors.background import StaticBlob
from detectors.config import VEHICLES, CameraConfig, Line, Zone
from detectors.errors import ConfigError
from detectors.tracker import Box, Track, covered, iou
from schemas.events import Analytic, Phase

PARKED_MEMORY_S = 600.0  # a stationary vehicle whose track was lost and found again is not a new event
ZONE_EXIT_GRACE_S = 1.0  # feet on a zone's border flicker in and out: leaving counts after this long outside
# Line hysteresis when a line sets no band_px / min_travel_px: both scale with the track's box height, because a
# box's jitter does (a box that spans two people at a line jittered 9 px on ~100-px people in the scene).
LINE_BAND_OF_HEIGHT = 0.1  # the band: within this fraction of the box height from the line nothing has crossed
LINE_BAND_MIN_PX = 3.0  # ...and never less than this (small, far objects)
LINE_TRAVEL_OF_HEIGHT = 0.3  # a crossing needs this much travel across the line (from the furthest point before)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing worth an event, in frame pixels; events.py turns it into the contract's VideoDetection."""

    analytic: Analytic
    phase: Phase
    label: str
    confidence: float
    box: Box | None
    track_id: int | None = None
    zone_id: str | None = None
    line_id: str | None = None
    direction: str | None = None
    count: int | None = None
    dwell_s: float | None = None
    count_spread: float | None = None  # crowd: the standard deviation of the per-sample counts behind `count`


@dataclass
class _ZoneStay:
    since: float
    loiter_sent: bool = False
    outside_since: float | None = None


@dataclass
class _LeftObject:
    id: int
    box: Box
    label: str
    confidence: float
    first_t: float
    last_seen: float
    attended_t: float  # last time a person was near it
    fired: bool = False


@dataclass
class CrowdEstimate:
    """How many are in a zone, from per-sample counts that flicker (a person the detector misses for a sample, a
    box that spans two people): the median of the counts over the last `window_s` of event time, so a dip or a
    spike shorter than half the window does not move it, and their standard deviation as its spread. Samples come
    at a steady rate (the sampler's), so each weighs the same. `window_s` 0: the current count alone."""

    window_s: float
    _counts: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, t: float, n: int) -> tuple[float, float]:
        """Count `n` at time `t`; returns (estimate, spread)."""
        self._counts.append((t, n))
        while self._counts[0][0] < t - self.window_s:
            self._counts.popleft()
        counts = [c for _, c in self._counts]
        return float(statistics.median(counts)), statistics.pstdev(counts)


@dataclass
class _CrowdState:
    estimate: CrowdEstimate
    label: str
    active: bool = False
    count: int = 0  # the estimate last reported, rounded
    last_t: float = 0.0
    below_since: float | None = None  # the estimate has been under the release bound since then
    now: tuple[int, float] = (0, 0.0)  # the latest estimate, rounded, and its spread


@dataclass
class _LineState:
    """One track against one line: its side (+1: right of a->b, -1: left), the furthest signed distance it reached
    on that side, its previous point and signed distance, and whether its path last cut the line on the segment."""

    side: int
    reach: float
    prev: tuple[float, float]
    prev_s: float
    on_segment: bool = False


@dataclass
class _Parked:
    box: Box
    until: float
    track_id: int


def _side(line: Line, p: tuple[float, float]) -> float:
    (ax, ay), (bx, by) = line.a, line.b
    length = ((bx - ax) ** 2 + (by - ay) ** 2) ** 0.5 or 1.0
    return ((bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax)) / length  # signed distance; > 0: right of a->b


def _cut_on_segment(line: Line, p: tuple[float, float], ps: float, q: tuple[float, float], qs: float) -> bool:
    """The path p->q (signed distances ps, qs of opposite signs) cuts the line: is the cut within the segment a-b
    and not on its infinite extension?"""
    f = ps / (ps - qs)
    x, y = p[0] + f * (q[0] - p[0]), p[1] + f * (q[1] - p[1])
    (ax, ay), (bx, by) = line.a, line.b
    dx, dy = bx - ax, by - ay
    u = ((x - ax) * dx + (y - ay) * dy) / ((dx * dx + dy * dy) or 1.0)
    return 0.0 <= u <= 1.0


def _hysteresis(line: Line, box: Box) -> tuple[float, float]:
    """(band, min_travel) in pixels for a track with this box: the line's own, or scaled by the box height."""
    h = box[3] - box[1]
    band = line.band_px if line.band_px is not None else max(LINE_BAND_MIN_PX, LINE_BAND_OF_HEIGHT * h)
    travel = line.min_travel_px if line.min_travel_px is not None else LINE_TRAVEL_OF_HEIGHT * h
    return band, travel


@dataclass
class Analytics:
    cfg: CameraConfig
    _zones: list[tuple[Zone, prepared.PreparedGeometry]] = field(init=False)
    _stays: dict[tuple[int, str], _ZoneStay] = field(default_factory=dict)
    _intruded: set[tuple[int, str]] = field(default_factory=set)  # one intrusion per track and zone
    _line_states: dict[tuple[int, str], _LineState] = field(default_factory=dict)
    _crowds: dict[str, _CrowdState] = field(default_factory=dict)
    _left: dict[int, _LeftObject] = field(default_factory=dict)
    _parked: dict[int, _Parked] = field(default_factory=dict)  # track id -> its stationary state
    _parked_memory: list[_Parked] = field(default_factory=list)
    _next_object_id: int = 1_000_000  # left objects found by the background model get ids apart from tracks
    _frame_area: float = 0.0

    def __post_init__(self) -> None:
        self._zones = []
        for z in self.cfg.zones:
            poly = Polygon(z.polygon)
            if not poly.is_valid or poly.area <= 0:
                raise ConfigError(f"camera {self.cfg.camera_id}: zone {z.id!r} is not a simple polygon (edges cross?)")
            self._zones.append((z, prepared.prep(poly)))

    def step(
        self, t: float, wall: datetime, tracks: list[Track], ended: list[Track], blobs: list[StaticBlob] | None
    ) -> list[Finding]:
        out: list[Finding] = []
        for tr in tracks:
            self._stationary(tr, t, out)
            self._lifecycle(tr, t, out)
        for tr in ended:
            self._end(tr, t, out)
        self._zone_rules(tracks, t, wall, out)
        self._lines(tracks, out)
        self._abandoned(tracks, blobs, t, out)
        return out

    def close(self, t: float) -> list[Finding]:
        """End of stream: end what is open so consumers do not wait for updates that never come."""
        out: list[Finding] = []
        for obj in self._left.values():
            if obj.fired:
                out.append(Finding(Analytic.ABANDONED_OBJECT, Phase.END, obj.label, obj.confidence, obj.box, obj.id))
        for zid, c in self._crowds.items():
            if c.active:
                count, spread = c.now
                out.append(
                    Finding(
                        Analytic.CROWD, Phase.END, c.label, 1.0, None, zone_id=zid, count=count, count_spread=spread
                    )
                )
        self._left.clear()
        self._crowds.clear()
        return out

    # --- track lifecycle -------------------------------------------------------------------------

    @staticmethod
    def _kind(label: str) -> Analytic | None:
        return Analytic.PERSON if label == "person" else Analytic.VEHICLE if label in VEHICLES else None

    def _lifecycle(self, tr: Track, t: float, out: list[Finding]) -> None:
        kind = self._kind(tr.label)
        if kind is None:
            return
        if tr.id in self._parked and not tr.announced:
            return  # a parked vehicle found again after its track was lost: it says nothing until it moves
        if not tr.announced:
            tr.announced, tr.last_update_t = True, t
            out.append(Finding(kind, Phase.NEW, tr.label, tr.score, tr.box, tr.id))
        elif t - tr.last_update_t >= self.cfg.tracker.update_every_s and tr.id not in self._parked:
            tr.last_update_t = t  # a parked vehicle sends no updates: that is what floods other systems
            out.append(Finding(kind, Phase.UPDATE, tr.label, tr.score, tr.box, tr.id))

    def _end(self, tr: Track, t: float, out: list[Finding]) -> None:
        kind = self._kind(tr.label)
        if kind is not None and tr.announced:
            out.append(Finding(kind, Phase.END, tr.label, tr.score, tr.box, tr.id, dwell_s=t - tr.first_t))
        parked = self._parked.pop(tr.id, None)
        if parked is not None:  # lost while parked (occlusion, detector flicker): remember the spot
            self._parked_memory.append(_Parked(parked.box, t + PARKED_MEMORY_S, parked.track_id))
        for key in [k for k in self._stays if k[0] == tr.id]:
            stay = self._stays.pop(key)
            if stay.loiter_sent:
                out.append(
                    Finding(
                        Analytic.LOITERING, Phase.END, tr.label, tr.score, tr.box, tr.id, key[1], dwell_s=t - stay.since
                    )
                )
        for key in [k for k in self._line_states if k[0] == tr.id]:
            del self._line_states[key]
        self._intruded = {k for k in self._intruded if k[0] != tr.id}

    def _stationary(self, tr: Track, t: float, out: list[Finding]) -> None:
        sc = self.cfg.stationary
        p = tr.point
        moved = ((p[0] - tr.anchor[0]) ** 2 + (p[1] - tr.anchor[1]) ** 2) ** 0.5 > sc.move_px
        if moved:
            tr.anchor, tr.anchor_t = p, t
        if not sc.enabled or tr.label not in sc.classes:
            return
        if tr.id in self._parked:
            if moved:
                del self._parked[tr.id]
                out.append(Finding(Analytic.STATIONARY_VEHICLE, Phase.END, tr.label, tr.score, tr.box, tr.id))
            return
        self._parked_memory = [m for m in self._parked_memory if m.until > t]
        for m in self._parked_memory:
            if iou(m.box, tr.box) > 0.5:  # the same parked car, found again: no second event
                self._parked_memory.remove(m)
                self._parked[tr.id] = _Parked(tr.box, 0.0, m.track_id)
                return
        if t - tr.anchor_t < sc.still_s:
            return
        self._parked[tr.id] = _Parked(tr.box, 0.0, tr.id)
        out.append(
            Finding(Analytic.STATIONARY_VEHICLE, Phase.NEW, tr.label, tr.score, tr.box, tr.id, dwell_s=t - tr.anchor_t)
        )

    # --- zones and lines -------------------------------------------------------------------------

    def _zone_rules(self, tracks: list[Track], t: float, wall: datetime, out: list[Finding]) -> None:
        local = wall.astimezone(self.cfg.utc_offset)
        for zone, geom in self._zones:
            inside = [tr for tr in tracks if tr.label in zone.classes and geom.contains(Point(tr.point))]
            inside_ids = {tr.id for tr in inside}
            for key in [k for k in self._stays if k[1] == zone.id and k[0] not in inside_ids]:
                stay = self._stays[key]
                stay.outside_since = t if stay.outside_since is None else stay.outside_since
                if t - stay.outside_since < ZONE_EXIT_GRACE_S:
                    continue
                del self._stays[key]  # left the zone (tracks that ended were handled in _end)
                if stay.loiter_sent:
                    out.append(
                        Finding(
                            Analytic.LOITERING, Phase.END, "person", 1.0, None, key[0], zone.id, dwell_s=t - stay.since
                        )
                    )
            armed = not zone.schedules or any(s.active(local.weekday(), local.time()) for s in zone.schedules)
            for tr in inside:
                stay = self._stays.setdefault((tr.id, zone.id), _ZoneStay(t))
                stay.outside_since = None
                if zone.intrusion and armed and (tr.id, zone.id) not in self._intruded:
                    self._intruded.add((tr.id, zone.id))
                    out.append(Finding(Analytic.INTRUSION, Phase.NEW, tr.label, tr.score, tr.box, tr.id, zone.id))
                if zone.loiter_s is not None and not stay.loiter_sent and t - stay.since >= zone.loiter_s:
                    stay.loiter_sent = True
                    out.append(
                        Finding(
                            Analytic.LOITERING,
                            Phase.NEW,
                            tr.label,
                            tr.score,
                            tr.box,
                            tr.id,
                            zone.id,
                            dwell_s=t - stay.since,
                        )
                    )
            if zone.crowd_threshold is not None:
                self._crowd(zone, len(inside), t, out)

    def _crowd(self, zone: Zone, n: int, t: float, out: list[Finding]) -> None:
        """A crowd starts when the zone's estimate reaches its threshold and ends only after the estimate has stayed
        under `crowd_release` x the threshold for `crowd_hold_s`: flicker in the raw count ends nothing."""
        threshold = zone.crowd_threshold
        assert threshold is not None
        c = self._crowds.get(zone.id)
        if c is None:
            c = self._crowds[zone.id] = _CrowdState(CrowdEstimate(zone.crowd_window_s), sorted(zone.classes)[0])
        est, spread = c.estimate.add(t, n)
        count = int(est + 0.5)  # half up: a median of an even number of counts can end in .5
        c.now = count, spread

        def finding(phase: Phase) -> Finding:
            return Finding(Analytic.CROWD, phase, c.label, 1.0, None, zone_id=zone.id, count=count, count_spread=spread)

        if not c.active:
            if est >= threshold:
                c.active, c.count, c.last_t, c.below_since = True, count, t, None
                out.append(finding(Phase.NEW))
            return
        if est < zone.crowd_release * threshold:
            c.below_since = t if c.below_since is None else c.below_since
            if t - c.below_since >= zone.crowd_hold_s:
                c.active, c.count = False, count
                out.append(finding(Phase.END))
                return
        else:
            c.below_since = None
        if count != c.count and t - c.last_t >= self.cfg.tracker.update_every_s:
            c.count, c.last_t = count, t
            out.append(finding(Phase.UPDATE))

    def _lines(self, tracks: list[Track], out: list[Finding]) -> None:
        for line in self.cfg.lines:
            for tr in tracks:
                if tr.label in line.classes:
                    direction = self._line_step(line, tr)
                    if direction is not None:
                        out.append(
                            Finding(
                                Analytic.LINE_CROSSING,
                                Phase.NEW,
                                tr.label,
                                tr.score,
                                tr.box,
                                tr.id,
                                line_id=line.id,
                                direction=direction,
                            )
                        )

    def _line_step(self, line: Line, tr: Track) -> str | None:
        """Hysteresis: a track crosses when its point, having been on one side of the line, gets beyond the band on
        the other side after travelling at least min_travel from the furthest point it reached on the first side,
        and its path last cut the line within the segment. Jitter inside the band, or smaller than min_travel,
        counts nothing; a crossing makes the new side the one to leave. A track's first point gives its side even
        inside the band (a person who steps out of a group at the line still counts once he walks on). Returns
        "in", "out" or None."""
        p = tr.point
        s = _side(line, p)
        side = 1 if s >= 0 else -1
        key = (tr.id, line.id)
        st = self._line_states.get(key)
        if st is None:
            self._line_states[key] = _LineState(side, s, p, s)
            return None
        if (st.prev_s >= 0) != (s >= 0):
            st.on_segment = _cut_on_segment(line, st.prev, st.prev_s, p, s)
        st.prev, st.prev_s = p, s
        if side == st.side:
            st.reach = s if abs(s) > abs(st.reach) else st.reach
            return None
        band, min_travel = _hysteresis(line, tr.box)
        if abs(s) < band or abs(s - st.reach) < min_travel:
            return None
        st.side, st.reach = side, s
        return ("in" if side > 0 else "out") if st.on_segment else None

    # --- abandoned objects -----------------------------------------------------------------------

    def _abandoned(self, tracks: list[Track], blobs: list[StaticBlob] | None, t: float, out: list[Finding]) -> None:
        ac = self.cfg.abandoned
        if not ac.enabled:
            return
        people = [tr for tr in tracks if tr.label == "person"]
        seen: set[int] = set()
        for tr in tracks:  # bags the detector labels and tracks
            if tr.label in ac.classes and t - tr.anchor_t >= ac.still_s:
                obj = self._left.setdefault(tr.id, _LeftObject(tr.id, tr.box, tr.label, tr.score, t, t, t))
                obj.box, obj.last_seen = tr.box, t
                seen.add(obj.id)
        for blob in blobs or []:  # unlabelled objects that appeared and stopped (the detector may miss a bag)
            if blob.age_s < ac.still_s or not self._plausible(blob.box):
                continue
            if any(covered(blob.box, p.box) > 0.3 for p in people):
                continue  # a person standing still, not an object
            left = next((o for o in self._left.values() if iou(o.box, blob.box) > 0.3), None)
            if left is None:
                left = _LeftObject(self._next_object_id, blob.box, "object", 0.5, t, t, t)
                self._next_object_id += 1
                self._left[left.id] = left
            left.box, left.last_seen = blob.box, t
            seen.add(left.id)
        for obj in list(self._left.values()):
            if obj.id not in seen and t - obj.last_seen > 2.0:
                del self._left[obj.id]
                if obj.fired:
                    out.append(
                        Finding(Analytic.ABANDONED_OBJECT, Phase.END, obj.label, obj.confidence, obj.box, obj.id)
                    )
                continue
            w = obj.box[2] - obj.box[0]
            radius = max(60.0, ac.near * w)
            cx, cy = (obj.box[0] + obj.box[2]) / 2, obj.box[3]
            if any(((p.point[0] - cx) ** 2 + (p.point[1] - cy) ** 2) ** 0.5 <= radius for p in people):
                obj.attended_t = t
            if not obj.fired and t - obj.attended_t >= ac.unattended_s:
                obj.fired = True
                out.append(
                    Finding(
                        Analytic.ABANDONED_OBJECT,
                        Phase.NEW,
                        obj.label,
                        obj.confidence,
                        obj.box,
                        obj.id,
                        dwell_s=t - obj.first_t,
                    )
                )

    def _plausible(self, box: Box) -> bool:
        return (
            True
            if self._frame_area <= 0
            else (
                self.cfg.abandoned.min_area
                <= (box[2] - box[0]) * (box[3] - box[1]) / self._frame_area
                <= self.cfg.abandoned.max_area
            )
        )

    def set_frame_size(self, width: int, height: int) -> None:
        self._frame_area = float(width * height)
