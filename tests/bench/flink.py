"""`make bench BENCH=flink`: the Flink job on the local mini-cluster (thread mode), over a simulated stream.

  events_per_s_p1, _p2  lines of the same file per second of the job's net runtime (JobExecutionResult), at
                        parallelism 1 and 2 of the keyed operator, spatial cells, the cell-local rules of
                        the catalog (the file source and router stay at 1 to keep the file's order)
  ratio                 p2 / p1 (target >= 1.4)
  checkpoint_mb         the largest completed checkpoint seen while the whole catalog (single key) runs over
                        the same stream: the city's state as Flink stores it (snapshot + input log)
  bare_per_s_p1         Flink's own ceiling for this graph: the same file through the job's shape of Python
                        operators (a key, a keyed guard, a router that makes 3 keyed records a line, a key, a
                        keyed operator) that do no work, at parallelism 1 on the same cluster
  ratio_bare            events_per_s_p1 / bare_per_s_p1: the share of that ceiling the job keeps
Prints one JSON line. BENCH_FLINK_HOURS (default 1) sets the simulated stream.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.bench.core import stream
from tests.golden.harness import CATALOG
from tests.kafka_broker import ROOT, free_port
from tests.support import catalog_subset

SCRIPT = ROOT / "infra" / "flink" / "flink.sh"

# cell-local rules with radii up to 500 m (traffic.mass_casualty's 2 km would make cells of 2 km and copy
# every event to up to 8 neighbours)
CELL_LOCAL = ["fire", "sos", "calls/gas_leak_cluster.yaml", "calls/mass_incident.yaml"]


def _size(root: Path) -> int:
    """Bytes of the newest complete checkpoint under root (chk-N with its _metadata written)."""
    done = [d for d in root.rglob("chk-*") if (d / "_metadata").exists()]
    if not done:
        return 0
    newest = max(done, key=lambda d: int(d.name.split("-")[1]))
    return sum(f.stat().st_size for f in newest.rglob("*") if f.is_file())


CELL_M = 4000.0  # 20 cells over Alatau's hour: ~3 keyed records a line (own cell and replicas)


def run(
    rules: Path, events: Path, mode: str, parallelism: int, cp: Path | None = None, jobmanager: str | None = None
) -> tuple[float, int]:
    from jobs.flink.job import FlinkJobConfig, environment, pipeline

    config = FlinkJobConfig(
        rules=(rules,),
        partitioning=mode,  # type: ignore[arg-type]
        cell_m=CELL_M,
        parallelism=parallelism,
        input=events,
        checkpoint_dir=cp.as_uri() if cp else None,
        checkpoint_interval_ms=2000 if cp else 10_000,
        jobmanager=jobmanager,
    )
    env = environment(config, with_kafka=False)
    pipeline(env, config, None).filter(lambda e: False).print()
    biggest = 0
    running = True

    def watch() -> None:
        nonlocal biggest
        while running and cp is not None:
            with contextlib.suppress(OSError):  # a checkpoint being written or discarded
                biggest = max(biggest, _size(cp))
            time.sleep(0.3)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    result = env.execute(f"bench-{mode}-p{parallelism}")
    running = False
    watcher.join()
    return result.get_net_runtime() / 1000.0, biggest


FANOUT = 3  # keyed records a line makes in the job's spatial run (its cell and its replicas)


def bare(events: Path, jobmanager: str | None) -> float:
    """Seconds the job's shape of Python operators, doing no work, takes over the file (parallelism 1)."""
    from pyflink.common import Types, WatermarkStrategy  # type: ignore[import-untyped]
    from pyflink.datastream.connectors.file_system import FileSource, StreamFormat  # type: ignore[import-untyped]

    from jobs.flink.job import GUARDED_TYPE, KEYED_TYPE, FlinkJobConfig, environment

    bare_guard, bare_route, bare_keyed = _bare_classes()
    config = FlinkJobConfig(rules=(CATALOG,), parallelism=1, input=events, jobmanager=jobmanager)
    env = environment(config, with_kafka=False)
    src = FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(events.resolve())).build()
    lines = env.from_source(src, WatermarkStrategy.no_watermarks(), "events")
    guarded = lines.key_by(lambda _: 0, key_type=Types.INT()).process(bare_guard(), GUARDED_TYPE)
    keyed = guarded.process(bare_route(), KEYED_TYPE)
    keyed.key_by(lambda v: v[0], key_type=Types.STRING()).process(bare_keyed(), Types.STRING()).print()
    return float(env.execute("bench-bare-p1").get_net_runtime()) / 1000.0


def _bare_classes() -> tuple[type, type, type]:
    """Defined when the bench runs (pyflink is imported then), and so shipped to the cluster by value."""
    from pyflink.datastream import KeyedProcessFunction, ProcessFunction  # type: ignore[import-untyped]

    class BareGuard(KeyedProcessFunction):  # type: ignore[misc]
        def process_element(self, value: str, ctx: Any) -> Iterator[Any]:
            yield 0, value, ""

    class BareRoute(ProcessFunction):  # type: ignore[misc]
        def __init__(self) -> None:
            self.n = 0

        def process_element(self, value: tuple[int, str, str], ctx: Any) -> Iterator[Any]:
            self.n += 1
            for i in range(FANOUT):
                yield f"c{(self.n + i) % 20}", i > 0, 0, "bare", self.n, b"", 0

    class BareKeyed(KeyedProcessFunction):  # type: ignore[misc]
        def process_element(self, value: Any, ctx: Any) -> Iterator[Any]:
            yield from ()

    return BareGuard, BareRoute, BareKeyed


def main() -> int:
    hours = int(os.environ.get("BENCH_FLINK_HOURS", "1"))
    events = stream(hours, 1)
    lines = sum(1 for line in events.open("rb") if line.strip())
    with tempfile.TemporaryDirectory(prefix="saqshy-bench-flink-") as tmp:
        subset = catalog_subset(Path(tmp), CELL_LOCAL)
        _, checkpoint = run(CATALOG, events, "single", 1, Path(tmp) / "cp")
        # two TaskManager processes of one slot each: in thread mode the Python of one TaskManager shares one
        # interpreter (one GIL), so parallel instances need processes of their own
        port = str(free_port())
        env = dict(os.environ, FLINK_REST_PORT=port, FLINK_DATA=str(Path(tmp) / "cluster"))
        subprocess.run([str(SCRIPT), "up", "2"], check=True, env=env, stdout=sys.stderr)
        rates = {}
        try:
            for p in (1, 2):
                cp = Path(tmp) / f"cp{p}"
                seconds, _ = run(subset, events, "spatial", p, cp, jobmanager=f"127.0.0.1:{port}")
                rates[p] = lines / seconds
                print(f"flink p{p}: {lines} lines in {seconds:.1f} s", file=sys.stderr)
            seconds = bare(events, f"127.0.0.1:{port}")
            rates[0] = lines / seconds
            print(f"flink bare p1: {lines} lines in {seconds:.1f} s", file=sys.stderr)
        finally:
            subprocess.run([str(SCRIPT), "down"], env=env, stdout=sys.stderr, check=False)
    print(
        json.dumps(
            {
                "bench": "flink",
                "events": lines,
                "hours": hours,
                "events_per_s_p1": round(rates[1]),
                "events_per_s_p2": round(rates[2]),
                "ratio": round(rates[2] / rates[1], 3),
                "checkpoint_mb": round(checkpoint / 1e6, 2),
                "bare_per_s_p1": round(rates[0]),
                "ratio_bare": round(rates[1] / rates[0], 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
