"""`make bench BENCH=esper` (issue 22): Saqshy's embedded runner against a JIT-warm Esper 8.9 on the same lines,
with issue 22's three patterns written twice: in EPL (infra/esper/patterns.epl, run by infra/esper/EsperBench)
and as Saqshy rules (tests/bench/esper_rules/). docs/esper.md lists every semantic difference.

Both sides take the lines from memory and pay for parsing them (Jackson there, decode_record here). A warm-up
pass of each, then BENCH_ROUNDS interleaved rounds (esper, saqshy, esper, saqshy, ...); the figures are the
medians with the spread. A pattern's matches are its anchor event ids (the call, the call, the press): each
rule keys its incidents by that id, so one match is one incident. Prints one JSON line:

  {"bench": "esper", "events": N, "esper_per_s": ..., "saqshy_per_s": ..., "ratio": ..., "matches_equal": true,
   "matches": {pattern: {"esper": n, "saqshy": n}}, ...}

Input: build/demo/events.jsonl.gz (`make demo`: 24 h, seed 7) when present; otherwise, or with BENCH_HOURS
set, a simulated day of BENCH_HOURS hours, seed 7, in build/bench/; BENCH_INPUT=FILE takes that file.
BENCH_ROUNDS (default 5) sets the rounds; BENCH_PROFILE=FILE also writes the cProfile top functions of one
more Saqshy round to FILE.
"""

from __future__ import annotations

import cProfile
import gzip
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from rules import native
from rules.loader import RuleSet, load_rules
from streams.dlq import MemoryDeadLetters
from streams.embedded import EmbeddedRunner

ROOT = Path(__file__).resolve().parents[2]
ESPER = ROOT / "infra" / "esper" / "esper.sh"
RULES = Path(__file__).resolve().parent / "esper_rules"
DEMO = ROOT / "build" / "demo" / "events.jsonl.gz"
SIMULATE = [sys.executable, "-m", "saqshy", "simulate", "--city", str(ROOT / "streams/sim/cities/alatau")]
# rule id -> the EPL statement of the same pattern
PATTERNS = {
    "bench.esper.fire_then_call": "fire_then_call",
    "bench.esper.three_calls": "three_calls",
    "bench.esper.sos_no_unit": "sos_no_unit",
}


def log(msg: str) -> None:
    print(f"esper: {msg}", file=sys.stderr, flush=True)


def skipped(reason: str) -> None:
    print(json.dumps({"bench": "esper", "skipped": reason}))


