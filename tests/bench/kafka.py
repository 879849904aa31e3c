"""`make bench BENCH=kafka`: the live worker through a real broker, against a plain consumer.

  consumer_only_per_s  a confluent-kafka consumer that reads the same topics and runs orjson.loads per message
  events_per_s         `saqshy worker` on its default engine (confluent-kafka: decode, merge, correlate,
                       produce, transactions) over the same backlog, from its first processed event to the end
  ratio                events_per_s / consumer_only_per_s   (target >= 0.2)
  p50_ms, p99_ms       at a sustained rate (rate_per_s: BENCH_KAFKA_RATE, default 1,000/s, at most half the
                       engine's measured throughput; Almaty's ~5,000 traffic cameras reading ~4,000 plates a
                       day each and ~2,000 patrols' GPS make ~350 events/s on average, so this is about three
                       times that) with the worker running as its own process: from the
                       produce time of the event that caused an incident update to the moment a read_committed
                       consumer has it; timer-driven updates (closings, absences) have no causing event and are
                       not counted. Probes (with_probes) add ~1 wanted-vehicle read per 100 events for samples
  *_stress             the same at BENCH_KAFKA_STRESS (default 2,500/s, at most half the measured throughput)
  *_faust              the same figures for `--engine faust` (faust-streaming on aiokafka), at its own rate
  faust_bare_per_s     Faust's own ceiling on this machine, measured on the same backlog in the same run: a bare
  faust_take_per_s     Faust agent that only counts and acknowledges each message (at least once, no core, no
                       outputs); the same reading batches with stream.take(1000, within=0.1s). ratio_faust_bare
                       is events_per_s_faust / faust_bare_per_s: the share of Faust's per-message path the
                       worker keeps (uvloop is not measured: not a dependency)
  recovery_s_median    tests/chaos' broker restarts (BENCH_KAFKA_RECOVERY_CYCLES, default 5) under a live worker
  recovery_s_max       on fresh topics, last: per cycle, from the broker back up to the worker's next committed
                       input offset (target max <= 30 s); needs a broker the bench owns (not SAQSHY_TEST_KAFKA)
  errors               phase -> what went wrong, for every phase that failed or ran past its deadline (PHASES);
                       the figures of that phase are null, the others are measured all the same
Prints one JSON line on stdout, always (exit code 1 when `errors` is not empty); progress goes to stderr.
BENCH_KAFKA_HOURS (default 4) sets the simulated stream; SAQSHY_TEST_KAFKA=host:port uses a running broker instead
of starting one. The workers' throughput runs in a process of its own (`python -m tests.bench.kafka throughput
ENGINE`, settings from SAQSHY_KAFKA_*), so a phase past its deadline is killed, not waited for.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import orjson
from confluent_kafka import Consumer

from rules import native
from rules.loader import load_rules
from schemas import Incident
from schemas.topics import INCIDENTS
from streams.kafka.produce import EventProducer
from streams.kafka.settings import KafkaSettings
from streams.kafka.topics import apply, keep_history, load_spec
from streams.kafka.worker import INPUT_TOPICS, WorkerConfig
from streams.partitioning import plan_for
from tests.bench.core import stream
from tests.kafka_broker import broker_session, unique

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "rules" / "catalog"
# seconds each phase may take (this machine: ~20 s to produce the 4-hour backlog, ~15 s for the confluent worker
# over it, ~70 s for Faust, ~55 s a latency run); past it the phase is given up and named in `errors`
PHASES = {
    "stream": 600,
    "topics": 120,
    "produce": 300,
    "consumer_only": 120,
    "throughput": 300,
    "throughput_faust": 600,
    "faust_bare": 300,
    "latency": 180,
    "latency_stress": 180,
    "latency_faust": 180,
    "recovery": 900,
}
FIGURES = [
    *("events", "events_per_s", "consumer_only_per_s", "ratio"),
    *(f"{k}{suffix}" for suffix in ("", "_stress") for k in ("rate_per_s", "p50_ms", "p99_ms", "latency_samples")),
    *("events_per_s_faust", "ratio_faust", "rate_per_s_faust", "p50_ms_faust", "p99_ms_faust"),
    "latency_samples_faust",
    *("faust_bare_per_s", "faust_take_per_s", "ratio_faust_bare"),
    *("recovery_cycles", "recovery_s_median", "recovery_s_max"),
]
T = TypeVar("T")
WORKERS: list[subprocess.Popen[bytes]] = []  # latency workers, killed before exit should a phase leave one behind


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class PhaseError(RuntimeError):
    pass


def phase(errors: dict[str, str], name: str, fn: Callable[[], T]) -> T | None:
    """fn() within PHASES[name] seconds: its result, or None with errors[name] saying why. It runs in a daemon
    thread, so a phase that hangs is left behind (the process ends with os._exit) instead of hanging the bench."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"bench-{name}", daemon=True)
    thread.start()
    thread.join(PHASES[name])
    if thread.is_alive():
        errors[name] = f"timed out after {PHASES[name]} s"
    elif "error" in box:
        exc = box["error"]
        errors[name] = str(exc) if isinstance(exc, PhaseError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, PhaseError):
            traceback.print_exception(exc, file=sys.stderr)
    else:
        return box["result"]  # type: ignore[no-any-return]
    log(f"kafka bench: {name} failed: {errors[name]}")
    return None


