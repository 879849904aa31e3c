"""`make bench` (core): the embedded runner from file bytes to incidents over a simulated city day with the
whole catalog, against fixed yardsticks measured in the same run on the same lines:

  parse_only_per_s   orjson.loads of every line (the cost of merely reading JSON)
  decode_only_per_s  rules.records.decode_record of every line (decode + validate, no rules)
  events_per_s       EmbeddedRunner: decode, route, correlate, incidents
  ratio              events_per_s / parse_only_per_s   (target >= 0.2)

Prints one JSON line. BENCH_HOURS / BENCH_SEED choose the stream (default a 24-hour day).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from rules import native
from rules.loader import load_rules
from rules.records import RecordDecodeError, decode_record
from streams.dlq import MemoryDeadLetters
from streams.embedded import EmbeddedRunner, long_lived_heap

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "bench"


def stream(hours: int, seed: int) -> Path:
    path = CACHE / f"alatau-{hours}h-seed{seed}.jsonl"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "saqshy",
                "simulate",
                "--city",
                str(ROOT / "streams/sim/cities/alatau"),
                "--hours",
                str(hours),
                "--seed",
                str(seed),
                "--out",
                str(tmp),
                "--truth",
                str(path.with_suffix(".truth.jsonl")),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        tmp.rename(path)
    return path


def lines(path: Path) -> Iterator[bytes]:
    with path.open("rb", buffering=1 << 20) as fh:
        yield from fh


def timed(fn) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    n = fn()
    return time.perf_counter() - start, n


def main() -> None:
    hours = int(os.environ.get("BENCH_HOURS", "24"))
    seed = int(os.environ.get("BENCH_SEED", "1"))
    path = stream(hours, seed)

    def parse_only() -> int:
        n = 0
        for line in lines(path):
            orjson.loads(line)
            n += 1
        return n

    def decode_only() -> int:
        n = 0
        for line in lines(path):
            with contextlib.suppress(RecordDecodeError):
                decode_record(line)
            n += 1
        return n

    ruleset = load_rules([ROOT / "rules" / "catalog"])
    runner = EmbeddedRunner(ruleset, MemoryDeadLetters())
    state: dict[str, float] = {}
    incidents: set[str] = set()

    def engine() -> int:
        n = 0
        with long_lived_heap():  # as EmbeddedRunner.run (saqshy replay) and the workers collect garbage
            for lineno, line in enumerate(lines(path), 1):
                for inc in runner.feed(line, lineno):
                    incidents.add(inc.id)
                n += 1
        # state at the end of the day, before the final flush empties it
        state["mb"] = len(runner.core.snapshot()) / 1e6
        state["entries"] = sum(v for k, v in runner.core.state_size().items() if not k.startswith("_"))
        incidents.update(inc.id for inc in runner.finish())
        return n

    t_parse, n = timed(parse_only)
    t_decode, _ = timed(decode_only)
    t_engine, _ = timed(engine)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "bench": "core",
        "core_build": native.mode(),  # compiled (make native) or source
        "events": n,
        "hours": hours,
        "rules": len(ruleset.rules),
        "events_per_s": round(n / t_engine),
        "parse_only_per_s": round(n / t_parse),
        "decode_only_per_s": round(n / t_decode),
        "ratio": round((n / t_engine) / (n / t_parse), 3),
        "decode_ratio": round((n / t_decode) / (n / t_parse), 3),
        "peak_rss_mb": round(rss_mb, 1),
        "state_mb": round(state["mb"], 2),
        "state_entries": int(state["entries"]),
        "incidents": len(incidents),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
