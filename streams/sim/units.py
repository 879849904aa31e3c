"""Police cars, ambulances, fire engines and gas crews: patrols, dispatches and their GPS fixes.

A unit's position is a pure function of time (its patrol loop or its base, unless a task covers that
time), so dispatching only needs the tasks planned so far, and GPS fixes are made per hour afterwards.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from itertools import pairwise

from rules.geo import distance_m, metres_per_degree
from schemas import GeoPoint, UnitGps, UnitGpsEvent, UnitStatus, UnitType
from streams.sim.city import City
from streams.sim.context import Request, SimContext, to_dt
from streams.sim.roads import Path2, drive_path

# Emergency driving: up to 25% over the limits with lights on, never over 100 km/h on a leg's average.
EMERGENCY_PACE = 1.25
MAX_LEG_KMH = 100.0

# On-scene time in seconds, per unit type (GUESS from DOMAIN.md: police short, fire/gas longer).
SCENE_S: dict[UnitType, tuple[float, float]] = {
    UnitType.POLICE: (480, 1500),
    UnitType.AMBULANCE: (720, 1800),
    UnitType.FIRE: (900, 2400),
    UnitType.GAS: (1200, 2700),
    UnitType.RESCUE: (900, 2400),
}
_CALLSIGN = {
    UnitType.POLICE: "Berkut",
    UnitType.AMBULANCE: "Medic",
    UnitType.FIRE: "Sungur",
    UnitType.GAS: "Gaz",
}


@dataclass
class Task:
    ref: str
    origin: tuple[float, float]
    scene: tuple[float, float]
    back: tuple[float, float]
    t_dispatch: float
    t_enroute: float
    t_onscene: float
    t_clear: float
    t_back: float
    out: Path2 | None = None  # the drive to the scene and back, along the roads
    home: Path2 | None = None


@dataclass
class Unit:
    unit_id: str
    unit_type: UnitType
    callsign: str
    base: tuple[float, float]
    loop: list[tuple[float, float]]  # patrol corners (lat, lon), empty for units waiting at base
    loop_len: list[float]  # cumulative metres at each corner
    speed_mps: float
    phase_m: float
    next_fix: float
    tasks: list[Task] = field(default_factory=list)
    rejoin: list[tuple[float, float]] = field(default_factory=list)  # (time, phase_m from then on)

    def loop_s(self, t: float) -> float:
        """Metres along the patrol loop at `t`; the phase changes where the unit rejoins its loop after a task."""
        phase = next((p for t0, p in reversed(self.rejoin) if t0 <= t), self.phase_m)
        return (phase + self.speed_mps * t) % self.loop_len[-1]

    def patrol(self, t: float) -> tuple[float, float, float | None, float]:
        """(lat, lon, heading, speed km/h) when not on a task."""
        if not self.loop:
            return self.base[0], self.base[1], None, 0.0
        s = self.loop_s(t)
        for i in range(1, len(self.loop)):
            if s <= self.loop_len[i]:
                a, b = self.loop[i - 1], self.loop[i]
                f = (s - self.loop_len[i - 1]) / max(self.loop_len[i] - self.loop_len[i - 1], 1e-9)
                return (
                    a[0] + (b[0] - a[0]) * f,
                    a[1] + (b[1] - a[1]) * f,
                    _heading(a, b),
                    self.speed_mps * 3.6,
                )
        return self.loop[0][0], self.loop[0][1], None, 0.0

    def free(self, t: float) -> bool:
        return not self.tasks or self.tasks[-1].t_back <= t

    def state(self, t: float) -> tuple[UnitStatus, float, float, float | None, float, str | None]:
        for task in reversed(self.tasks):
            if task.t_dispatch <= t < task.t_back:
                return _task_state(task, t)
            if task.t_back <= t:
                break
        lat, lon, heading, speed = self.patrol(t)
        return UnitStatus.AVAILABLE, lat, lon, heading, speed, None


def _heading(a: tuple[float, float], b: tuple[float, float]) -> float:
    m_north, m_east = metres_per_degree((a[0] + b[0]) / 2)
    north = (b[0] - a[0]) * m_north
    east = (b[1] - a[1]) * m_east
    return round(math.degrees(math.atan2(east, north)) % 360.0, 1) % 360.0


def _lerp(a: tuple[float, float], b: tuple[float, float], f: float) -> tuple[float, float]:
    return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f


def _on_path(path: Path2, t0: float, t1: float, t: float) -> tuple[float, float, float | None, float]:
    """Position, heading and speed (km/h) at `t` driving `path` evenly from t0 to t1."""
    f = min(max((t - t0) / max(t1 - t0, 1e-9), 0.0), 1.0)
    lat, lon, i = path.at(f * path.length_m)
    a, b = path.points[i], path.points[i + 1] if i + 1 < len(path.points) else path.points[i]
    heading = _heading(a, b) if a != b else None
    return lat, lon, heading, 3.6 * path.length_m / max(t1 - t0, 1e-9)


def _task_state(task: Task, t: float) -> tuple[UnitStatus, float, float, float | None, float, str | None]:
    if t < task.t_enroute:
        return UnitStatus.DISPATCHED, task.origin[0], task.origin[1], None, 0.0, task.ref
    if t < task.t_onscene:
        if task.out is not None:
            lat, lon, heading, speed = _on_path(task.out, task.t_enroute, task.t_onscene, t)
            return UnitStatus.EN_ROUTE, lat, lon, heading, speed, task.ref
        f = (t - task.t_enroute) / (task.t_onscene - task.t_enroute)
        lat, lon = _lerp(task.origin, task.scene, f)
        dist = distance_m(task.origin[0], task.origin[1], task.scene[0], task.scene[1])
        speed = min(3.6 * dist / (task.t_onscene - task.t_enroute), 120.0)
        return UnitStatus.EN_ROUTE, lat, lon, _heading(task.origin, task.scene), speed, task.ref
    if t < task.t_clear:
        return UnitStatus.ON_SCENE, task.scene[0], task.scene[1], None, 0.0, task.ref
    if task.home is not None:
        lat, lon, heading, speed = _on_path(task.home, task.t_clear, task.t_back, t)
        return UnitStatus.AVAILABLE, lat, lon, heading, speed, None
    f = (t - task.t_clear) / (task.t_back - task.t_clear)
    lat, lon = _lerp(task.scene, task.back, f)
    return UnitStatus.AVAILABLE, lat, lon, _heading(task.scene, task.back), 30.0, None


class Fleet:
    def __init__(self, city: City, rng: random.Random, start: float) -> None:
        self.city = city
        self.rng = rng
        self.units: list[Unit] = []
        for base in city.bases:
            for i in range(base.units):
                loop = _patrol_loop(city, base.lat, base.lon, rng) if base.kind == UnitType.POLICE else []
                cum = [0.0]
                for a, b in pairwise(loop):
                    cum.append(cum[-1] + city.distance_m(a[0], a[1], b[0], b[1]))
                self.units.append(
                    Unit(
                        unit_id=f"{base.base_id}-{i + 1}",
                        unit_type=base.kind,
                        callsign=f"{_CALLSIGN.get(base.kind, 'Unit')}-{len(self.units) + 1:02d}",
                        base=(base.lat, base.lon),
                        loop=loop,
                        loop_len=cum,
                        speed_mps=rng.uniform(5.5, 8.3),  # 20-30 km/h patrolling
                        phase_m=rng.uniform(0, cum[-1]),
                        next_fix=start + rng.uniform(0, 30),
                    )
                )

    def dispatch(self, req: Request) -> Task | None:
        """Send the nearest free unit of the type; None when every one is busy. A request with a forced
        arrival time (an SOS press) takes a busy unit off its task when no unit is free."""
        best: tuple[float, Unit, tuple[float, float]] | None = None
        for u in self.units:
            if u.unit_type != req.unit_type:
                continue
            free = u.free(req.t)
            if not free and req.arrive_s is None:
                continue
            _, lat, lon, _, _, _ = u.state(req.t)
            d = self.city.distance_m(lat, lon, req.lat, req.lon) + (0.0 if free else 1e7)
            if best is None or d < best[0]:
                best = (d, u, (lat, lon))
        if best is None:
            return None
        _, unit, origin = best
        r = self.rng
        scene = (req.lat, req.lon)
        out, limit_s = drive_path(self.city.graph, origin, scene)
        fastest = out.length_m / (MAX_LEG_KMH / 3.6)
        if req.arrive_s is not None:  # a forced arrival (SOS): leaves at once, as fast as it may
            t_enroute = req.t + r.uniform(10, 30)
            t_onscene = t_enroute + max(req.arrive_s - (t_enroute - req.t), fastest, 30)
        else:
            t_enroute = req.t + r.uniform(20, 90)
            t_onscene = t_enroute + max(limit_s / EMERGENCY_PACE, fastest, 30)
        lo, hi = req.scene_s or SCENE_S[unit.unit_type]
        t_clear = t_onscene + r.uniform(lo, hi)
        # Back to the patrol loop, where it would be by then, and the loop goes on from that point.
        est = t_clear + max(self.city.distance_m(*scene, *origin) / 8.0, 120.0)
        back = unit.patrol(est)[:2]
        home, home_s = drive_path(self.city.graph, scene, back)
        back_t = t_clear + max(home_s, 60.0)
        if unit.loop:
            unit.rejoin.append((back_t, (unit.loop_s(est) - unit.speed_mps * back_t) % unit.loop_len[-1]))
        task = Task(
            req.ref,
            origin,
            scene,
            (back[0], back[1]),
            req.t,
            t_enroute,
            t_onscene,
            t_clear,
            back_t,
            out,
            home,
        )
        unit.tasks.append(task)
        return task

    def gps(self, ctx: SimContext, h0: float, h1: float) -> None:
        """Fixes every 15-30 s per unit plus one at each status change, for [h0, h1)."""
        r = self.rng
        for u in self.units:
            u.tasks = [t for t in u.tasks if t.t_back >= h0 - 3600]
            old = [x for x in u.rejoin if x[0] < h0 - 3600]
            u.rejoin = old[-1:] + [x for x in u.rejoin if x[0] >= h0 - 3600]
            times: list[float] = []
            t = u.next_fix
            while t < h1:
                times.append(t)
                t += r.uniform(15, 30)
            u.next_fix = t
            for task in u.tasks:
                times += [x for x in (task.t_dispatch, task.t_enroute, task.t_onscene, task.t_clear) if h0 <= x < h1]
            for ts in sorted(times):
                status, lat, lon, heading, speed, ref = u.state(ts)
                lat, lon = ctx.city.offset(lat, lon, r.gauss(0, 4), r.gauss(0, 4))  # GNSS noise
                ev = UnitGpsEvent(
                    id=ctx.new_id("gps"),
                    source="sim/avl",
                    time=to_dt(ts),
                    location=GeoPoint(lat=round(lat, 6), lon=round(lon, 6), accuracy_m=8.0),
                    data=UnitGps(
                        unit_id=u.unit_id,
                        unit_type=u.unit_type,
                        status=status,
                        speed_kmh=round(speed, 1),
                        heading_deg=heading,
                        assigned_incident=ref,
                        callsign=u.callsign,
                    ),
                )
                ctx.emitter.emit(ev, ts)


def _patrol_loop(city: City, lat: float, lon: float, rng: random.Random) -> list[tuple[float, float]]:
    """A rectangle of streets around the base, one or two blocks wide, closed (first == last)."""
    lats = sorted(s.value for s in city.streets if s.axis == "lat")
    lons = sorted(s.value for s in city.streets if s.axis == "lon")
    i = max(0, min(len(lats) - 2, sum(1 for x in lats if x <= lat) - 1 + rng.choice([-1, 0])))
    j = max(0, min(len(lons) - 2, sum(1 for x in lons if x <= lon) - 1 + rng.choice([-1, 0])))
    i2, j2 = min(i + rng.choice([1, 2]), len(lats) - 1), min(j + rng.choice([1, 2]), len(lons) - 1)
    s, n, w, e = lats[i], lats[i2], lons[j], lons[j2]
    corners = [(s, w), (s, e), (n, e), (n, w)]
    k = rng.randrange(4)  # start corner and direction vary per car
    corners = corners[k:] + corners[:k]
    if rng.random() < 0.5:
        corners.reverse()
    return [*corners, corners[0]]