def fresh(bootstrap: str, partitions: int) -> KafkaSettings:
    """Topics of their own, without time retention: the records carry the simulated city's event time, older
    than the spec's 7 days, and the broker deleted them at its first retention check (30 s after it started)
    while the Faust worker was still reading them: it waited forever for the offsets it skipped (issue 23)."""
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=unique("bench") + ".")
    apply(settings, keep_history(load_spec(partitions=partitions)))
    return settings


def consumer_only(settings: KafkaSettings, expected: int, seconds: float) -> float:
    consumer = Consumer(settings.consumer_config(unique("plain")))
    consumer.subscribe([settings.topic(t) for t in INPUT_TOPICS])
    n = 0
    start = None
    deadline = time.monotonic() + seconds
    try:
        while n < expected:
            if time.monotonic() > deadline:
                raise PhaseError(f"read {n:,} of {expected:,} messages in {seconds:.0f} s")
            for msg in consumer.consume(2000, 0.5):
                if msg.error() is None:
                    if start is None:
                        start = time.perf_counter()
                    orjson.loads(msg.value() or b"null")
                    n += 1
    finally:
        consumer.close()
    elapsed = time.perf_counter() - (start or time.perf_counter())
    return n / elapsed


def _child(settings: KafkaSettings, args: list[str], seconds: float, what: str) -> dict[str, Any]:
    """`python -m tests.bench.kafka ARGS` against `settings`' broker and topics, killed past `seconds` + 30: its
    one JSON line (stderr, its progress and logs, passes through)."""
    env = dict(
        os.environ,
        SAQSHY_KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
        SAQSHY_KAFKA_TOPIC_PREFIX=settings.topic_prefix,
    )
    cmd = [sys.executable, "-m", "tests.bench.kafka", *args]
    try:
        done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, timeout=seconds + 30, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PhaseError(f"{what} did not end within {seconds + 30:.0f} s (killed)") from exc
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {"error": f"no result (exit code {done.returncode})"}
    if "error" in result:
        raise PhaseError(result["error"])
    return result


def throughput(settings: KafkaSettings, engine: str, seconds: float) -> tuple[float, int]:
    """The worker over the backlog, bounded, in a process of its own: (events/s, events)."""
    result = _child(settings, ["throughput", engine, str(seconds)], seconds, f"the {engine} worker")
    return float(result["events_per_s"]), int(result["events"])


def _throughput_child(engine: str, seconds: float) -> NoReturn:
    """`python -m tests.bench.kafka throughput ENGINE SECONDS`: one bounded run, one JSON line on stdout. The
    worker's BoundedWatch ends a run that stalls (an error naming what it waited for) well before the parent
    kills it; stop_after bounds the rest."""
    stdout, sys.stdout = sys.stdout, sys.stderr  # anything a library prints is progress, not the result
    from streams.kafka.faust_worker import FaustWorker
    from streams.kafka.worker import Worker

    settings = KafkaSettings.from_env()
    config = WorkerConfig(rules=(CATALOG,), group=unique("bench"), bounded=True, snapshot_interval=5.0)
    try:
        worker = FaustWorker(config, settings) if engine == "faust" else Worker(config, settings)
        worker.run(stop_after=seconds)
        end = time.monotonic()
        rate = worker.processed / (end - (worker.first_event_at or end))
        result: dict[str, Any] = {"events_per_s": rate, "events": worker.processed}
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"{engine} worker: {type(exc).__name__}: {exc}"}
    print(json.dumps(result), file=stdout, flush=True)
    sys.stderr.flush()
    os._exit(1 if "error" in result else 0)  # a client thread left running (non-daemon) must not keep it alive


