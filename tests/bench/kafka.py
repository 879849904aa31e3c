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
Prints one JSON line. BENCH_KAFKA_HOURS (default 4) sets the simulated stream; SAQSHY_TEST_KAFKA=host:port uses a
running broker instead of starting one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
from confluent_kafka import Consumer

from rules.loader import load_rules
from schemas import Incident
from schemas.topics import INCIDENTS
from streams.kafka.faust_worker import FaustWorker
from streams.kafka.produce import EventProducer
from streams.kafka.settings import KafkaSettings
from streams.kafka.topics import apply, load_spec
from streams.kafka.worker import INPUT_TOPICS, Worker, WorkerConfig
from streams.partitioning import plan_for
from tests.bench.core import stream
from tests.kafka_broker import broker_session, unique

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "rules" / "catalog"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fresh(bootstrap: str, partitions: int) -> KafkaSettings:
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=unique("bench") + ".")
    apply(settings, load_spec(partitions=partitions))
    return settings


def consumer_only(settings: KafkaSettings, expected: int) -> float:
    consumer = Consumer(settings.consumer_config(unique("plain")))
    consumer.subscribe([settings.topic(t) for t in INPUT_TOPICS])
    n = 0
    start = None
    while n < expected:
        for msg in consumer.consume(2000, 0.5):
            if msg.error() is None:
                if start is None:
                    start = time.perf_counter()
                orjson.loads(msg.value() or b"null")
                n += 1
    elapsed = time.perf_counter() - (start or time.perf_counter())
    consumer.close()
    return n / elapsed


def throughput(settings: KafkaSettings, engine: str) -> tuple[float, int]:
    config = WorkerConfig(rules=(CATALOG,), group=unique("bench"), bounded=True, snapshot_interval=5.0)
    worker = FaustWorker(config, settings) if engine == "faust" else Worker(config, settings)
    worker.run()
    end = time.monotonic()
    return worker.processed / (end - (worker.first_event_at or end)), worker.processed


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
    settings = fresh(bootstrap, 3)
    env = dict(os.environ, SAQSHY_KAFKA_BOOTSTRAP_SERVERS=bootstrap, SAQSHY_KAFKA_TOPIC_PREFIX=settings.topic_prefix)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "saqshy",
            "worker",
            "--rules",
            str(CATALOG),
            "--group",
            unique("lat"),
            "--engine",
            engine,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
    stop.set()
    reader.join(5)
    worker.terminate()
    worker.wait(30)
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
        return float("nan"), float("nan"), 0
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))], len(samples)


def main() -> None:
    hours = int(os.environ.get("BENCH_KAFKA_HOURS", "4"))
    path = stream(hours, 1)
    lines = [line.rstrip(b"\n") for line in path.open("rb") if line.strip()]
    with broker_session() as broker:
        bootstrap = broker if isinstance(broker, str) else broker.bootstrap
        settings = fresh(bootstrap, 3)
        log(f"kafka bench: producing {len(lines):,} events")
        producer = EventProducer(settings, plan_for(load_rules([CATALOG]), "single"))
        stats = producer.run(lines)
        inputs = sum(n for topic, n in stats.per_topic.items() if topic in INPUT_TOPICS)
        log("kafka bench: plain consumer")
        plain = consumer_only(settings, inputs)
        log("kafka bench: confluent-kafka worker (default engine) over the backlog")
        rate, processed = throughput(settings, "confluent")
        log("kafka bench: Faust worker over the backlog")
        rate_f, _ = throughput(settings, "faust")
        # the simulated city makes ~16 events/s on average; Almaty with every traffic camera reading plates ~350
        cap = float(os.environ.get("BENCH_KAFKA_RATE", "1000"))
        sustained, sustained_f = round(min(rate * 0.5, cap)), round(min(rate_f * 0.5, cap))
        stress = round(min(rate * 0.5, float(os.environ.get("BENCH_KAFKA_STRESS", "2500"))))
        log(f"kafka bench: latency at {sustained} and {stress} events/s (confluent), {sustained_f} events/s (Faust)")
        probed = with_probes(lines)
        p50, p99, n = latency(bootstrap, probed, sustained, 40.0, "confluent")
        p50_s, p99_s, n_s = latency(bootstrap, probed, stress, 40.0, "confluent")
        p50_f, p99_f, n_f = latency(bootstrap, probed, sustained_f, 40.0, "faust")
    print(
        json.dumps(
            {
                "bench": "kafka",
                "engine": "confluent",
                "events": processed,
                "events_per_s": round(rate),
                "consumer_only_per_s": round(plain),
                "ratio": round(rate / plain, 3),
                "rate_per_s": sustained,
                "p50_ms": round(p50, 1),
                "p99_ms": round(p99, 1),
                "latency_samples": n,
                "rate_per_s_stress": stress,
                "p50_ms_stress": round(p50_s, 1),
                "p99_ms_stress": round(p99_s, 1),
                "latency_samples_stress": n_s,
                "events_per_s_faust": round(rate_f),
                "ratio_faust": round(rate_f / plain, 3),
                "rate_per_s_faust": sustained_f,
                "p50_ms_faust": round(p50_f, 1),
                "p99_ms_faust": round(p99_f, 1),
                "latency_samples_faust": n_f,
            }
        )
    )


if __name__ == "__main__":
    main()
