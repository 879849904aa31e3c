"""A dense stream for the Flink job's exactness tests (pure, no Flink): catalog events crowded around a few
places, and an arrival order within the rule set's max_out_of_orderness (docs/semantics.md, 7)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import orjson

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)  # 14:00 in Almaty
# Three places: the first two 1.2 km apart (neighbouring cells of a spatial plan, which see each other's
# events as replicas), the third some 5 km away.
CENTRES = [(43.2389, 76.9455), (43.2389, 76.9605), (43.2800, 76.9000)]


def dense_stream(seed: int, n: int = 300, minutes: int = 20, grid: int = 5) -> list[bytes]:
    """`n` events in canonical order: calls, camera detections, SOS presses, unit fixes and accident records at
    four spots (180 m apart, 40 m of jitter) around each centre, over `minutes` on a grid of `grid` seconds
    (many equal times), ids drawn at random (the tie-break is not the order of generation)."""
    rng = random.Random(seed)
    docs: list[dict[str, object]] = []
    for i in range(n):
        c = rng.randrange(len(CENTRES))
        lat0, lon0 = CENTRES[c]
        spot = rng.randrange(4)
        north = (spot // 2) * 180 + rng.uniform(-40, 40)
        east = (spot % 2) * 180 + rng.uniform(-40, 40)
        lat = round(lat0 + north / 111_000, 6)
        lon = round(lon0 + east / (111_000 * math.cos(math.radians(lat0))), 6)
        at = T0 + timedelta(seconds=rng.randrange(minutes * 60 // grid) * grid)
        eid = f"e{rng.randrange(10**6):06d}-{i}"
        kind = rng.choices(["call", "video", "sos", "gps", "accident"], [5, 4, 1, 1, 1])[0]
        data: dict[str, object]
        if kind == "call":
            etype = "call.112"
            category = rng.choice(["fire", "gas", "medical", "violence", "accident", "info"])
            data = {"call_id": eid, "category": category, "phone": f"+770{rng.randrange(4)}", "address": f"{c}-{spot}"}
        elif kind == "video":
            etype = "video.detection"
            analytic = rng.choice(["fire", "smoke", "fall", "fight", "stationary_vehicle", "crowd"])
            data = {"camera_id": f"cam-{c}-{spot}", "analytic": analytic, "label": analytic}
            data["confidence"] = rng.choice([0.65, 0.8, 0.95])
            if analytic == "crowd":
                data["count"] = rng.choice([10, 60])
        elif kind == "sos":
            etype, data = "sos.press", {"device_id": f"sos-{c}-{spot}"}
        elif kind == "gps":
            etype = "unit.gps"
            unit = rng.choice(["police", "ambulance"])
            data = {"unit_id": f"u-{c}-{spot}", "unit_type": unit, "status": rng.choice(["on_scene", "en_route"])}
        else:
            etype = "accident.record"
            data = {"record_id": eid, "severity": "minor_injury", "injured": rng.choice([0, 1, 2])}
        time = at.isoformat().replace("+00:00", "Z")
        loc = {"lat": lat, "lon": lon}
        docs.append({"id": eid, "type": etype, "source": "test", "time": time, "location": loc, "data": data})
    docs.sort(key=lambda d: (str(d["time"]), str(d["id"])))
    return [orjson.dumps(d) for d in docs]


def _ts(line: bytes) -> float:
    return datetime.fromisoformat(orjson.loads(line)["time"].replace("Z", "+00:00")).timestamp()


def arrival(lines: list[bytes], bound: float, seed: int, copies: int = 5) -> list[bytes]:
    """Each line (and a copy of `copies` of them) delivered at its time plus a whole number of seconds in
    [0, bound], equal delivery times in random order: no line comes after one more than `bound` newer."""
    rng = random.Random(seed)
    delivered = [*lines, *rng.sample(lines, copies)]
    keyed = [(_ts(line) + rng.randint(0, int(bound)), rng.random(), line) for line in delivered]
    return [line for _, _, line in sorted(keyed)]
