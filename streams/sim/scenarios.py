"""Planted true incidents: each scenario emits the events of one incident that a catalog rule should find,
and returns its ground truth (the rule id, and when the pattern became complete)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from schemas import Analytic, CallCategory, GeoPoint, HotlistEntry, Phase, Severity, UnitType, ZoneKind
from streams.sim.city import Camera
from streams.sim.context import Request, SimContext, to_dt
from streams.sim.truth import TruthItem

OCR_CONFUSION = {"O": "0", "0": "O", "B": "8", "8": "B"}


def confuse_plate(plate: str, rng: random.Random) -> str:
    """One O/0 or B/8 confusion, as ANPR engines make; unchanged when the plate has none of them."""
    spots = [i for i, ch in enumerate(plate) if ch in OCR_CONFUSION]
    if not spots:
        return plate
    i = rng.choice(spots)
    return plate[:i] + OCR_CONFUSION[plate[i]] + plate[i + 1 :]


@dataclass
class Plan:
    """What scenarios draw from: wanted plates not yet used, places already taken (to keep planted
    incidents apart, so one does not complete another's pattern)."""

    wanted: list[HotlistEntry]
    cloned: list[str] = field(default_factory=list)  # fleet plates that a second car will carry
    taken: list[tuple[float, float, float]] = field(default_factory=list)  # (t, lat, lon)

    def free(self, ctx: SimContext, t: float, lat: float, lon: float) -> bool:
        return all(abs(t - t2) > 5400 or ctx.city.distance_m(lat, lon, a, b) > 1500 for t2, a, b in self.taken)

    def take(self, t: float, lat: float, lon: float) -> None:
        self.taken.append((t, lat, lon))


def _pick_camera(ctx: SimContext, plan: Plan, t: float, ok: Callable[[Camera], bool]) -> Camera:
    cams = [c for c in ctx.city.cameras if ok(c)]
    ctx.rng.shuffle(cams)
    cam = next((c for c in cams if plan.free(ctx, t, c.lat, c.lon)), cams[0])
    plan.take(t, cam.lat, cam.lon)
    return cam


def _pick_street_point(ctx: SimContext, plan: Plan, t: float) -> tuple[float, float]:
    b, r = ctx.city.bbox, ctx.rng
    for _ in range(50):
        lat, lon = ctx.city.snap_to_street(r.uniform(b[0] + 0.01, b[2] - 0.01), r.uniform(b[1] + 0.01, b[3] - 0.01))
        if plan.free(ctx, t, lat, lon):
            break
    plan.take(t, lat, lon)
    return lat, lon


def _near(ctx: SimContext, lat: float, lon: float, lo_m: float, hi_m: float) -> tuple[float, float]:
    d, a = ctx.rng.uniform(lo_m, hi_m), ctx.rng.uniform(0, 2 * math.pi)
    return ctx.city.clamp(*ctx.city.offset(lat, lon, d * math.cos(a), d * math.sin(a)))


def _truth(
    ctx: SimContext,
    scenario: str,
    rule_id: str,
    time: float,
    start: float,
    lat: float,
    lon: float,
    ids: list[str],
    severity: int,
    note: str = "",
) -> TruthItem:
    return TruthItem(
        truth_id=ctx.new_id("truth"),
        scenario=scenario,
        rule_id=rule_id,
        time=to_dt(time),
        start=to_dt(start),
        location=GeoPoint(lat=round(lat, 6), lon=round(lon, 6)),
        event_ids=ids,
        severity=severity,
        note=note,
    )


def _has(analytic: str) -> Callable[[Camera], bool]:
    return lambda c: analytic in c.analytics


# --- the scenarios -----------------------------------------------------------------------------


def fire_camera_and_call(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    r = ctx.rng
    cam = _pick_camera(ctx, plan, t0, _has("smoke"))
    analytic = r.choice([Analytic.FIRE, Analytic.SMOKE])
    ids = [ctx.detection(t0, cam, analytic, r.uniform(0.72, 0.95))]
    track = ctx.track
    for k in range(r.randint(1, 3)):  # the analytic keeps updating its track
        ids.append(
            ctx.detection(t0 + 45 * (k + 1), cam, analytic, r.uniform(0.72, 0.97), phase=Phase.UPDATE, track_id=track)
        )
    t_call = t0 + r.uniform(-240, 360)
    lat, lon = _near(ctx, cam.lat, cam.lon, 40, 220)
    ids.append(
        ctx.call(t_call, lat, lon, CallCategory.FIRE, ctx.phone(), description="Smoke from a building, flames seen")
    )
    ctx.request(Request(t_call + 60, UnitType.FIRE, lat, lon, ids[-1]))
    if r.random() < 0.5:
        lat2, lon2 = _near(ctx, cam.lat, cam.lon, 40, 200)
        ids.append(
            ctx.call(t_call + r.uniform(60, 240), lat2, lon2, CallCategory.FIRE, ctx.phone(), description="Fire")
        )
    return [_truth(ctx, "fire", "fire.camera_and_call", max(t0, t_call), min(t0, t_call), cam.lat, cam.lon, ids, 2)]


def calls_mass_incident(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    r = ctx.rng
    lat, lon = _pick_street_point(ctx, plan, t0)
    times = [t0, *sorted(t0 + r.uniform(20, 480) for _ in range(r.randint(3, 6)))]
    category = r.choice([CallCategory.PUBLIC_ORDER, CallCategory.VIOLENCE, CallCategory.RESCUE, CallCategory.MEDICAL])
    ids = []
    for t in times:
        la, lo = _near(ctx, lat, lon, 0, 150)
        ids.append(ctx.call(t, la, lo, category, ctx.phone(), description="Many people, shouting, need help"))
    ctx.request(Request(times[1], UnitType.POLICE, lat, lon, ids[1]))
    return [_truth(ctx, "mass_incident", "calls.mass_incident", times[3], t0, lat, lon, ids, 3, category.value)]


def traffic_accident_confirmed(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    r = ctx.rng
    for _ in range(20):  # not on a road where it would be a third crash in a day
        lat, lon = _pick_street_point(ctx, plan, t0)
        if not ctx.would_cluster(ctx.city.nearest_street(lat, lon)[0].name, t0 + 600):
            break
    injured = r.choice([0, 0, 1, 1, 2, 3])
    ids = [ctx.call(t0, lat, lon, CallCategory.ACCIDENT, ctx.phone(), description="Two cars collided", injured=injured)]
    ctx.request(Request(t0 + 30, UnitType.POLICE, lat, lon, ids[0]))
    if injured:
        ctx.request(Request(t0 + 40, UnitType.AMBULANCE, lat, lon, ids[0]))
    cams = [
        c
        for c in ctx.city.cameras
        if "stationary_vehicle" in c.analytics and ctx.city.distance_m(lat, lon, c.lat, c.lon) < 280
    ]
    if cams:
        ids.append(
            ctx.detection(
                t0 + r.uniform(30, 200),
                cams[0],
                Analytic.STATIONARY_VEHICLE,
                r.uniform(0.6, 0.88),
                label="car",
            )
        )
    t_rec = t0 + r.uniform(120, 600)
    la, lo = _near(ctx, lat, lon, 10, 120)
    sev = Severity.MINOR_INJURY if injured else Severity.PROPERTY_DAMAGE
    ids.append(ctx.accident(t_rec, la, lo, sev, vehicles=r.randint(2, 3), injured=injured, factors=["speeding"]))
    return [_truth(ctx, "accident", "traffic.accident_confirmed", t_rec, t0, la, lo, ids, 2 if injured else 3)]


def _anpr_cam(ctx: SimContext, plan: Plan, t: float, exclude: str = "") -> Camera:
    return _pick_camera(ctx, plan, t, lambda c: c.anpr and c.camera_id != exclude)


def _wanted_read(ctx: SimContext, t: float, cam: Camera, entry: HotlistEntry) -> str:
    r = ctx.rng
    plate = confuse_plate(entry.plate, r) if r.random() < 0.3 else entry.plate
    return ctx.anpr(
        t,
        cam,
        plate,
        r.uniform(0.8, 0.97),
        direction=r.choice(["approaching", "departing"]),
        speed_kmh=round(r.uniform(35, 90), 1),
        lane=r.randint(1, 3),
        vehicle_class="car",
    )


def anpr_wanted_vehicle(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    entry = plan.wanted.pop(0)
    cam = _anpr_cam(ctx, plan, t0)
    ids = [_wanted_read(ctx, t0, cam, entry)]
    return [
        _truth(
            ctx,
            "wanted_vehicle",
            "anpr.wanted_vehicle",
            t0,
            t0,
            cam.lat,
            cam.lon,
            ids,
            entry.priority,
            entry.plate,
        )
    ]


def anpr_wanted_route(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    entry = plan.wanted.pop(0)
    cam1 = _anpr_cam(ctx, plan, t0)
    graph = ctx.city.graph

    def reachable(c: Camera) -> bool:  # within the rule's 30 minutes by road, and a real drive away
        if cam1.node is None or c.node is None or c.camera_id == cam1.camera_id:
            return False
        return 240 <= graph.seconds(cam1.node, c.node) <= 1300

    cam2 = _pick_camera(ctx, plan, t0 + 600, reachable)
    assert cam1.node is not None and cam2.node is not None
    # driven at 80-100% of the limits, so no two reads of the plate are faster than a car (anpr.cloned_plate)
    t1 = t0 + graph.seconds(cam1.node, cam2.node) / ctx.rng.uniform(0.8, 1.0) + 15
    ids = [_wanted_read(ctx, t0, cam1, entry), _wanted_read(ctx, t1, cam2, entry)]
    # The first read alone is already a wanted_vehicle incident: both rules are expected to fire.
    return [
        _truth(
            ctx,
            "wanted_route",
            "anpr.wanted_vehicle",
            t0,
            t0,
            cam1.lat,
            cam1.lon,
            ids[:1],
            entry.priority,
            entry.plate,
        ),
        _truth(ctx, "wanted_route", "anpr.wanted_route", t1, t0, cam2.lat, cam2.lon, ids, 2, entry.plate),
    ]


def anpr_cloned_plate(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    """A second car with a copy of a real car's plates: the plate is read at two cameras 4 km or more
    apart, faster than anyone drives between them (200-400 km/h implied), within a few minutes."""
    r, city = ctx.rng, ctx.city
    plate = plan.cloned.pop(0)
    cam1 = _anpr_cam(ctx, plan, t0)
    cam2 = _pick_camera(ctx, plan, t0, lambda c: c.anpr and city.distance_m(cam1.lat, cam1.lon, c.lat, c.lon) >= 4000)
    t1 = t0 + city.distance_m(cam1.lat, cam1.lon, cam2.lat, cam2.lon) / r.uniform(55, 110)
    ids = []
    for t, cam in ((t0, cam1), (t1, cam2)):
        ids.append(
            ctx.anpr(
                t,
                cam,
                plate,
                r.uniform(0.85, 0.97),
                direction=r.choice(["approaching", "departing"]),
                speed_kmh=round(r.uniform(35, 70), 1),
                lane=r.randint(1, 3),
                vehicle_class="car",
            )
        )
    # No place: which of the two cameras the rule's incident is placed at is the rule's choice.
    return [_truth_at(ctx, "cloned_plate", "anpr.cloned_plate", t1, t0, None, ids, 2, plate)]


def traffic_road_accident_cluster(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    """3-4 police-registered crashes on one road within a day (a black spot: issue 20). Background crashes
    never make three on one road in a day (background.Background._accident), so these are the only ones."""
    r, city = ctx.rng, ctx.city
    span = min(r.uniform(3 * 3600, 18 * 3600), ctx.emitter.end - t0 - 600)
    n = r.choice([3, 3, 4])
    times = [t0, *sorted(t0 + r.uniform(0.1, 1.0) * span for _ in range(n - 1))]
    roads = list(city.streets)
    r.shuffle(roads)
    road = next(
        (s for s in roads if not any(abs(x - t0) < 2 * 86_400 for x in ctx.road_accidents.get(s.name, ()))), roads[0]
    )
    b = city.bbox
    ids = []
    for t in times:
        if road.axis == "lat":
            lat, lon = road.value, r.uniform(b[1] + 0.005, b[3] - 0.005)
        else:
            lat, lon = r.uniform(b[0] + 0.005, b[2] - 0.005), road.value
        sev = r.choices([Severity.PROPERTY_DAMAGE, Severity.MINOR_INJURY], [70, 30])[0]
        injured = r.randint(1, 2) if sev == Severity.MINOR_INJURY else 0
        ids.append(ctx.accident(t, lat, lon, sev, vehicles=r.randint(1, 3), injured=injured, factors=["speeding"]))
    # No place: the crashes are kilometres apart along the road; the cluster is the road itself.
    rule = "traffic.road_accident_cluster"
    return [_truth_at(ctx, "road_accident_cluster", rule, times[2], t0, None, ids, 3, road.name)]


def _truth_at(
    ctx: SimContext,
    scenario: str,
    rule_id: str,
    time: float,
    start: float,
    where: GeoPoint | None,
    ids: list[str],
    severity: int,
    note: str,
) -> TruthItem:
    return TruthItem(
        truth_id=ctx.new_id("truth"),
        scenario=scenario,
        rule_id=rule_id,
        time=to_dt(time),
        start=to_dt(start),
        location=where,
        event_ids=ids,
        severity=severity,
        note=note,
    )


def sos_no_unit_on_scene(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    r = ctx.rng
    buttons = list(ctx.city.sos_buttons)
    r.shuffle(buttons)
    b = next((x for x in buttons if plan.free(ctx, t0, x.lat, x.lon)), buttons[0])
    plan.take(t0, b.lat, b.lon)
    ids = [ctx.sos(t0, b.device_id, b.lat, b.lon, message="help")]
    if r.random() < 0.5:  # help comes, but too late: after the 8-minute deadline
        la, lo = _near(ctx, b.lat, b.lon, 10, 60)
        ctx.request(Request(t0 + r.uniform(420, 600), UnitType.POLICE, la, lo, ids[0], arrive_s=r.uniform(240, 360)))
    return [_truth(ctx, "sos_unanswered", "sos.no_unit_on_scene", t0 + 480, t0, b.lat, b.lon, ids, 1)]


def video_abandoned_object_crowded(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    r = ctx.rng
    kinds = (ZoneKind.MASS_GATHERING, ZoneKind.TRANSPORT_HUB)
    cam = _pick_camera(ctx, plan, t0, lambda c: c.zone_kind in kinds and "abandoned_object" in c.analytics)
    ids = [
        ctx.detection(
            t0,
            cam,
            Analytic.ABANDONED_OBJECT,
            r.uniform(0.65, 0.9),
            label="bag",
            dwell_s=round(r.uniform(90, 300), 1),
        )
    ]
    t_crowd = t0 + r.uniform(-120, 240)
    ids.append(ctx.detection(t_crowd, cam, Analytic.CROWD, r.uniform(0.6, 0.85), count=r.randint(20, 45)))
    return [
        _truth(
            ctx,
            "abandoned_object",
            "video.abandoned_object_crowded",
            max(t0, t_crowd),
            min(t0, t_crowd),
            cam.lat,
            cam.lon,
            ids,
            2,
        )
    ]


def video_night_intrusion_critical(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    r = ctx.rng
    cam = _pick_camera(
        ctx,
        plan,
        t0,
        lambda c: c.zone_kind == ZoneKind.CRITICAL_INFRASTRUCTURE and "intrusion" in c.analytics,
    )
    ids = [ctx.detection(t0, cam, Analytic.INTRUSION, r.uniform(0.65, 0.95), label="person")]
    track = ctx.track
    ids.append(
        ctx.detection(
            t0 + r.uniform(20, 60),
            cam,
            Analytic.INTRUSION,
            r.uniform(0.65, 0.95),
            label="person",
            phase=Phase.UPDATE,
            track_id=track,
        )
    )
    return [_truth(ctx, "night_intrusion", "video.night_intrusion_critical", t0, t0, cam.lat, cam.lon, ids, 2)]


def calls_repeat_phone(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    r = ctx.rng
    lat, lon = _pick_street_point(ctx, plan, t0)
    phone, cat = ctx.phone(), r.choice([CallCategory.VIOLENCE, CallCategory.CRIME])
    times = [t0, t0 + r.uniform(480, 1200)]
    times.append(times[1] + r.uniform(480, 1200))
    ids = [ctx.call(t, lat, lon, cat, phone, description="He is back, banging on the door") for t in times]
    ctx.request(Request(times[2] + 30, UnitType.POLICE, lat, lon, ids[2]))
    sev = 2 if cat == CallCategory.VIOLENCE else 3
    return [_truth(ctx, "repeat_phone", "calls.repeat_phone", times[2], t0, lat, lon, ids, sev, phone)]


def calls_gas_leak_cluster(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    r = ctx.rng
    lat, lon = _pick_street_point(ctx, plan, t0)
    times = [t0, *sorted(t0 + r.uniform(120, 1500) for _ in range(r.randint(1, 2)))]
    ids = []
    for t in times:
        la, lo = _near(ctx, lat, lon, 0, 200)
        ids.append(
            ctx.call(t, la, lo, CallCategory.GAS, ctx.phone(), description="Strong smell of gas in the stairwell")
        )
    ctx.request(Request(t0 + 30, UnitType.GAS, lat, lon, ids[0]))
    return [_truth(ctx, "gas_leak", "calls.gas_leak_cluster", times[1], t0, lat, lon, ids, 3)]


def video_fight_with_call(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    r = ctx.rng
    cam = _pick_camera(ctx, plan, t0, _has("fight"))
    ids = [ctx.detection(t0, cam, Analytic.FIGHT, r.uniform(0.6, 0.9), label="fight")]
    t_call = t0 + r.uniform(-180, 420)
    la, lo = _near(ctx, cam.lat, cam.lon, 40, 220)
    ids.append(ctx.call(t_call, la, lo, CallCategory.VIOLENCE, ctx.phone(), description="A fight, several men"))
    ctx.request(Request(t_call + 30, UnitType.POLICE, la, lo, ids[-1]))
    return [_truth(ctx, "fight", "video.fight_with_call", max(t0, t_call), min(t0, t_call), cam.lat, cam.lon, ids, 2)]


def video_fall_medical(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    r = ctx.rng
    cam = _pick_camera(ctx, plan, t0, _has("fall"))
    ids = [ctx.detection(t0, cam, Analytic.FALL, r.uniform(0.72, 0.95), label="person")]
    t_call = t0 + r.uniform(-60, 420)
    la, lo = _near(ctx, cam.lat, cam.lon, 20, 150)
    ids.append(
        ctx.call(
            t_call,
            la,
            lo,
            CallCategory.MEDICAL,
            ctx.phone(),
            description="An old man fell and does not get up",
            injured=1,
        )
    )
    ctx.request(Request(t_call + 60, UnitType.AMBULANCE, la, lo, ids[-1]))
    return [_truth(ctx, "fall", "video.fall_medical", max(t0, t_call), min(t0, t_call), cam.lat, cam.lon, ids, 2)]


def video_crowd_in_zone(ctx: SimContext, plan: Plan, t0: float) -> list[TruthItem]:
    r = ctx.rng
    cam = _pick_camera(ctx, plan, t0, lambda c: c.zone_kind == ZoneKind.MASS_GATHERING and "crowd" in c.analytics)
    times = [t0]
    for _ in range(r.randint(2, 3)):
        times.append(times[-1] + r.uniform(90, 220))
    count = r.randint(55, 120)
    ids = [ctx.detection(times[0], cam, Analytic.CROWD, r.uniform(0.7, 0.9), count=count)]
    track = ctx.track
    for t in times[1:]:
        count += r.randint(10, 80)
        ids.append(
            ctx.detection(t, cam, Analytic.CROWD, r.uniform(0.7, 0.9), count=count, phase=Phase.UPDATE, track_id=track)
        )
    return [_truth(ctx, "crowd", "video.crowd_in_zone", times[2], t0, cam.lat, cam.lon, ids, 3)]


@dataclass(frozen=True)
class Scenario:
    name: str
    per_day: float
    run: Callable[[SimContext, Plan, float], list[TruthItem]]
    night_only: bool = False


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("fire", 3, fire_camera_and_call),
    Scenario("mass_incident", 3, calls_mass_incident),
    Scenario("accident", 4, traffic_accident_confirmed),
    Scenario("wanted_vehicle", 4, anpr_wanted_vehicle),
    Scenario("wanted_route", 3, anpr_wanted_route),
    Scenario("cloned_plate", 3, anpr_cloned_plate),
    Scenario("road_accident_cluster", 2.5, traffic_road_accident_cluster),
    Scenario("sos_unanswered", 3, sos_no_unit_on_scene),
    Scenario("abandoned_object", 3, video_abandoned_object_crowded),
    Scenario("night_intrusion", 3, video_night_intrusion_critical, night_only=True),
    Scenario("repeat_phone", 3, calls_repeat_phone),
    Scenario("gas_leak", 3, calls_gas_leak_cluster),
    Scenario("fight", 3, video_fight_with_call),
    Scenario("fall", 3, video_fall_medical),
    Scenario("crowd", 3, video_crowd_in_zone),
)


def is_night(ts: float, tz: ZoneInfo) -> bool:
    hour = datetime.fromtimestamp(ts, tz).hour
    return hour >= 22 or hour < 6


def schedule(rng: random.Random, start: float, end: float, tz: ZoneInfo) -> list[tuple[float, Scenario]]:
    """Start times for each scenario, spread over the run; a margin at the end lets each one finish."""
    lo, hi = start + 300, end - 2700
    plan: list[tuple[float, Scenario]] = []
    if hi <= lo:
        return plan
    hours = (end - start) / 3600
    for sc in SCENARIOS:
        n = max(1, round(sc.per_day * hours / 24))
        for _ in range(n):
            for _try in range(200):
                t = round(rng.uniform(lo, hi), 3)
                if not sc.night_only or is_night(t, tz):
                    plan.append((t, sc))
                    break
    plan.sort(key=lambda x: (x[0], x[1].name))
    return plan