def with_probes(lines: list[bytes], every: int = 100) -> list[bytes]:
    """The stream with a latency probe after every `every`-th line that is an ANPR read: a copy with its own id
    and a plate on the stream's hotlist, which the wanted-vehicle rule answers at once (a city's own
    incidents are too few, ~20 in the seconds a latency run lasts, for a 99th percentile)."""
    end = orjson.loads(lines[-1])["time"]  # the stream is in time order: an entry valid to here is valid throughout
    hot = []
    for line in lines:
        if b'"ref.hotlist"' in line:
            data = orjson.loads(line)["data"]
            if not data.get("valid_to") or data["valid_to"] > end:
                hot.append(data["plate"])
    out: list[bytes] = []
    for i, line in enumerate(lines):
        out.append(line)
        if hot and i % every == every // 2 and b'"anpr.read"' in line:
            doc = orjson.loads(line)
            n = len(out)
            doc["id"] = f"probe-{n}"
            doc["data"]["plate"] = hot[n % len(hot)]
            out.append(orjson.dumps(doc))
    return out


def latency(bootstrap: str, lines: list[bytes], rate: float, seconds: float, engine: str) -> tuple[float, float, int]:
    with tempfile.TemporaryFile() as worker_log:  # the worker's stderr, for the error when it exits early
        return _latency(bootstrap, lines, rate, seconds, engine, worker_log)


def _latency(
    bootstrap: str, lines: list[bytes], rate: float, seconds: float, engine: str, worker_log: IO[bytes]
) -> tuple[float, float, int]:
    settings = fresh(bootstrap, 3)
    env = dict(os.environ, SAQSHY_KAFKA_BOOTSTRAP_SERVERS=bootstrap, SAQSHY_KAFKA_TOPIC_PREFIX=settings.topic_prefix)
    cmd = [sys.executable, "-m", "saqshy", "worker", "--rules", str(CATALOG), "--group", unique("lat")]
    worker = subprocess.Popen([*cmd, "--engine", engine], env=env, stdout=subprocess.DEVNULL, stderr=worker_log)
    WORKERS.append(worker)
    produced: dict[str, float] = {}
    event_time: dict[str, str] = {}
    received: list[tuple[float, Incident]] = []
    stop = threading.Event()

    def read() -> None:
        consumer = Consumer(
            settings.consumer_config(
                unique("lat-reader"), **{"isolation.level": "read_committed", "fetch.wait.max.ms": 10}
            )
        )
        consumer.subscribe([settings.topic(INCIDENTS)])
        while not stop.is_set():
            for msg in consumer.consume(100, 0.05):
                if msg.error() is None and msg.value():
                    received.append((time.monotonic(), Incident.model_validate_json(msg.value() or b"")))
        consumer.close()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        time.sleep(8)  # the worker joins its group, restores nothing, reads the reference topics
        producer = EventProducer(settings, plan_for(load_rules([CATALOG]), "single"))
        start = time.monotonic()
        for i, raw in enumerate(lines):
            now = time.monotonic()
            if now - start > seconds:
                break
            ahead = start + i / rate - now
            if ahead > 0:
                time.sleep(ahead)
            doc = orjson.loads(raw)
            producer.send(raw)
            produced[doc["id"]] = time.monotonic()
            event_time[doc["id"]] = doc["time"]
            if i % 200 == 0:
                producer.producer.poll(0)
        producer.flush()
        time.sleep(3)
    finally:
        stop.set()
        reader.join(5)
        exited = worker.poll()
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    if exited is not None:  # it was to run until terminated
        worker_log.seek(0)
        tail = worker_log.read().decode(errors="replace").strip().splitlines()[-3:]
        raise PhaseError(f"the {engine} worker exited early with code {exited}: {' | '.join(tail)}")
    samples = []
    for at, inc in received:
        if inc.status.value == "closed":
            continue
        # the causing event has the update's time; a timer-driven update's time is its deadline, no event's
        when = inc.updated_time.isoformat().replace("+00:00", "Z")[:19]
        causes = [produced[e] for e in inc.event_ids if e in produced and event_time[e].startswith(when)]
        if causes:
            samples.append((at - max(causes)) * 1000)
    samples.sort()
    if not samples:
        raise PhaseError(f"no latency sample in {seconds:.0f} s at {rate:.0f} events/s ({len(received)} updates read)")
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))], len(samples)


def _num(x: float | None, digits: int = 1) -> float | None:
    if x is None or math.isnan(x):
        return None
    return round(x) if digits == 0 else round(x, digits)


