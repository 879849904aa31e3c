"""Shared steps of the chaos suite: workers as real processes, the group's progress as the broker sees it, and
the final comparison of every incident version with the embedded runner on the same lines."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition

from rules.loader import load_rules
from saqshy.commands.kafka_cmd import live_context
from schemas import Incident
from schemas.topics import DEAD_LETTERS, INCIDENTS
from streams.dlq import MemoryDeadLetters
from streams.embedded import EmbeddedRunner
from streams.kafka.settings import KafkaSettings
from streams.kafka.worker import INPUT_TOPICS
from tests.kafka.helpers import produce, read_topic
from tests.kafka_broker import Broker
from tests.support import CATALOG

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "build" / "chaos.jsonl"
PARTITIONS = 3
PROBES: list[tuple[float, object]] = []  # (when, committed sum or the error): the last ones explain a timeout
LOGS: dict[int, Path] = {}  # worker pid -> its log: a timeout's message ends with the log's tail


@dataclass(frozen=True)
class Cycle:
    index: int
    recovery_s: float  # from the fault's end (broker up, worker restarted) to the next committed input offset


@dataclass(frozen=True)
class RestartRun:
    group: str
    cycles: list[Cycle]
    sigterm_s: float  # from SIGTERM to the worker's exit, after the last cycle
    returncode: int | None
    log: str

    def figures(self) -> dict[str, float | int]:
        recovery = [c.recovery_s for c in self.cycles]
        return {
            "cycles": len(recovery),
            "recovery_s_median": round(statistics.median(recovery), 2),
            "recovery_s_max": round(max(recovery), 2),
            "sigterm_s": round(self.sigterm_s, 2),
        }


def shares(lines: list[bytes], n: int) -> list[list[bytes]]:
    """The stream in n consecutive shares, produced one by one between faults."""
    return [lines[i * len(lines) // n : (i + 1) * len(lines) // n] for i in range(n)]


def fault_cycles(
    settings: KafkaSettings,
    group: str,
    worker: subprocess.Popen[bytes],
    after: list[list[bytes]],
    fault: Callable[[], None],
    what: str,
) -> list[Cycle]:
    """One cycle per share in `after`: `fault()` (it returns once the fault is over), then the share is produced,
    and the cycle's recovery is the time from the fault's end to the group's next committed input offset."""
    cycles: list[Cycle] = []
    for i, share in enumerate(after):
        before = committed_inputs(settings, group)
        fault()
        over = time.monotonic()
        produce(settings, [CATALOG], share)
        wait_for(
            lambda before=before: committed_inputs(settings, group) > before,  # type: ignore[misc]
            120,
            f"{what} {i}: no commit after it",
            worker,
        )
        cycles.append(Cycle(i, time.monotonic() - over))
    return cycles


def broker_restarts(
    broker: Broker, settings: KafkaSettings, lines: list[bytes], cycles: int, tmp: Path, *extra: str
) -> RestartRun:
    """A live worker (its own process) owns the partitions; the broker is stopped and started `cycles` times
    while it runs, a new share of the stream produced after each start; once it has caught up it gets SIGTERM.
    Each cycle's recovery: from the broker back up to the group's next committed input offset."""
    group = f"chaos-{uuid.uuid4().hex[:8]}"
    chunks = shares(lines, cycles + 1)
    produce(settings, [CATALOG], chunks[0])
    log = tmp / f"{group}.log"
    worker = start_worker(settings, group, log, *extra)

    def restart() -> None:
        broker.down()  # the worker owns partitions and has a transaction open
        time.sleep(2.0)
        broker.up()

    try:
        wait_for(lambda: committed_inputs(settings, group) > 0, 120, "the worker committed nothing", worker)
        try:
            results = fault_cycles(settings, group, worker, chunks[1:], restart, "broker restart")
        except AssertionError as exc:  # what the broker said too: a coordinator that never loaded shows there
            with contextlib.suppress(OSError):  # kept with the test's files; the broker's go with its session
                shutil.copy(broker.data / "server.log", tmp / "broker-server.log")
                for part in (broker.data / "log").glob("__*"):  # offsets and transaction state, for kafka-dump-log
                    shutil.copytree(part, tmp / "broker-log" / part.name)
            said = tail(broker.data / "server.log", 40, only="WARN")
            raise AssertionError(
                f"{exc}\nthe broker's warnings, the last ones:\n{said}\n{transactions(broker.bootstrap)}"
            ) from None
        ends = end_offsets(settings)
        wait_for(lambda: committed_inputs(settings, group) >= ends, 180, "the worker did not catch up", worker)
        stopping = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.wait(120)
        stopped_s = time.monotonic() - stopping
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    return RestartRun(group, results, stopped_s, worker.returncode, log.read_text(errors="replace"))