def input_file() -> Path:
    if os.environ.get("BENCH_INPUT"):
        return Path(os.environ["BENCH_INPUT"]).resolve()
    hours = os.environ.get("BENCH_HOURS")
    if hours is None and DEMO.exists():
        return DEMO
    hours = hours or "24"
    path = ROOT / "build" / "bench" / f"esper-events-{hours}h.jsonl.gz"
    if not path.exists():
        log(f"simulating {hours} h (seed 7) into {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.jsonl.gz")
        subprocess.run(
            [*SIMULATE, "--hours", hours, "--seed", "7", "--out", str(tmp), "--truth", os.devnull],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tmp.rename(path)
    return path


def read_lines(path: Path) -> list[bytes]:
    with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as fh:
        return [line for line in fh.read().split(b"\n") if line]


class Esper:
    """The Java harness, kept running between rounds so that its JIT stays warm."""

    def __init__(self, path: Path, ooo_s: float):
        self.proc = subprocess.Popen(
            [str(ESPER), "run", str(path), str(ooo_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def round(self) -> dict[str, Any]:
        stdin: IO[str] | None = self.proc.stdin
        stdout: IO[str] | None = self.proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write("run\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the Esper harness exited with code {self.proc.wait()}")
        result: dict[str, Any] = json.loads(line)
        return result

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def saqshy_round(ruleset: RuleSet, lines: list[bytes]) -> tuple[float, dict[str, list[str]], dict[str, int]]:
    """One pass as `saqshy replay` makes it (EmbeddedRunner.run: decode, guard, correlate, finish)."""
    runner = EmbeddedRunner(ruleset, MemoryDeadLetters())
    start = time.perf_counter()
    summary = runner.run(lines)
    seconds = time.perf_counter() - start
    anchors: dict[str, set[str]] = {name: set() for name in PATTERNS.values()}
    for inc in summary.incidents.values():
        if inc.status != "retracted":
            anchors[PATTERNS[inc.rule_id]].add(inc.key)
    return seconds, {name: sorted(ids) for name, ids in anchors.items()}, dict(summary.rejected)


def profile(ruleset: RuleSet, lines: list[bytes], out: Path) -> None:
    prof = cProfile.Profile()
    prof.enable()
    saqshy_round(ruleset, lines)
    prof.disable()
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(25)
    out.write_text(text.getvalue())
    log(f"profile written to {out}")


def spread(rates: list[float]) -> dict[str, int]:
    return {"median": round(statistics.median(rates)), "min": round(min(rates)), "max": round(max(rates))}


def main() -> None:
    if shutil.which("java") is None or shutil.which("mvn") is None:
        skipped("needs Java 17 and Maven (java, mvn on PATH)")
        return
    build = subprocess.run([str(ESPER), "build"], capture_output=True, text=True)
    if build.returncode:
        skipped(f"infra/esper/esper.sh build failed: {build.stderr.strip()[-300:]}")
        return
    path = input_file()
    rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
    ruleset = load_rules([RULES])
    lines = read_lines(path)
    if not lines:
        skipped(f"{path} has no lines")
        return
    log(f"{len(lines):,} lines from {path}; warm-up, then {rounds} interleaved rounds")
    esper = Esper(path, ruleset.settings.max_out_of_orderness)
    try:
        # warm-up: about a million lines through Esper (several passes of a short input) so that the JIT has
        # compiled the harness's and Esper's paths; one pass of Saqshy (imports, caches, the allocator)
        for _ in range(max(1, min(20, -(-1_000_000 // len(lines))))):
            esper.round()
        saqshy_round(ruleset, lines)
        esper_s: list[float] = []
        saqshy_s: list[float] = []
        for i in range(rounds):
            result = esper.round()
            esper_s.append(result["seconds"])
            seconds, ours, rejected = saqshy_round(ruleset, lines)
            saqshy_s.append(seconds)
            log(f"round {i + 1}: esper {result['seconds']:.2f} s, saqshy {seconds:.2f} s")
    finally:
        esper.close()
    theirs: dict[str, list[str]] = result["anchors"]
    n = len(lines)
    esper_rate = spread([n / s for s in esper_s])
    saqshy_rate = spread([n / s for s in saqshy_s])
    matches = {name: {"esper": len(theirs[name]), "saqshy": len(ours[name])} for name in PATTERNS.values()}
    only = {
        name: {
            "esper_only": sorted(set(theirs[name]) - set(ours[name]))[:5],
            "saqshy_only": sorted(set(ours[name]) - set(theirs[name]))[:5],
        }
        for name in PATTERNS.values()
        if theirs[name] != ours[name]
    }
    print(
        json.dumps(
            {
                "bench": "esper",
                "core_build": native.mode(),  # compiled (make native) or source
                "events": n,
                "input": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
                "rounds": rounds,
                "esper_per_s": esper_rate["median"],
                "saqshy_per_s": saqshy_rate["median"],
                "ratio": round(saqshy_rate["median"] / esper_rate["median"], 3),
                "esper_spread": esper_rate,
                "saqshy_spread": saqshy_rate,
                "matches_equal": all(m["esper"] == m["saqshy"] for m in matches.values()),
                "anchors_equal": not only,
                "matches": matches,
                "differences": only,
                "esper_duplicates": result["duplicates"],
                "saqshy_dead_letters": rejected,
            }
        )
    )
    if os.environ.get("BENCH_PROFILE"):
        profile(ruleset, lines, Path(os.environ["BENCH_PROFILE"]))


if __name__ == "__main__":
    main()
