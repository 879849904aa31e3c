"""`make bench BENCH=burst`: one place floods the engine, against ordinary traffic in the same run.

  events            the burst: 10,000 112 calls (BENCH_BURST_EVENTS) from a stadium, all within 300 m of its
                    centre and inside 10 minutes (one window and one radius of calls.mass_incident)
  events_per_s      EmbeddedRunner with the whole catalog over the burst's lines
  ordinary_per_s    the same over an ordinary simulated city stream (BENCH_HOURS, default 2)
  ratio             events_per_s / ordinary_per_s   (target >= 0.5: a burst costs what ordinary traffic costs)
  calls_per_s       the same over the ordinary stream's 112 calls alone (a day's, spread over the city): the
                    same rules for the same kind of event, without the burst
  ratio_calls       events_per_s / calls_per_s: what the burst itself costs (clustering, witnesses, merging,
                    coalesced versions) against calls that cluster nowhere
  versions          incident updates the burst made (coalesced: a version per status or priority change, at
                    most one per update_every of event time otherwise)
  incidents         incidents the burst made

The best of three interleaved rounds of each. Prints one JSON line.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from rules import native
from rules.loader import load_rules
from schemas import Incident, fold_latest
from streams.dlq import MemoryDeadLetters
from streams.embedded import EmbeddedRunner
from tests.bench.core import stream

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "rules" / "catalog"
CENTRE = (43.2311, 76.9260)  # Almaty Central Stadium
START = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)


def burst_lines(n: int, seed: int = 7) -> list[bytes]:
    """n calls inside 300 m of the centre over ten minutes, in time order."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        r = 300.0 * math.sqrt(rnd.random())
        a = rnd.uniform(0, 2 * math.pi)
        lat = CENTRE[0] + r * math.cos(a) / 111_132.0
        lon = CENTRE[1] + r * math.sin(a) / (111_320.0 * math.cos(math.radians(CENTRE[0])))
        t = START + timedelta(seconds=600.0 * i / n)
        out.append(
            orjson.dumps(
                {
                    "id": f"stadium-{i:05d}",
                    "type": "call.112",
                    "source": "bench/112",
                    "time": t.isoformat(),
                    "location": {"lat": round(lat, 6), "lon": round(lon, 6), "accuracy_m": 20.0},
                    "data": {
                        "call_id": f"s{i}",
                        "phone": f"+7701{rnd.randrange(10**7):07d}",
                        "category": rnd.choice(["public_order", "violence", "crime"]),
                        "geocode": "exact",
                        "address": "Satpayev St 29/3",
                        "injured": 1 if rnd.random() < 0.02 else 0,
                    },
                }
            )
        )
    return out


def run(lines: list[bytes]) -> tuple[float, list[Incident]]:
    """Seconds the embedded runner takes over the lines (the rule set loaded beforehand), and its updates."""
    runner = EmbeddedRunner(load_rules([CATALOG]), dead_letters=MemoryDeadLetters())
    updates: list[Incident] = []
    start = time.perf_counter()
    runner.run(lines, sink=updates.append)
    return time.perf_counter() - start, updates


def main() -> None:
    n = int(os.environ.get("BENCH_BURST_EVENTS", "10000"))
    hours = int(os.environ.get("BENCH_HOURS", "2"))
    burst = burst_lines(n)
    ordinary = stream(hours, 1).read_bytes().splitlines()
    calls = [line for line in stream(24, 1).read_bytes().splitlines() if b'"type":"call.112"' in line]
    print(f"burst bench: {n} burst events, {len(ordinary)} ordinary events, {len(calls)} calls", file=sys.stderr)
    best_burst = best_ordinary = best_calls = float("inf")
    updates: list[Incident] = []
    for rnd in range(3):
        t, updates = run(burst)
        best_burst = min(best_burst, t)
        t2, _ = run(ordinary)
        best_ordinary = min(best_ordinary, t2)
        t3, _ = run(calls)
        best_calls = min(best_calls, t3)
        print(
            f"  round {rnd + 1}: burst {n / t:,.0f}/s, ordinary {len(ordinary) / t2:,.0f}/s, "
            f"calls {len(calls) / t3:,.0f}/s",
            file=sys.stderr,
        )
    latest: dict[str, Incident] = {}
    for u in updates:
        fold_latest(latest, u)
    burst_rate = n / best_burst
    ordinary_rate = len(ordinary) / best_ordinary
    calls_rate = len(calls) / best_calls
    doc = {
        "bench": "burst",
        "core_build": native.mode(),  # compiled (make native) or source
        "events": n,
        "events_per_s": round(burst_rate),
        "ordinary_per_s": round(ordinary_rate),
        "ratio": round(burst_rate / ordinary_rate, 3),
        "calls_per_s": round(calls_rate),
        "ratio_calls": round(burst_rate / calls_rate, 3),
        "versions": len(updates),
        "incidents": len(latest),
        "by_rule": dict(Counter(u.rule_id for u in updates)),
    }
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
