"""`make bench BENCH=archive`: the archiver's insert rate against a raw clickhouse-connect insert of the same
rows into the same engine (embedded chDB, the same tables with their materialized views), in one run:

  rows_per_s      ArchiveWriter: contract records -> pseudonymised typed columns -> insert (dedup token)
  raw_rows_per_s  client.insert of the already built columns of the same batches
  ratio           rows_per_s / raw_rows_per_s   (target >= 0.8)

Batches alternate between the two so machine noise hits both alike. BENCH_HOURS (default 6) sizes the stream.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from jobs.archive.dsn import connect
from jobs.archive.migrate import migrate
from jobs.archive.rows import EVENT_COLUMNS, Pseudonymiser, event_columns
from jobs.archive.writer import ArchiveWriter
from rules.privacy import PrivacySettings
from rules.records import decode_record
from streams.sim import SimConfig, simulate

ROOT = Path(__file__).resolve().parents[2]
BATCH = 50_000


def main() -> None:
    hours = float(os.environ.get("BENCH_HOURS", "6"))
    with tempfile.TemporaryDirectory(prefix="saqshy-bench-archive-") as tmp:
        events = Path(tmp) / "events.jsonl"
        start = datetime(2026, 11, 21, 19, tzinfo=UTC)
        simulate(SimConfig(ROOT / "streams/sim/cities/alatau", hours, 7, start), events, Path(tmp) / "truth.jsonl")
        records = [decode_record(line) for line in events.read_bytes().splitlines() if line.strip()]
        print(f"archive bench: {len(records):,} events ({hours:g} h simulated)", file=sys.stderr)
        client = connect(f"chdb://{tmp}/chdb")
        migrate(client, "bench_raw", server=False)
        migrate(client, "bench_archive", server=False)
        privacy = PrivacySettings()
        writer = ArchiveWriter(lambda: client, "bench_archive", privacy=privacy, batch_size=BATCH, max_buffered=BATCH)
        pseudo = Pseudonymiser(privacy)
        batches = [records[i : i + BATCH] for i in range(0, len(records), BATCH)]
        prebuilt = [event_columns(b, pseudo) for b in batches]  # the raw side's rows, built outside its clock
        raw_s = arch_s = 0.0
        for batch, cols in zip(batches, prebuilt, strict=True):
            t0 = time.perf_counter()
            client.insert("bench_raw.events", cols, column_names=list(EVENT_COLUMNS), column_oriented=True)
            t1 = time.perf_counter()
            writer.add_events(batch)
            if not writer.flush():
                raise SystemExit(f"archive insert failed: {writer.stats.last_error}")
            t2 = time.perf_counter()
            raw_s += t1 - t0
            arch_s += t2 - t1
        n = len(records)
        for db in ("bench_raw", "bench_archive"):
            got = client.query(f"SELECT count() FROM {db}.events").result_rows[0][0]
            if got < n - 1000:  # the stream's own duplicate ids may already be merged away
                raise SystemExit(f"{db}.events has {got} rows, expected about {n}")
        client.close()
    print(
        json.dumps(
            {
                "bench": "archive",
                "rows": n,
                "rows_per_s": round(n / arch_s),
                "raw_rows_per_s": round(n / raw_s),
                "ratio": round(raw_s / arch_s, 3),
                "engine": "chdb",
                "batch": BATCH,
            }
        )
    )


if __name__ == "__main__":
    main()