def main() -> int:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {"bench": "kafka", "engine": "confluent", "core_build": native.mode()}
    out.update(dict.fromkeys(FIGURES))  # a phase that fails leaves its figures null, the line keeps its shape
    try:
        measure(out, errors)
    except Exception as exc:  # the broker's start or stop: the figures measured so far still go out
        errors.setdefault("broker", f"{type(exc).__name__}: {exc}")
        traceback.print_exc()
    out["errors"] = errors
    print(json.dumps(out), flush=True)
    for worker in WORKERS:
        if worker.poll() is None:
            worker.kill()
    sys.stderr.flush()
    # a phase given up on may have left a thread behind, blocked in a client call: do not wait for it
    os._exit(1 if errors else 0)


def faust_bare(settings: KafkaSettings, mode: str, expected: int, seconds: float) -> float:
    """A bare Faust agent over the backlog, in a process of its own: messages/s (see _faust_bare_child)."""
    args = ["faust-bare", mode, str(expected), str(seconds)]
    return float(_child(settings, args, seconds, f"the bare Faust agent ({mode})")["per_s"])


def _faust_bare_child(mode: str, expected: int, seconds: float) -> NoReturn:
    """`python -m tests.bench.kafka faust-bare each|take EXPECTED SECONDS`: a Faust app whose agent only counts
    the input topics' messages (each acknowledged; `take`: in batches of up to 1,000 within 0.1 s) until it has
    read EXPECTED of them; one JSON line: messages/s from the first message to the last."""
    stdout, sys.stdout = sys.stdout, sys.stderr
    import asyncio
    import shutil

    import faust

    settings = KafkaSettings.from_env()
    datadir = tempfile.mkdtemp(prefix="saqshy-faust-bare-")
    app = faust.App(
        unique("bare"),
        broker=settings.faust_broker(),
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        datadir=datadir,
        store="memory://",
        consumer_auto_offset_reset="earliest",
        topic_partitions=3,
        stream_wait_empty=False,
    )
    app.in_worker = True
    seen = {"n": 0, "first": 0.0, "last": 0.0}
    done = asyncio.Event()

    def count(k: int) -> None:
        if seen["n"] == 0:
            seen["first"] = time.perf_counter()
        seen["n"] += k
        seen["last"] = time.perf_counter()
        if seen["n"] >= expected:
            done.set()

    source = app.topic(*(settings.topic(t) for t in INPUT_TOPICS), key_serializer="raw", value_serializer="raw")

    async def each(stream: Any) -> None:
        async for _ in stream:
            count(1)

    async def batches(stream: Any) -> None:
        async for batch in stream.take(1000, within=0.1):
            count(len(batch))

    app.agent(source, name="bare")(each if mode == "each" else batches)

    async def main() -> None:
        await app.start()
        try:
            await asyncio.wait_for(done.wait(), seconds)
        finally:
            await asyncio.wait([asyncio.ensure_future(app.stop())], timeout=30)

    result: dict[str, Any]
    try:
        asyncio.run(main())
        result = {"per_s": seen["n"] / max(seen["last"] - seen["first"], 1e-9), "messages": seen["n"]}
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"bare Faust agent ({mode}): {type(exc).__name__}: {exc}; read {seen['n']:,}"}
    shutil.rmtree(datadir, ignore_errors=True)
    print(json.dumps(result), file=stdout, flush=True)
    sys.stderr.flush()
    os._exit(1 if "error" in result else 0)