def transactions(bootstrap: str) -> str:
    """The broker's own view of open and hanging transactions (Kafka's kafka-transactions tool): what a
    timeout on unreadable committed offsets needs explained."""
    lib = ROOT / "infra" / "kafka" / "target" / "lib" / "*"
    out = []
    for args in (["list"], ["find-hanging", "--broker-id", "1"]):
        cmd = ["java", "-cp", str(lib), "org.apache.kafka.tools.TransactionsCommand"]
        try:
            done = subprocess.run([*cmd, "--bootstrap-server", bootstrap, *args], capture_output=True, timeout=60)
            out.append(f"kafka-transactions {' '.join(args)}:\n{done.stdout.decode()}{done.stderr.decode()[-2000:]}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            out.append(f"kafka-transactions {' '.join(args)}: {exc}")
    return "\n".join(out)


def start_worker(
    settings: KafkaSettings, group: str, log: Path, *extra: str, instance: str = "w1"
) -> subprocess.Popen[bytes]:
    """`saqshy worker` as its own process (so it can be killed), its stderr in `log`."""
    env = dict(
        os.environ,
        SAQSHY_KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
        SAQSHY_KAFKA_TOPIC_PREFIX=settings.topic_prefix,
        PYTHONFAULTHANDLER="1",
    )
    cmd = [sys.executable, "-m", "saqshy", "--log-format", "text", "worker", "--rules", str(CATALOG)]
    cmd += ["--group", group, "--instance-id", instance, "--snapshot-interval", "0.5", *extra]
    with log.open("ab") as out:
        worker = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=out, cwd=ROOT)
    LOGS[worker.pid] = log
    return worker


def tail(
    path: Path, lines: int, noise: tuple[str, ...] = ("Disconnected", "Connection refused"), only: str = ""
) -> str:
    """The last `lines` lines of a log that say something (librdkafka's reconnect chatter left out), those that
    contain `only` if given."""
    if not path.exists():
        return f"(no {path})"
    text = path.read_text(errors="replace").splitlines()
    kept = [ln for ln in text if ln.strip() and only in ln and not any(n in ln for n in noise)]
    return "\n".join(kept[-lines:])


def _inputs(settings: KafkaSettings) -> list[TopicPartition]:
    return [TopicPartition(settings.topic(t), p) for t in INPUT_TOPICS for p in range(PARTITIONS)]


def committed_inputs(settings: KafkaSettings, group: str) -> int:
    """The group's committed input offsets, summed over every input partition (0 while the broker is away)."""
    consumer = Consumer(settings.consumer_config(group))
    try:
        got = sum(max(tp.offset, 0) for tp in consumer.committed(_inputs(settings), timeout=5))
        PROBES.append((time.monotonic(), got))
        return got
    except KafkaException as exc:
        PROBES.append((time.monotonic(), str(exc.args[0])))
        return 0
    finally:
        consumer.close()


def end_offsets(settings: KafkaSettings) -> int:
    consumer = Consumer(settings.consumer_config("chaos-ends"))
    try:
        return sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in _inputs(settings))
    finally:
        consumer.close()


