"""`make bench [BENCH=NAME]`: run every benchmark (or one) in a fresh process each, in a fixed order.

Each benchmark is a module tests/bench/NAME.py with a main() that prints one JSON line on stdout with
"bench": NAME; progress goes to stderr. A benchmark whose component cannot run here prints
{"bench": NAME, "skipped": REASON} instead of failing the whole run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ORDER = [
    "core",
    "burst",
    "enrich",
    "kafka",
    "archive",
    "map_query",
    "flink",
    "esper",
    "detector",
    "forecast",
    "console",
]
HERE = Path(__file__).parent


def available() -> list[str]:
    return [name for name in ORDER if (HERE / f"{name}.py").exists()]


def main() -> int:
    wanted = [b for b in os.environ.get("BENCH", "").split(",") if b] or available()
    unknown = [b for b in wanted if b not in available()]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; have {available()}", file=sys.stderr)
        return 2
    failed = 0
    for name in wanted:
        rc = subprocess.call([sys.executable, "-m", f"tests.bench.{name}"])
        if rc:
            print(f"benchmark {name} failed with exit code {rc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