def measure(out: dict[str, Any], errors: dict[str, str]) -> None:
    hours = int(os.environ.get("BENCH_KAFKA_HOURS", "4"))
    path = phase(errors, "stream", lambda: stream(hours, 1))
    if path is None:
        return
    lines = [line.rstrip(b"\n") for line in path.open("rb") if line.strip()]
    with broker_session() as broker:
        bootstrap = broker if isinstance(broker, str) else broker.bootstrap
        settings = phase(errors, "topics", lambda: fresh(bootstrap, 3))
        if settings is None:
            return
        log(f"kafka bench: producing {len(lines):,} events")
        producer = EventProducer(settings, plan_for(load_rules([CATALOG]), "single"))
        stats = phase(errors, "produce", lambda: producer.run(lines))
        if stats is None:
            return
        inputs = sum(n for topic, n in stats.per_topic.items() if topic in INPUT_TOPICS)
        log("kafka bench: plain consumer")
        plain = phase(errors, "consumer_only", lambda: consumer_only(settings, inputs, PHASES["consumer_only"] - 10))
        log("kafka bench: confluent-kafka worker (default engine) over the backlog")
        confluent = phase(errors, "throughput", lambda: throughput(settings, "confluent", PHASES["throughput"] - 40))
        log("kafka bench: Faust worker over the backlog")
        faust = phase(
            errors, "throughput_faust", lambda: throughput(settings, "faust", PHASES["throughput_faust"] - 40)
        )
        log("kafka bench: bare Faust agents over the backlog (Faust's own ceiling)")
        each = phase(errors, "faust_bare", lambda: faust_bare(settings, "each", inputs, PHASES["faust_bare"] / 2 - 30))
        take = phase(errors, "faust_bare", lambda: faust_bare(settings, "take", inputs, PHASES["faust_bare"] / 2 - 30))
        rate = confluent[0] if confluent else None
        rate_f = faust[0] if faust else None
        out.update(
            {
                "faust_bare_per_s": _num(each, 0),
                "faust_take_per_s": _num(take, 0),
                "ratio_faust_bare": _num(rate_f / each, 3) if rate_f and each else None,
            }
        )
        # the simulated city makes ~16 events/s on average; Almaty with every traffic camera reading plates ~350
        cap = float(os.environ.get("BENCH_KAFKA_RATE", "1000"))
        stress = float(os.environ.get("BENCH_KAFKA_STRESS", "2500"))
        probed = with_probes(lines)
        lat: dict[str, tuple[int | None, tuple[float, float, int] | None]] = {}
        for name, engine, measured, target in [
            ("latency", "confluent", rate, cap),
            ("latency_stress", "confluent", rate, stress),
            ("latency_faust", "faust", rate_f, cap),
        ]:
            if not measured:
                errors[name] = f"skipped: no {engine} throughput to pace it by"
                lat[name] = (None, None)
                continue
            sustained = round(min(measured * 0.5, target))
            log(f"kafka bench: latency of the {engine} worker at {sustained} events/s")

            def run(engine: str = engine, sustained: int = sustained) -> tuple[float, float, int]:
                return latency(bootstrap, probed, sustained, 40.0, engine)

            lat[name] = (sustained, phase(errors, name, run))
        out.update(
            {
                "events": confluent[1] if confluent else None,
                "events_per_s": _num(rate, 0),
                "consumer_only_per_s": _num(plain, 0),
                "ratio": _num(rate / plain, 3) if rate and plain else None,
                **_figures(lat["latency"], ""),
                **_figures(lat["latency_stress"], "_stress"),
                "events_per_s_faust": _num(rate_f, 0),
                "ratio_faust": _num(rate_f / plain, 3) if rate_f and plain else None,
                **_figures(lat["latency_faust"], "_faust"),
            }
        )
        if isinstance(broker, str):
            errors["recovery"] = "skipped: the broker is not the bench's own (SAQSHY_TEST_KAFKA), it cannot restart it"
            return
        cycles = int(os.environ.get("BENCH_KAFKA_RECOVERY_CYCLES", "5"))
        log(f"kafka bench: {cycles} broker restarts under a live worker")
        own = broker

        def restarts() -> dict[str, float | int]:
            from tests.chaos.harness import broker_restarts

            with tempfile.TemporaryDirectory(prefix="saqshy-recovery-") as tmp:
                run = broker_restarts(own, fresh(own.bootstrap, 3), lines[: len(lines) // 4], cycles, Path(tmp))
            if run.returncode != 0:
                raise PhaseError(f"the worker exited with {run.returncode}: {run.log[-500:]}")
            return run.figures()

        got = phase(errors, "recovery", restarts)
        if got:
            out.update(
                {
                    "recovery_cycles": got["cycles"],
                    "recovery_s_median": got["recovery_s_median"],
                    "recovery_s_max": got["recovery_s_max"],
                }
            )


def _figures(run: tuple[int | None, tuple[float, float, int] | None], suffix: str) -> dict[str, Any]:
    rate, got = run
    return {
        f"rate_per_s{suffix}": rate,
        f"p50_ms{suffix}": _num(got[0]) if got else None,
        f"p99_ms{suffix}": _num(got[1]) if got else None,
        f"latency_samples{suffix}": got[2] if got else None,
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["throughput"]:
        _throughput_child(sys.argv[2], float(sys.argv[3]))
    if sys.argv[1:2] == ["faust-bare"]:
        _faust_bare_child(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    sys.exit(main())
