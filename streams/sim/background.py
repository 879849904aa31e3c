"""The city's ordinary noise: 112 calls, SOS test presses, accident records, ANPR reads, video analytics.

Rates follow a daily curve with its trough at ~04:30 and peak at ~16:30 local (DOMAIN.md). Near misses
are deliberate: fire calls with no camera, low-confidence smoke, gas calls alone, callers who ring twice,
or three times spread over three hours, big crowds seen once, intrusions by day.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from schemas import Analytic, CallCategory, Severity, UnitType, ZoneKind
from streams.sim.city import Camera
from streams.sim.context import Request, SimContext
from streams.sim.scenarios import is_night
from streams.sim.traffic import Traffic

# Category mix of non-prank calls (DOMAIN.md: medical the largest share, road crashes ~6%, gas 1-3%).
_CATEGORIES: list[tuple[CallCategory, float]] = [
    (CallCategory.MEDICAL, 34),
    (CallCategory.CRIME, 12),
    (CallCategory.VIOLENCE, 6),
    (CallCategory.ACCIDENT, 7),
    (CallCategory.FIRE, 3),
    (CallCategory.GAS, 1.5),
    (CallCategory.RESCUE, 2.5),
    (CallCategory.PUBLIC_ORDER, 12),
    (CallCategory.SUSPICIOUS_OBJECT, 2),
    (CallCategory.INFO, 10),
    (CallCategory.OTHER, 10),
]
# Which service a call gets, and how often (most medical calls go to polyclinics, not an ambulance).
_DISPATCH: dict[CallCategory, tuple[UnitType, float]] = {
    CallCategory.MEDICAL: (UnitType.AMBULANCE, 0.3),
    CallCategory.CRIME: (UnitType.POLICE, 0.7),
    CallCategory.VIOLENCE: (UnitType.POLICE, 0.95),
    CallCategory.ACCIDENT: (UnitType.POLICE, 0.8),
    CallCategory.FIRE: (UnitType.FIRE, 1.0),
    CallCategory.GAS: (UnitType.GAS, 1.0),
    CallCategory.RESCUE: (UnitType.FIRE, 0.5),
    CallCategory.PUBLIC_ORDER: (UnitType.POLICE, 0.6),
    CallCategory.SUSPICIOUS_OBJECT: (UnitType.POLICE, 1.0),
}
_DESCRIPTIONS: dict[CallCategory, list[str]] = {
    CallCategory.MEDICAL: [
        "Chest pain",
        "High fever, child",
        "Woman fainted",
        "Diabetic, unwell",
        "Cut hand, bleeding",
    ],
    CallCategory.CRIME: ["Car broken into", "Phone stolen", "Burglary, flat door open", "Shoplifter held"],
    CallCategory.VIOLENCE: ["Neighbours fighting", "Man beaten at the bus stop", "Domestic dispute"],
    CallCategory.ACCIDENT: ["Minor collision, no injured", "Car hit a pole", "Two cars, blocking the lane"],
    CallCategory.FIRE: ["Burning rubbish bin", "Smoke from a flat", "Grass fire"],
    CallCategory.GAS: ["Smell of gas in the kitchen", "Gas smell in the entrance"],
    CallCategory.RESCUE: ["Child locked in a flat", "Person stuck in a lift"],
    CallCategory.PUBLIC_ORDER: [
        "Loud music at night",
        "Drunk people in the yard",
        "Youths on the playground",
    ],
    CallCategory.SUSPICIOUS_OBJECT: ["Unattended bag at the stop"],
    CallCategory.INFO: ["Asks for pharmacy hours", "Asks where to report a lost passport"],
    CallCategory.OTHER: ["Stray dogs", "Broken street light", "Water leaking in the street"],
}
_PRANK = ["silent call", "prank call, children laughing", "pocket dial"]
_FACTORS = [
    "speeding",
    "unsafe lane change",
    "following too closely",
    "ice on the road",
    "red light",
    "pedestrian",
]


def activity(ts: float, tz: ZoneInfo) -> float:
    """0.1 at 04:30 local to 1.0 at 16:30."""
    local = datetime.fromtimestamp(ts, tz)
    h = local.hour + local.minute / 60
    return 0.55 - 0.45 * math.cos(2 * math.pi * (h - 4.5) / 24)


class Background:
    def __init__(self, ctx: SimContext, npr: np.random.Generator, fleet: list[str], tz: ZoneInfo, scale: float) -> None:
        self.ctx, self.npr, self.fleet, self.tz, self.scale = ctx, npr, fleet, tz, scale
        cams = ctx.city.cameras
        self.anpr_cams = [c for c in cams if c.anpr]
        self.traffic = Traffic(ctx, npr, fleet, self.anpr_cams)
        self.video_cams = [c for c in cams if not c.anpr]

    def _poisson(self, lam: float) -> int:
        return int(self.npr.poisson(max(lam, 0.0) * self.scale))

    def _where(self) -> tuple[float, float]:
        city, r = self.ctx.city, self.ctx.rng
        b = city.bbox
        if r.random() < 0.5:  # denser in the centre
            lat, lon = city.offset(43.245, 76.935, r.gauss(0, 2000), r.gauss(0, 2500))
            return city.clamp(lat, lon)
        return r.uniform(b[0], b[2]), r.uniform(b[1], b[3])

    # --- calls, SOS tests, accident records ---------------------------------------------------------

    def hour(self, h0: float, h1: float) -> None:
        a = activity((h0 + h1) / 2, self.tz)
        frac = (h1 - h0) / 3600
        for _ in range(self._poisson((25 + 95 * a) * frac)):
            self._call(self.ctx.rng.uniform(h0, h1))
        if self.ctx.rng.random() < 0.12 * frac * self.scale:
            self._persistent_caller(self.ctx.rng.uniform(h0, h1))
        for _ in range(self._poisson(0.4 * frac)):
            self._sos_test(self.ctx.rng.uniform(h0, h1))
        for _ in range(self._poisson((0.5 + 2.5 * a) * frac)):
            self._accident(self.ctx.rng.uniform(h0, h1))

    def _call(self, t: float) -> None:
        ctx, r = self.ctx, self.ctx.rng
        lat, lon = self._where()
        phone = ctx.phone()
        if r.random() < 0.15:  # pranks and silent calls: located by the cell tower only
            ctx.call(t, lat, lon, CallCategory.OTHER, phone, geocode="cell_tower", description=r.choice(_PRANK))
            return
        cat = r.choices([c for c, _ in _CATEGORIES], [w for _, w in _CATEGORIES])[0]
        geocode = r.choices(["exact", "street", "district"], [74, 20, 6])[0]
        injured = r.choice([0, 1, 1, 2]) if cat in (CallCategory.ACCIDENT, CallCategory.VIOLENCE) else None
        desc = r.choice(_DESCRIPTIONS[cat])
        eid = ctx.call(t, lat, lon, cat, phone, geocode=geocode, description=desc, injured=injured)
        if cat in _DISPATCH and r.random() < _DISPATCH[cat][1]:
            ctx.request(Request(t + r.uniform(20, 120), _DISPATCH[cat][0], lat, lon, eid))
        if r.random() < 0.05:  # a real caller rings back once: "nobody has come yet"
            ctx.call(
                t + r.uniform(180, 1500),
                lat,
                lon,
                cat,
                phone,
                geocode=geocode,
                description="Calling again: " + desc,
            )

    def _persistent_caller(self, t: float) -> None:
        """Three calls from one phone, over an hour apart each: not `calls.repeat_phone` (near miss)."""
        ctx, r = self.ctx, self.ctx.rng
        lat, lon = self._where()
        phone = ctx.phone()
        for k in range(3):
            ctx.call(
                t + k * r.uniform(3900, 4800),
                lat,
                lon,
                CallCategory.PUBLIC_ORDER,
                phone,
                description="Noise from the neighbours again",
            )

    def _sos_test(self, t: float) -> None:
        """A test or accidental press: a patrol always reaches it within 3-6 minutes."""
        ctx, r = self.ctx, self.ctx.rng
        b = r.choice(ctx.city.sos_buttons)
        eid = ctx.sos(t, b.device_id, b.lat, b.lon, message=r.choice([None, "test"]))
        d, ang = r.uniform(15, 80), r.uniform(0, 2 * math.pi)
        lat, lon = ctx.city.offset(b.lat, b.lon, d * math.cos(ang), d * math.sin(ang))
        ctx.request(
            Request(
                t + r.uniform(10, 40),
                UnitType.POLICE,
                lat,
                lon,
                eid,
                arrive_s=r.uniform(150, 310),
                scene_s=(300, 600),
            )
        )

    def _accident(self, t: float) -> None:
        """A police-registered crash with nobody calling 112 about it (the call alone is a near miss too)."""
        ctx, r, city = self.ctx, self.ctx.rng, self.ctx.city
        b = city.bbox
        for _ in range(20):  # not a third crash on one road within a day: only planted clusters are
            lat, lon = city.snap_to_street(r.uniform(b[0], b[2]), r.uniform(b[1], b[3]))
            if not ctx.would_cluster(city.nearest_street(lat, lon)[0].name, t):
                break
        else:
            return
        sev = r.choices(list(Severity), [70, 24, 5, 1])[0]
        injured = {
            Severity.PROPERTY_DAMAGE: 0,
            Severity.MINOR_INJURY: r.randint(1, 2),
            Severity.SERIOUS_INJURY: 1,
            Severity.FATAL: 0,
        }[sev]
        killed = 1 if sev == Severity.FATAL else 0
        ctx.accident(
            t,
            lat,
            lon,
            sev,
            vehicles=r.randint(1, 3),
            injured=injured,
            killed=killed,
            factors=[r.choice(_FACTORS)],
        )

    # --- ANPR -----------------------------------------------------------------------------------

    def anpr(self, h0: float, h1: float) -> None:
        """Reads of cars driving the roads (streams.sim.traffic), about 2-16 a second over the day."""
        a = activity((h0 + h1) / 2, self.tz)
        self.traffic.hour(h0, h1, (2 + 14 * a) * self.scale)

    # --- video analytics ------------------------------------------------------------------------

    def video(self, h0: float, h1: float) -> None:
        ctx, npr, r = self.ctx, self.npr, self.ctx.rng
        a = activity((h0 + h1) / 2, self.tz)
        n = self._poisson((1 + 4 * a) * (h1 - h0))
        ts = np.sort(npr.uniform(h0, h1, n)).tolist()
        cams = npr.integers(0, len(self.video_cams), n).tolist()
        conf = npr.uniform(0.5, 0.97, n).tolist()
        for i in range(n):
            cam = self.video_cams[cams[i]]
            if "vehicle" in cam.analytics and r.random() < 0.4:
                ctx.detection(ts[i], cam, Analytic.VEHICLE, conf[i], label=r.choice(["car", "car", "truck", "bus"]))
            else:
                ctx.detection(ts[i], cam, Analytic.PERSON, conf[i], label="person")
        self._false_alarms(h0, h1)

    def _rare(
        self,
        h0: float,
        h1: float,
        per_hour: float,
        ok: Callable[[Camera], bool],
        emit: Callable[[float, Camera], object],
    ) -> None:
        cams = [c for c in self.video_cams if ok(c)]
        if not cams:
            return
        for _ in range(self._poisson(per_hour * (h1 - h0) / 3600)):
            t = self.ctx.rng.uniform(h0, h1)
            emit(t, self.ctx.rng.choice(cams))

    def _false_alarms(self, h0: float, h1: float) -> None:
        ctx, r, tz = self.ctx, self.ctx.rng, self.tz
        night = is_night((h0 + h1) / 2, tz)
        local_h = datetime.fromtimestamp((h0 + h1) / 2, tz).hour

        def has(x: str) -> Callable[[Camera], bool]:
            return lambda c: x in c.analytics

        def det(analytic: Analytic, lo: float, hi: float, **kw: object) -> Callable[[float, Camera], object]:
            return lambda t, c: ctx.detection(t, c, analytic, r.uniform(lo, hi), **kw)  # type: ignore[arg-type]

        self._rare(
            h0,
            h1,
            0.8,
            has("smoke"),
            lambda t, c: ctx.detection(
                t, c, r.choice([Analytic.SMOKE, Analytic.FIRE]), r.uniform(0.2, 0.6), label="smoke"
            ),
        )
        self._rare(h0, h1, 0.08, has("smoke"), det(Analytic.SMOKE, 0.7, 0.85, label="steam"))  # camera alone
        self._rare(h0, h1, 0.3, has("fight"), det(Analytic.FIGHT, 0.3, 0.58, label="fight"))
        self._rare(h0, h1, 0.5, has("fall"), det(Analytic.FALL, 0.3, 0.68, label="person"))
        self._rare(h0, h1, 3.0, has("stationary_vehicle"), det(Analytic.STATIONARY_VEHICLE, 0.2, 0.48, label="car"))
        self._rare(
            h0,
            h1,
            0.05,
            lambda c: True,
            lambda t, c: ctx.detection(t, c, Analytic.CAMERA_TAMPER, r.uniform(0.6, 0.95), label="tamper"),
        )
        critical = ZoneKind.CRITICAL_INFRASTRUCTURE
        if night:  # intrusion alarms at critical sites at night stay below the rule's confidence
            self._rare(
                h0,
                h1,
                0.8,
                lambda c: c.zone_kind == critical,
                det(Analytic.INTRUSION, 0.2, 0.55, label="animal"),
            )
            self._rare(
                h0,
                h1,
                0.6,
                lambda c: has("intrusion")(c) and c.zone_kind != critical,
                det(Analytic.INTRUSION, 0.4, 0.9, label="person"),
            )
        else:
            self._rare(h0, h1, 1.5, has("intrusion"), det(Analytic.INTRUSION, 0.3, 0.9, label="person"))
            self._rare(h0, h1, 0.5, has("line_crossing"), det(Analytic.LINE_CROSSING, 0.5, 0.9, label="person"))
        crowd_zones = (ZoneKind.MASS_GATHERING, ZoneKind.TRANSPORT_HUB)
        self._rare(
            h0,
            h1,
            0.5,
            lambda c: c.zone_kind == ZoneKind.MARKET,
            det(Analytic.ABANDONED_OBJECT, 0.4, 0.8, label="box"),
        )
        if 8 <= local_h < 22:
            self._rare(
                h0,
                h1,
                1.5,
                has("crowd"),
                lambda t, c: ctx.detection(t, c, Analytic.CROWD, r.uniform(0.5, 0.85), count=r.randint(8, 45)),
            )
            self._rare(
                h0,
                h1,
                0.15,
                lambda c: c.zone_kind == ZoneKind.MASS_GATHERING and has("crowd")(c),
                lambda t, c: ctx.detection(t, c, Analytic.CROWD, r.uniform(0.6, 0.85), count=r.randint(50, 120)),
            )
        elif 1 <= local_h < 5:  # no crowds at this hour, so a left bag in a hub is a near miss
            self._rare(
                h0,
                h1,
                0.1,
                lambda c: c.zone_kind in crowd_zones and has("abandoned_object")(c),
                det(Analytic.ABANDONED_OBJECT, 0.4, 0.8, label="bag"),
            )