def wait_for(
    done: Callable[[], bool], timeout: float, what: str, worker: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if worker is not None and worker.poll() is not None:
            raise AssertionError(f"{what}: the worker exited with {worker.returncode}")
        if time.monotonic() > deadline:
            said = ""
            if worker is not None:  # PYTHONFAULTHANDLER: where it hangs goes into its log
                worker.send_signal(signal.SIGABRT)
                worker.wait(10)
                if worker.pid in LOGS:
                    said = f"\nthe worker's log ({LOGS[worker.pid]}), its end:\n{tail(LOGS[worker.pid], 60)}"
            raise AssertionError(f"{what} (within {timeout:.0f} s); last committed probes: {PROBES[-3:]}{said}")
        time.sleep(0.5)


def compare_with_embedded(settings: KafkaSettings, group: str, lines: list[bytes], tmp: Path, *extra: str) -> int:
    """Finish the stream with a bounded worker of the same group (and engine: `extra` as the workers had it), then
    compare every incident version on the incidents topic with the embedded runner's: the same set, none twice,
    the latest of each equal. Returns how many versions were compared."""
    finisher = start_worker(settings, group, tmp / "finisher.log", "--bounded", *extra)
    finisher.wait(300)
    finished = (tmp / "finisher.log").read_text(errors="replace")
    assert finisher.returncode == 0, finished[-3000:]
    assert " starting: " in finished and " events processed " in finished, "no start line or summary"

    updates = [Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS)]
    versions = [(u.id, u.version) for u in updates]
    twice = len(versions) - len(set(versions))
    reference: list[Incident] = []
    context = live_context(True, None, None, None)  # the worker enriches by default, with the same context
    EmbeddedRunner(load_rules([CATALOG]), MemoryDeadLetters(), context=context).run(lines, reference.append)
    expected = {(u.id, u.version) for u in reference}
    assert len(expected) > 10
    lost, extra = expected - set(versions), set(versions) - expected
    twice_ids = sorted({v for v in versions if versions.count(v) > 1})
    dead: list[dict[str, object]] = []
    if twice or lost or extra:  # what a reader needs to see why: the incidents and the dead letters' reasons
        dead = [orjson.loads(v) for v in read_topic(settings, DEAD_LETTERS)]
        (tmp / "diff.json").write_bytes(
            orjson.dumps(
                {
                    "lost": [u.model_dump(mode="json") for u in reference if (u.id, u.version) in lost],
                    "extra": [u.model_dump(mode="json") for u in updates if (u.id, u.version) in extra],
                    "dead_letter_reasons": sorted({str(d.get("reason", ""))[:80] for d in dead}),
                },
                option=orjson.OPT_INDENT_2,
            )
        )
    if (twice, lost, extra) != (0, set(), set()):
        # late dead letters mean the input reached the worker further out of event-time order than the rules'
        # allowed lateness: the producer's order barriers (EventProducer.order_slice) exist to prevent that
        late = sum(1 for d in dead if d.get("stage") == "late")
        raise AssertionError(
            f"{twice} versions twice {twice_ids[:5]}, {len(lost)} lost {sorted(lost)[:5]}, "
            f"{len(extra)} not the embedded runner's {sorted(extra)[:5]} (of {len(expected)}); "
            f"{late} late dead letters"
        )
    newest: dict[str, Incident] = {}
    for u in updates:
        if u.id not in newest or u.version > newest[u.id].version:
            newest[u.id] = u
    for inc in reference:
        if inc.version == max(v for i, v in expected if i == inc.id):
            assert newest[inc.id].model_dump(exclude={"updated_time"}) == inc.model_dump(exclude={"updated_time"})
    return len(versions)


def report(scenario: str, **figures: object) -> None:
    """One JSON line per scenario run, printed and kept in build/chaos.jsonl (the closing figures)."""
    line = json.dumps({"chaos": scenario, **figures})
    print(line)
    REPORT.parent.mkdir(exist_ok=True)
    with REPORT.open("a") as out:
        out.write(line + "\n")
