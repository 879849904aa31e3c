"""`make bench BENCH=map_query`: crime-map query latency over 10 million archived incidents in embedded chDB.

The incidents are generated in bulk with SQL (numbers()) straight into the incidents table, so the
materialized views build the map aggregates exactly as they do for archived incidents. Then the map's own
query path (jobs.crimemap.query.fetch: cell counts per day, cell boundaries, counts per category, area
outlines) runs for varied 30-day windows, categories and areas:

  {"bench": "map_query", "rows", "p50_ms", "p99_ms"}   (target p50 <= 300 ms)

BENCH_MAP_ROWS overrides the 10,000,000 incidents (for a quick look).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from jobs.archive.dsn import connect
from jobs.archive.migrate import migrate
from jobs.crimemap.query import MapQuery, fetch

DB = "bench_map"
CATEGORIES = ["crime", "violence", "traffic", "fire", "medical", "public_order", "gas", "security"]
DISTRICTS = ["Auezov district", "Bostandyk district", "Medeu district", "Zhetysu district", "Almaly district",
             "Turksib district"]  # fmt: skip
START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 180
CHUNK = 1_000_000


def generate(client: object, rows: int) -> None:
    cats = "['" + "','".join(CATEGORIES) + "']"
    dists = "['" + "','".join(DISTRICTS) + "']"
    for lo in range(0, rows, CHUNK):
        n = min(CHUNK, rows - lo)
        # Skewed places (a third of incidents in a few hot spots, like real crime) over an Almaty-sized box.
        client.command(  # type: ignore[attr-defined]
            f"""INSERT INTO {DB}.incidents (id, version, rule_id, rule_version, category, status, priority,
                priority_base, title, key_pseudonym, lat, lon, republic, region, city, district,
                first_time, last_time, updated_time, event_count, schema_version)
            SELECT 'inc-' || toString(number), 1, 'bench.rule', 1, {cats}[1 + number % 8], 'open',
                1 + number % 5, 3, 'synthetic', '',
                if(number % 3 = 0, 43.25 + (cityHash64(number, 1) % 1000) / 100000.0,
                   43.15 + (cityHash64(number, 2) % 20000) / 100000.0),
                if(number % 3 = 0, 76.92 + (cityHash64(number, 3) % 1000) / 100000.0,
                   76.75 + (cityHash64(number, 4) % 30000) / 100000.0),
                'Kazakhstan', 'Almaty', 'Almaty', {dists}[1 + intDiv(number, 7) % 6],
                toDateTime64('{START:%Y-%m-%d %H:%M:%S}', 3, 'UTC')
                    + toIntervalSecond(cityHash64(number, 5) % {DAYS * 86400}) AS t,
                t, t, 1, '1.0'
            FROM numbers({lo}, {n})
            SETTINGS max_insert_threads = 2"""
        )
        print(f"map_query bench: {lo + n:,} incidents", file=sys.stderr)


def main() -> None:
    rows = int(os.environ.get("BENCH_MAP_ROWS", "10000000"))
    with tempfile.TemporaryDirectory(prefix="saqshy-bench-map-") as tmp:
        client = connect(f"chdb://{tmp}/chdb")
        migrate(client, DB, server=False)
        t0 = time.perf_counter()
        generate(client, rows)
        client.command(f"OPTIMIZE TABLE {DB}.map_daily FINAL")
        load_s = time.perf_counter() - t0
        n = client.query(f"SELECT count() FROM {DB}.incidents").result_rows[0][0]
        agg = client.query(f"SELECT count() FROM {DB}.map_daily").result_rows[0][0]
        print(f"map_query bench: {n:,} incidents, {agg:,} aggregate rows, loaded in {load_s:.0f} s", file=sys.stderr)
        rng = random.Random(7)
        fetch(client, MapQuery(START, START + timedelta(days=30)), DB)  # warm caches once
        times: list[float] = []
        cells = 0
        for i in range(40):
            start = START + timedelta(days=rng.randrange(0, DAYS - 30))
            q = MapQuery(
                start,
                start + timedelta(days=30),
                categories=(rng.choice(CATEGORIES),) if i % 2 else (),
                region=rng.choice(DISTRICTS) if i % 4 == 3 else None,
                resolution=rng.choice((7, 8)),
                bucket="day",
            )
            t = time.perf_counter()
            data = fetch(client, q, DB)
            times.append((time.perf_counter() - t) * 1000)
            cells += len(data.cells)
        client.close()
    times.sort()
    print(
        json.dumps(
            {
                "bench": "map_query",
                "rows": n,
                "p50_ms": round(statistics.median(times), 1),
                "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 1),
                "queries": len(times),
                "window_days": 30,
                "mean_cells": round(cells / len(times)),
                "aggregate_rows": agg,
                "load_s": round(load_s, 1),
                "engine": "chdb",
            }
        )
    )


if __name__ == "__main__":
    main()
