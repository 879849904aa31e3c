"""The live worker on Kafka (confluent-kafka): event topics in, incidents, alerts and dead letters out.

Exactly-once within Kafka: outputs, consumed offsets and core snapshots are written in one transaction per
commit interval. Partition p of every event topic belongs to one PartitionRuntime (topics are
co-partitioned, the range assignor keeps partition numbers together). A snapshot of each partition is
written every `snapshot_interval` to the compacted state topic with the input offsets it reflects; on
assignment the worker restores it, seeks back to those offsets and replays up to the group's committed
offsets with outputs suppressed (they were committed already; the core is deterministic), then goes live.
Reference topics are read whole by every worker and applied to every partition.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from schemas import DeadLetter
from schemas.topics import EVENT_TOPICS
from streams.embedded import ContextOptions
from streams.kafka import bgsnapshot
from streams.kafka.bgsnapshot import SnapshotFailed, SnapshotJob
from streams.kafka.metrics import WorkerMetrics
from streams.kafka.offsets import deleted_before_read, latest_by_key, offsets_on_record
from streams.kafka.outputs import OutputTopics
from streams.kafka.produce import OBSERVED_HEADER, REPLICA_HEADER
from streams.kafka.reference import ReferenceLog, ReferenceReader
from streams.kafka.rulewatch import RuleWatcher
from streams.kafka.settings import KafkaSettings
from streams.kafka.topics import STATE, UNSORTED
from streams.kafka.txn import ProducerUnavailable, TransactionAborted, Transactions
from streams.live import AlignedMerge, Output, PartitionRuntime
from streams.partitioning import Mode, plan_for

log = logging.getLogger("saqshy.worker")
CHILD_FAILURES = 3  # snapshot children failing in a row before the worker snapshots on its loop instead
CHILD_TIMEOUT = 60.0  # seconds a snapshot child may take (a city's state: well under one)
GC_THAW_SNAPSHOTS = 120  # at the default 5 s between snapshots: every 10 minutes
INPUT_TOPICS = (*(t for k, t in EVENT_TOPICS.items() if not k.startswith("ref.")), UNSORTED)


class WorkerError(RuntimeError):
    pass


def last_commit_failed(why: str, bounded: bool, logger: logging.Logger) -> None:
    """Either engine's last commit (on a stop, or at a bounded run's end) failed. Its transactions never commit
    (the broker aborts them, or the partition's next producer fences them), so a stop loses nothing: it says so
    and ends. A bounded run that could not commit its end has not done its work: it fails."""
    if bounded:
        raise WorkerError(f"the last commit failed ({why}): run the bounded worker again")
    logger.warning(
        "the last commit failed (%s): the partitions' next owner redoes their events since their last commit", why
    )


@dataclass(frozen=True)
class WorkerConfig:
    rules: tuple[Path, ...]
    group: str = "saqshy-worker"
    instance_id: str = "0"
    partitioning: Mode = "single"
    cell_m: float | None = None
    # seconds: bounds the latency of read_committed consumers. A commit blocks the loop for a broker round trip
    # or three (~10 ms idle, tens under load), so the interval is stretched to at least 2x the recent commit time
    # (commits then take at most a third of the loop, and load on the broker slows commits, not the worker);
    # in a backlog (full polls) it is 4x
    commit_interval: float = 0.025
    snapshot_interval: float = 5.0
    # periodic snapshots are serialized in a forked child (streams.kafka.bgsnapshot), off the loop; False (or
    # no fork on the platform): on the loop, which stops it for 100-200 ms per snapshot of a city's state
    snapshot_in_child: bool = True
    reload_interval: float = 2.0
    batch: int = 2000
    # a partition with nothing to read for this long follows the event time of the worker's busiest partition,
    # so a quiet district's absence timers fire (None: never; bounded runs fire everything at the end anyway)
    idle_after: float | None = 5.0
    bounded: bool = False  # stop at the end offsets seen when partitions are assigned (replays, tests)
    # a run that processes nothing for this long while input waits: a bounded run fails, naming the inputs it
    # waits for (BoundedWatch); a live worker says so, again every time as long (LiveWatch)
    bounded_stall: float = 60.0
    metrics_port: int | None = None
    context: ContextOptions | None = None  # enrichment and public alerts, as `saqshy replay --context`
    # the most messages a partition's event-time merge holds; past it, order yields to progress (late events).
    # The consumer's fetch queue is FIFO across partitions, so in a backlog one topic can deliver thousands of
    # messages before another delivers its first. Flow control: an input with `pause_at` messages waiting is
    # paused (librdkafka then delivers nothing more of it) until it drains to a quarter of that, one poll takes at most
    # `pause_at` messages, so no input holds more than 2 x pause_at and all of them (<= 8) fit in the buffer.
    merge_buffer: int = 50_000
    # Static group membership (group.instance.id = group.instance_id): a worker restarted under its id gets its
    # partitions back at once, without a rebalance and without waiting for its old session to expire. A worker
    # that does not come back gives its partitions up after the session timeout: librdkafka heartbeats from its
    # own thread, so a busy or collecting Python loop does not miss them, and 10 s is safe (librdkafka: 45 s).
    session_timeout: float = 10.0
    # restores failing this long (the group's offsets unreadable): name the likely hanging transaction and the fix
    hanging_after: float = 60.0
    # restores failing this long (a restore tries for 5 s): no transaction of ours can be legitimately open then
    # (a failed commit aborted it, or a new producer's init fenced it), so close one the broker left hanging
    reclose_after: float = 5.0

    @property
    def pause_at(self) -> int:
        return max(1, self.merge_buffer // 20)


# seconds the last commit of a run that ended by itself (bounded, or `stop_after`) may retry a broker that is away
FINAL_RETRY_S = 15.0
STALL_PROBE = 5.0  # seconds without progress before a bounded run asks the broker whether its input still exists


class BoundedWatch:
    """A bounded run ends with its output or fails with an error that says what it waited for, never idles.

    It waits for end offsets, and an offset can stop coming: the broker deleted the records before they were
    read (time retention counts from the records' timestamps, their event time, so history older than the
    retention goes within minutes; the consumer then resets to the new log start without a word), a partition
    is not this worker's, or a produce or commit never completes. `check` is called by the run loop with a
    progress mark: when it stops changing, the broker is asked every STALL_PROBE seconds where the logs of the
    pending inputs start; after `stall_after` seconds, or past the deadline, the run fails."""

    def __init__(self, stall_after: float, stop_after: float | None):
        now = time.monotonic()
        self.stall_after = stall_after
        self.stop_after = stop_after
        self.deadline = None if stop_after is None else now + stop_after
        self._mark: object = None
        self._progress_at = self._probed_at = now

    def check(
        self,
        mark: object,
        pending: Callable[[], dict[str, tuple[int, int, int]]],
        log_starts: Callable[[dict[str, int]], dict[str, int]],
        context: Callable[[], str] = lambda: "",
    ) -> None:
        """`pending()`: "topic:p" -> (next offset to process, next offset to read, end offset) of every input not
        processed to its end; `log_starts` gives the inputs whose log now starts past the next offset to read
        (streams.kafka.offsets.deleted_before_read)."""
        now = time.monotonic()
        if mark != self._mark:
            self._mark, self._progress_at = mark, now
        idle = now - self._progress_at
        if idle < STALL_PROBE and (self.deadline is None or now < self.deadline):
            return
        waiting = pending()
        if waiting and now - self._probed_at >= STALL_PROBE:
            self._probed_at = now
            gone = log_starts({k: read for k, (_, read, _) in waiting.items()})
            if gone:
                lost = ", ".join(f"{k} offsets {waiting[k][1]}..{low - 1}" for k, low in sorted(gone.items()))
                raise WorkerError(
                    f"bounded run cannot finish: the broker deleted input records before they were read ({lost}); "
                    "records carry their event time and time retention counts from it: replay history into "
                    "topics with retention.ms=-1"
                )
        if idle >= self.stall_after:
            raise WorkerError(
                f"bounded run stalled: nothing processed for {idle:.0f} s; {describe_pending(waiting)}{context()}"
            )
        if self.deadline is not None and now >= self.deadline:
            raise WorkerError(
                f"bounded run did not finish within {self.stop_after:.0f} s; {describe_pending(waiting)}{context()}"
            )


class LiveWatch:
    """A live worker never stalls without a word. It has processed nothing for `warn_after` seconds while some
    input holds records it has not processed (not fetched although the broker has them, or fetched and held):
    it says what it waits for, again every `warn_after` while that lasts. The lag metric shows such a stall;
    this names the inputs and what holds them (a partition left paused once stalled a worker silently)."""

    def __init__(self, warn_after: float):
        now = time.monotonic()
        self.warn_after = warn_after
        self._mark: object = None
        self._progress_at = self._probed_at = now
        self._warned_at = now - warn_after

    def check(
        self,
        mark: object,
        pending: Callable[[], dict[str, tuple[int, int, int]]],
        context: Callable[[], str] = lambda: "",
    ) -> str | None:
        """`pending()` as BoundedWatch's, with the broker's end offset as the end; the warning, when one is due."""
        now = time.monotonic()
        if mark != self._mark:
            self._mark, self._progress_at = mark, now
            return None
        idle = now - self._progress_at
        if idle < self.warn_after or now - self._warned_at < self.warn_after or now - self._probed_at < STALL_PROBE:
            return None
        self._probed_at = now  # an idle stream (nothing to read) is the common case: asked every STALL_PROBE
        waiting = pending()
        if not waiting:
            return None
        self._warned_at = now
        message = f"nothing processed for {idle:.0f} s while input waits: {describe_pending(waiting)}{context()}"
        log.warning("%s", message)
        return message


def describe_pending(pending: dict[str, tuple[int, int, int]]) -> str:
    if not pending:
        return "no input pending"
    return "waiting for " + ", ".join(
        f"{k} processed to {done} of {end}" + (f" (read to {read})" if read > done else "")
        for k, (done, read, end) in sorted(pending.items())
    )


def commit_every(base: float, cost: float, backlog: bool) -> float:
    """Seconds between transaction commits: `base`, stretched so that commits (each blocking the loop for
    `cost` seconds, smoothed) take at most a third of the worker's time; 4x that in a backlog."""
    return max(base, 2 * cost) * (4 if backlog else 1)


@dataclass
class Assigned:
    runtime: PartitionRuntime
    suppress_until: dict[str, int] = field(default_factory=dict)  # "topic:p" -> committed offset
    merge: AlignedMerge = field(default_factory=AlignedMerge)
    dirty: bool = False
    fed_at: float = field(default_factory=time.monotonic)  # last input (or idle advance), monotonic
    # an idle advance emitted, or a correction was sent: the state must commit with the outputs
    must_snapshot: bool = False


def _tp(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def _split(key: str) -> tuple[str, int]:
    topic, _, p = key.rpartition(":")
    return topic, int(p)


def hanging_hint(group: str, settings: KafkaSettings, since: float, exc: KafkaException) -> str:
    """What to say when the group's committed offsets stay unreadable (since `since`, monotonic): which
    transaction is probably hanging, and the commands that find and abort it."""
    servers = settings.bootstrap_servers
    return (
        f"the committed offsets of group {group!r} have been unreadable for {time.monotonic() - since:.0f} s "
        f"({exc.args[0]}): a transaction that wrote them is probably hanging. Find it with `kafka-transactions.sh "
        f"--bootstrap-server {servers} find-hanging --broker-id <id>` (or `list` and `describe --transactional-id "
        f"<id>`) and abort it with `kafka-transactions.sh --bootstrap-server {servers} abort --topic "
        "__consumer_offsets --partition <p> --start-offset <offset>`"
    )


class Worker:
    def __init__(
        self, config: WorkerConfig, settings: KafkaSettings, on_output: Callable[[Output], None] | None = None
    ):
        self.config = config
        self.settings = settings
        self.on_output = on_output
        self.metrics = WorkerMetrics(config.metrics_port)
        self.rules = RuleWatcher(config.rules, config.partitioning, config.cell_m, self.metrics)
        self.ruleset = self.rules.load()
        self.plan = plan_for(self.ruleset, config.partitioning, config.cell_m)
        self.outputs = OutputTopics(settings, self.metrics)
        self.parts: dict[int, Assigned] = {}
        self.reference = ReferenceLog()  # what a new or restored partition replays (rules.core.reference)
        self.running = True
        self.ends: dict[str, int] = {}  # bounded mode: "topic:p" -> end offset at assignment
        self.done: dict[str, int] = {}  # "topic:p" -> next offset to process
        self.fetched: dict[str, int] = {}  # "topic:p" -> next offset to fetch
        self._highs: dict[str, int] = {}  # "topic:p" -> end offset, as of this loop
        self._keys: dict[tuple[str, int], str] = {}  # (topic, p) -> "topic:p", made once
        self._asked: dict[str, tuple[float, int]] = {}  # "topic:p" -> (when, end offset) asked of the broker
        self.paused: set[tuple[str, int]] = set()  # inputs paused by the merge's flow control
        self.first_event_at: float | None = None  # monotonic time of the first processed event (benchmarks)
        self.processed = 0
        t = settings.topic
        self.topics = {"in": [t(x) for x in INPUT_TOPICS]}
        self.unsorted = t(UNSORTED)
        self.merged = [x for x in self.topics["in"] if x != self.unsorted]
        self.state_topic = t(STATE)
        self._consumer_config = settings.consumer_config(
            config.group,
            **{
                "isolation.level": "read_committed",
                "partition.assignment.strategy": "range",
                "group.instance.id": f"{config.group}.{config.instance_id}",
                "session.timeout.ms": int(config.session_timeout * 1000),
                "fetch.wait.max.ms": 20,  # a quiet input answers fast, so the merge never waits long
            },
        )
        self.consumer = Consumer(self._consumer_config)
        self._consumer_dead = False  # a fatal consumer error: it is being replaced, its callbacks only drop state
        self._assignments = 0
        producer_config = settings.producer_config(
            **{
                "transactional.id": f"{config.group}.{config.instance_id}",
                # a worker killed with its transaction open leaves the group's offsets pending until the broker
                # aborts it: after this long (librdkafka: 60 s), not a minute of no commits for the whole group
                "transaction.timeout.ms": 10_000,
                "message.max.bytes": 64 * 1024 * 1024,
                "linger.ms": 2,
            }
        )
        self.txn = Transactions(
            lambda: Producer(producer_config),
            running=self._may_retry,
            on_abort=lambda reason: self.metrics.transactions.labels("aborted").inc(),
        )
        self._assigned: set[tuple[str, int]] = set()  # what the group gave this worker, as (topic, partition)
        self._unavailable: str | None = None  # why no transactional producer could be had while stopping
        self._finish_by: float | None = None  # monotonic: the last commit's retries end here (FINAL_RETRY_S)
        self._rewind_due = False  # a transaction aborted and the partitions' state is not yet restored
        self._restore_failing_since: float | None = None  # monotonic: since when a restore keeps failing
        self._closed_hanging_at = 0.0  # monotonic: the last try of _close_hanging
        # "topic:p" -> the input offset our last successful commit of that partition wrote (kept while we own it)
        self._committed: dict[str, int] = {}
        self._hanging_hinted = False
        self._pending = False
        self._last_commit = self._last_snapshot = self._last_reload = time.monotonic()
        self._commit_cost = 0.0  # seconds a commit blocks the loop, smoothed
        self._snapshots_since_thaw = 0
        self._job: SnapshotJob | None = None  # periodic snapshots being serialized in a child
        self._fork_failed = False
        self._child_failures = 0  # in a row

    # --- rules and reference ------------------------------------------------------------------
    def maybe_reload(self) -> bool:
        ruleset = self.rules.changed()
        if ruleset is None:
            return False
        self._cancel_snapshots()  # of the runtimes replaced now
        for part in self.parts.values():  # the snapshot carries the reference tables across
            part.runtime = part.runtime.with_rules(self.rules.load())
        self.ruleset = ruleset
        self.rules.applied(ruleset)
        return True

    def _read_reference(self, reader: ReferenceReader, until_end: bool) -> None:
        for item in reader.read(until_end):
            if isinstance(item, DeadLetter):
                self._emit(Output(dead_letters=[item]))
                continue
            self.reference.add(item, item.time.timestamp())
            for part in self.parts.values():
                part.runtime.apply_reference(item)
        self.metrics.reference_records.set(len(self.reference))

    # --- state ---------------------------------------------------------------------------------
    def _state_key(self, partition: int) -> bytes:
        return f"{self.config.group}/{partition}".encode()

    def _read_snapshots(self, partitions: set[int]) -> dict[int, bytes]:
        """The newest committed snapshot of each partition, from the compacted state topic."""
        conf = self.settings.consumer_config(f"{self.config.group}.state", **{"isolation.level": "read_committed"})
        consumer = Consumer(conf)
        try:
            meta = consumer.list_topics(self.state_topic, timeout=10)
            tps = [TopicPartition(self.state_topic, p) for p in meta.topics[self.state_topic].partitions]
            wanted = {self._state_key(p): p for p in partitions}
            return {wanted[k]: v for k, v in latest_by_key(consumer, tps, set(wanted)).items()}
        finally:
            consumer.close()

    def _on_assign(self, consumer: Consumer, tps: list[TopicPartition]) -> None:
        self._assigned |= {(tp.topic, tp.partition) for tp in tps}
        self._assignments += 1  # a new assignment is fetched from scratch: LiveWatch's idle time starts anew
        log.info("assigned %d input partitions: %s", len(tps), sorted({tp.partition for tp in tps}))
        try:
            self._restore(consumer, tps)
        except KafkaException as exc:  # the broker is away: the loop restores them once it answers
            log.warning("cannot restore the assigned partitions yet: %s", exc.args[0])
            self._rewind_due = True
            self._restore_failing_since = self._restore_failing_since or time.monotonic()

    def _restore(self, consumer: Consumer, tps: list[TopicPartition]) -> None:
        """Each partition's state from its newest snapshot, its inputs from the snapshot's offsets, outputs
        suppressed up to the group's committed offsets; then the consumer reads from there."""
        numbers = {tp.partition for tp in tps} - set(self.parts)
        snapshots = self._read_snapshots(numbers) if numbers else {}
        committed = {_tp(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, timeout=5)}
        for p in numbers:
            # the wall clock judges event times (docs/semantics.md, 8): no event more than max_future ahead of
            # it is correlated, so no single device with a wrong clock can move the watermark; nothing is held
            runtime = PartitionRuntime(self.rules.load(), self.config.context, clock=time.time)
            part = Assigned(runtime, merge=AlignedMerge(self.config.merge_buffer))
            if p in snapshots:
                offsets = runtime.restore(snapshots[p])
                for tp in tps:
                    key = _tp(tp.topic, tp.partition)
                    if tp.partition != p:
                        continue
                    start = offsets.get(key, 0)
                    tp.offset = start
                    self.done[key] = start
                    if committed.get(key, OFFSET_INVALID) > start:
                        part.suppress_until[key] = committed[key]
                log.info("partition %d restored from its snapshot; replaying %s", p, part.suppress_until or "nothing")
            for _, record in self.reference.records():
                runtime.apply_reference(record)
            self.parts[p] = part
        for tp in tps:
            if tp.partition in numbers and tp.partition not in snapshots and tp.offset < 0:
                key = _tp(tp.topic, tp.partition)
                offset = committed.get(key, OFFSET_INVALID)
                if offset > 0:
                    # inputs committed before the partition's first snapshot (a fault right after the start): the
                    # state is rebuilt from the log's start, the committed outputs suppressed as after a restore
                    tp.offset = OFFSET_BEGINNING
                    self.done[key] = 0
                    self.parts[tp.partition].suppress_until[key] = offset
                elif offset == 0:
                    self.done[key] = 0
        if self.config.bounded:
            for tp in tps:
                self.ends[_tp(tp.topic, tp.partition)] = consumer.get_watermark_offsets(tp, 10)[1]
        consumer.assign(tps)
        self.metrics.partitions.set(len(self.parts))

    def _on_revoke(self, consumer: Consumer, tps: list[TopicPartition]) -> None:
        log.info("revoked %d input partitions: %s", len(tps), sorted({tp.partition for tp in tps}))
        if not self._consumer_dead:
            self.commit(snapshot=True)  # a failure aborts: the next owner restores the committed state either way
        self._drop(tps)
        for tp in tps:  # the next owner commits them from here
            self._committed.pop(_tp(tp.topic, tp.partition), None)
        consumer.unassign()

    def _on_lost(self, consumer: Consumer, tps: list[TopicPartition]) -> None:
        """The session expired (the broker away longer than the session timeout): another member may own these
        partitions now, so nothing of the open transaction may commit."""
        log.warning("lost %d input partitions (session expired)", len(tps))
        if self._pending:
            self._abort("partitions lost")
        self._drop(tps)
        consumer.unassign()

    def _drop(self, tps: list[TopicPartition]) -> None:
        self._cancel_snapshots()
        self._unpause({(tp.topic, tp.partition) for tp in tps})
        for p in {tp.partition for tp in tps}:
            self.parts.pop(p, None)
            if self.running:  # handed to another worker; at shutdown the last values stay for a final scrape
                self.metrics.forget_partition(p)
        for tp in tps:
            for book in (self.done, self.fetched, self.ends):
                book.pop(_tp(tp.topic, tp.partition), None)
            self._assigned.discard((tp.topic, tp.partition))
        self._rewind_due = self._rewind_due and bool(self._assigned)
        self.metrics.partitions.set(len(self.parts))

    def _abort(self, reason: str) -> None:
        """Abort the open transaction; every partition's state goes back to what is committed."""
        try:
            self.txn.abort(reason)
        except ProducerUnavailable as exc:
            self._unavailable = str(exc)
            log.warning("%s", exc)
        self._rewind()

    def _unpause(self, inputs: set[tuple[str, int]]) -> None:
        """Resume these inputs where flow control paused them. librdkafka keeps a partition's pause through a
        revocation or loss and the next assignment of it, so a partition given up paused and given back never
        read again (a broker restart's two session losses in a row found this: the merge waited on it for good)."""
        held = inputs & self.paused
        if held and not self._consumer_dead:
            with contextlib.suppress(KafkaException, RuntimeError):  # RuntimeError: a consumer already closed
                self.consumer.resume([TopicPartition(t, p) for t, p in held])
        self.paused -= held

    def _rewind(self) -> None:
        """Forget every partition's uncommitted state; the loop restores it from the committed snapshot and
        offsets (`_try_restore`) before it reads on, so the aborted outputs are made again, exactly."""
        self._cancel_snapshots()  # a child's state may include the aborted transaction's inputs
        self.parts.clear()
        self.done.clear()
        self.fetched.clear()
        self._highs.clear()
        self._unpause(set(self.paused))
        self._pending = False
        self._rewind_due = bool(self._assigned)

    def _close_hanging(self) -> None:
        """Committed offsets that stay unreadable once our own open transaction was aborted (or fenced by a new
        producer's init): a transaction of ours that the broker left open on __consumer_offsets. Seen with
        Kafka 4.3 when a commit lands in the broker's shutdown window: the transaction coordinator records the
        commit complete, but the group coordinator never gets its marker, so the group's offsets stay
        "unstable" (tests/chaos/test_broker_restart.py found it; the broker's logs showed the offset records
        with no marker after them).

        A committed transaction of the same transactional id (the same producer id) that sends offsets to the
        group writes a commit marker that closes it. It sends what our last successful commit wrote, for the
        partitions we still own, so it moves nothing (the left-open records are that commit's or a later,
        aborted one's), and only where the group has no newer offset on record (read without requiring stable
        offsets). A worker that was restarted knows no last commit: `_hint_hanging` tells the operator."""
        since, now = self._restore_failing_since, time.monotonic()
        if since is None or now - since < self.config.reclose_after or now - self._closed_hanging_at < 10.0:
            return
        self._closed_hanging_at = now
        ours = {k: v for k, v in self._committed.items() if _split(k) in self._assigned}
        if not ours:
            return
        try:
            on_record = offsets_on_record(self.settings, self.config.group, list(ours))
            offsets = [TopicPartition(*_split(k), v) for k, v in ours.items() if on_record.get(k, -1) <= v]
            if offsets:
                self.txn.commit(offsets, self.consumer.consumer_group_metadata())
        except (KafkaException, TransactionAborted, ProducerUnavailable, TimeoutError) as exc:
            log.warning("closing a transaction left open on the group's offsets failed (%s); retrying", exc)
            return
        log.warning(
            "the group's committed offsets stayed unreadable for %.0f s: re-committed the last offsets of %d "
            "partitions to close a transaction the broker left open",
            now - since,
            len(offsets),
        )

    def _hint_hanging(self, exc: KafkaException) -> None:
        """The group's committed offsets stay unreadable while a transaction that wrote them is open. Ours time
        out after transaction.timeout.ms (10 s); one still open minutes later is a hanging transaction (a
        producer of another instance id, or a broker bug), which only an operator can abort: say how, once."""
        since = self._restore_failing_since
        if since is None or self._hanging_hinted or time.monotonic() - since < self.config.hanging_after:
            return
        self._hanging_hinted = True
        log.error(
            "%s; the worker retries every second meanwhile", hanging_hint(self.config.group, self.settings, since, exc)
        )

    def _subscribe(self) -> None:
        self.consumer.subscribe(
            self.topics["in"], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )

    def _replace_consumer(self, reason: str) -> None:
        """A fatal consumer error (e.g. a static member fenced after its session expired while the broker was
        away) ends that consumer for good: abort what it read into the open transaction, forget the
        uncommitted state, and join the group again with a new consumer under the same instance id."""
        log.warning("consumer failed for good (%s): joining the group again with a new consumer", reason)
        if self._pending:
            self._abort(f"consumer failed: {reason}")
        self._consumer_dead = True
        try:
            with contextlib.suppress(KafkaException, RuntimeError):
                self.consumer.close()
        finally:
            self._consumer_dead = False
        self._drop([TopicPartition(t, p) for t, p in self._assigned])
        self._rewind()
        self.consumer = Consumer(self._consumer_config)
        self._subscribe()

    def _try_restore(self) -> None:
        tps = [TopicPartition(t, p) for t, p in sorted(self._assigned)]
        try:
            self._restore(self.consumer, tps)
        except KafkaException as exc:
            log.warning("restoring %d input partitions failed (%s); retrying", len(tps), exc.args[0])
            self._restore_failing_since = self._restore_failing_since or time.monotonic()
            self._close_hanging()
            self._hint_hanging(exc)
            time.sleep(1.0)
            return
        self._rewind_due = False
        self._restore_failing_since = None
        log.info("restored %d partitions to their committed state", len(self.parts))

    def _processed(self, partition: int | None = None) -> dict[str, int]:
        """Next offset to process per input "topic:p": what commits and snapshots refer to (messages fetched
        but still waiting in a merge buffer are not processed, so a restart reads them again)."""
        return {k: v for k, v in self.done.items() if partition is None or int(k.rsplit(":", 1)[1]) == partition}

    def commit(self, snapshot: bool = False, background: bool = False) -> None:
        """Close the transaction: outputs, offsets and (when due, or `snapshot`) snapshots become visible
        together. `background`: periodic snapshots may be serialized in a child and go in a later transaction
        (streams.kafka.bgsnapshot); forced ones (after a correction or an idle advance), those at a revocation
        and the last one are written here. A failure aborts it (Transactions) and rewinds every partition to
        its committed state."""
        if self._rewind_due:
            return  # nothing uncommitted to keep: the state is being restored
        try:
            self._commit(snapshot, background)
        except TransactionAborted:
            if self.txn.in_doubt:  # the broker may have committed newer offsets than we know of
                self._committed.clear()
            self._rewind()
        except KafkaException as exc:  # a produce into a transaction in an error state
            self._abort(f"produce failed: {exc.args[0]}")
        except ProducerUnavailable as exc:  # stopping, and no new producer in one try: nothing more can commit
            self._unavailable = str(exc)
            log.warning("%s", exc)
            self._rewind()

    def _commit(self, snapshot: bool, background: bool = False) -> None:
        self._collect_snapshots()
        if snapshot and not background:
            self._cancel_snapshots()  # its partitions are dirty again: written here, as of now
        forced = [p for p, part in self.parts.items() if part.must_snapshot]
        if snapshot or forced:
            due = [p for p, part in self.parts.items() if part.dirty and (snapshot or part.must_snapshot)]
            if snapshot and background and self._fork_snapshots(due, forced):
                due = [p for p in due if p in forced]
            for p in due:
                part = self.parts[p]
                self._write_snapshot(p, part.runtime.snapshot(self._processed(p)))
                part.dirty = part.must_snapshot = False
                if self._job is not None:
                    self._job.superseded.add(p)  # the child's state of p is older than this one
            if snapshot:
                self._last_snapshot = time.monotonic()
                self._gc_after_snapshot()
        if not self._pending and not snapshot:
            return
        began = time.monotonic()
        positions = [TopicPartition(*_split(k), v) for k, v in self._positions()]
        self.txn.commit(positions, self.consumer.consumer_group_metadata())
        self._committed.update((_tp(tp.topic, tp.partition), tp.offset) for tp in positions)
        self.metrics.transactions.labels("committed").inc()
        self._pending = False
        now = time.monotonic()
        self._commit_cost += 0.2 * (now - began - self._commit_cost)
        self._last_commit = now

    def _write_snapshot(self, p: int, data: bytes) -> None:
        self.txn.produce(self.state_topic, data, self._state_key(p))
        self.metrics.state_bytes.labels(str(p)).set(len(data))
        self._pending = True

    def _fork_snapshots(self, due: list[int], forced: list[int]) -> bool:
        """Start a child serializing the due partitions that are not forced; False: write them here (fork is
        not available or failed). A child still running from the last interval: they wait for the next."""
        todo = [p for p in due if p not in forced]
        if not todo or self._fork_failed or not self.config.snapshot_in_child or not bgsnapshot.available():
            return False
        if self._job is not None:
            return True  # still dirty: the next interval takes them
        snapshots = {p: functools.partial(self.parts[p].runtime.snapshot, self._processed(p)) for p in todo}
        try:
            self._job = SnapshotJob.start(snapshots)
        except OSError as exc:  # e.g. ENOMEM under strict overcommit: said once, on the loop from here on
            log.warning("cannot fork for the snapshots (%s): writing them on the loop from now on", exc)
            self._fork_failed = True
            return False
        for p in todo:
            self.parts[p].dirty = False
        return True

    def _collect_snapshots(self) -> None:
        """A finished child's snapshots go into the open transaction (a failed child's partitions are due
        again at the next interval)."""
        job = self._job
        if job is None:
            return
        try:
            got = job.poll()
            if got is None and time.monotonic() - job.started > CHILD_TIMEOUT:
                job.cancel()  # stuck (a lock held at the fork?): killed, and its partitions due again
                raise SnapshotFailed(f"the snapshot child ran past {CHILD_TIMEOUT:.0f} s and was killed")
        except SnapshotFailed as exc:
            self._job = None
            self._child_failures += 1
            if self._child_failures >= CHILD_FAILURES:  # not a passing fault: on the loop from now on
                self._fork_failed = True
            log.warning(
                "background snapshot of partitions %s failed (%s); %s",
                sorted(job.partitions),
                exc,
                "writing snapshots on the loop from now on" if self._fork_failed else "retrying",
            )
            for p in job.partitions:
                if p in self.parts:
                    self.parts[p].dirty = True
            return
        if got is None:
            return
        self._job = None
        self._child_failures = 0
        self.metrics.snapshot_seconds.observe(time.monotonic() - job.started)
        for p, data in sorted(got.items()):
            if p in self.parts:
                self._write_snapshot(p, data)

    def _cancel_snapshots(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.cancel()
            for p in job.partitions - job.superseded:
                if p in self.parts:
                    self.parts[p].dirty = True

    def _positions(self) -> list[tuple[str, int]]:
        """The input offsets a commit records: what is processed, but never less than what is committed. While
        a restored partition replays (outputs suppressed), committing its replay position would move the
        group's offset back, and a second fault in the replay would then emit the suppressed outputs again."""
        floor: dict[str, int] = {}
        for part in self.parts.values():
            floor.update(part.suppress_until)
        return [(k, max(v, floor.get(k, v))) for k, v in self.done.items()]

    # --- output --------------------------------------------------------------------------------
    def _emit(self, out: Output) -> None:
        for rec in self.outputs.records(out):
            self.txn.produce(rec.topic, rec.value, rec.key, headers=rec.headers)
        if out and self.on_output is not None:
            self.on_output(out)
        self._pending = True

    # --- the loop ------------------------------------------------------------------------------
    def receive(self, msg: Message) -> None:
        """A fetched message: unsorted lines are judged at once, events wait for their turn in event time."""
        topic, partition = msg.topic() or "", msg.partition() or 0
        part = self.parts.get(partition)
        if part is None:
            return
        key = self._keys.get((topic, partition))
        if key is None:
            key = self._keys[(topic, partition)] = _tp(topic, partition)
        offset = msg.offset() or 0
        self.fetched[key] = offset + 1
        item = (msg, topic, partition, offset, key, time.monotonic())  # received: the latency histogram's start
        if topic == self.unsorted:
            self.process(part, item)
            part.fed_at = time.monotonic()
        else:  # ordered by the Kafka timestamp, in ms: the producer sets it to the event time
            part.merge.add(topic, msg.timestamp()[1], item)

    def release(self) -> None:
        for p, part in self.parts.items():
            if part.merge.buffered:
                n = self.processed
                for item in part.merge.ready(self.merged, lambda topic, p=p: self._drained(topic, p)):  # type: ignore[misc]
                    self.process(part, item)
                if self.processed > n:
                    part.fed_at = time.monotonic()
            self._flow(p, part)

    def _flow(self, p: int, part: Assigned) -> None:
        """Pause the inputs of partition p that the merge holds back, resume them once it drains."""
        pause, resume = [], []
        pause_at = self.config.pause_at
        for topic in self.merged:
            n = part.merge.queued(topic)
            if (topic, p) in self.paused:
                if n <= pause_at // 4:
                    self.paused.discard((topic, p))
                    resume.append(TopicPartition(topic, p))
            elif n >= pause_at:
                self.paused.add((topic, p))
                pause.append(TopicPartition(topic, p))
        if pause:
            self.consumer.pause(pause)
        if resume:
            self.consumer.resume(resume)

    def _drained(self, topic: str, partition: int) -> bool:
        """Nothing more to read from this input right now (its end, as the last fetch reported it)."""
        key = self._keys.get((topic, partition)) or _tp(topic, partition)
        high = self._highs.get(key)
        if high is None:  # once per loop: the call costs tens of microseconds
            tp = TopicPartition(topic, partition)
            _, high = self.consumer.get_watermark_offsets(tp, cached=True) or (0, -1)
            if high < 0:  # no fetch has reported it yet (an empty partition never does): ask, at most once a second
                asked_at, high = self._asked.get(key, (-1.0, 0))
                if time.monotonic() - asked_at >= 1.0:
                    try:
                        _, high = self.consumer.get_watermark_offsets(tp, 2)
                    except KafkaException:
                        high = 0
                    self._asked[key] = (time.monotonic(), high)
            self._highs[key] = high
        return self.fetched.get(key, self.done.get(key, 0)) >= high

    def process(self, part: Assigned, item: tuple[Message, str, int, int, str, float]) -> None:
        """One message through the core; the caller updates `part.fed_at` (once per batch, not per message)."""
        msg, topic, partition, offset, key, received_at = item
        headers = msg.headers()  # a list of (key, value) as consumed
        replica = bool(headers) and (REPLICA_HEADER, b"1") in headers  # type: ignore[operator]
        observed = bool(headers) and (OBSERVED_HEADER, b"1") in headers  # type: ignore[operator]
        runtime = part.runtime
        corrections = runtime.corrections
        out = runtime.feed(msg.value() or b"", topic, partition, offset, replica, observed)
        if runtime.corrections != corrections:
            # a correction or retraction: what it numbers depends on the arrival order, which a replay after a
            # restart may not repeat, so the state goes in the same transaction (PartitionRuntime.corrections)
            part.must_snapshot = True
        if self.first_event_at is None:
            self.first_event_at = time.monotonic()
        self.processed += 1
        part.dirty = True
        self.metrics.event_in(topic)
        self.done[key] = offset + 1
        self._pending = True
        if part.suppress_until:
            until = part.suppress_until.get(key)
            if until is not None:
                if offset + 1 >= until:
                    del part.suppress_until[key]
                return  # processed and committed before the restart: rebuild state, emit nothing
        if out:
            self._emit(out)
            if out.incidents:
                self.metrics.incident_latency(received_at, len(out.incidents))

    def advance_idle(self) -> None:
        """Partitions with nothing to read for `idle_after` seconds take the newest event time of the others.
        No input offset records that step, so when it emits, the snapshot goes in the same transaction: a
        restart then resumes after it instead of firing the same timers a second time."""
        idle_after = self.config.idle_after
        if idle_after is None or self.config.bounded or len(self.parts) < 2:
            return
        newest = max(part.runtime.high for part in self.parts.values())
        now = time.monotonic()
        for p, part in self.parts.items():
            if part.runtime.high >= newest or now - part.fed_at < idle_after or part.merge.buffered:
                continue
            if not all(self._drained(topic, p) for topic in self.merged):
                continue
            part.fed_at = now
            out = part.runtime.advance(newest)
            if out:
                part.dirty = part.must_snapshot = True
                self._emit(out)

    def _bounded_done(self) -> bool:
        if not self.ends:
            return False
        return all(self.done.get(k, 0) >= end for k, end in self.ends.items())

    def _unread(self) -> dict[str, tuple[int, int, int]]:
        """Bounded mode: the inputs not processed to their end, "topic:p" -> (processed, read, end offset)."""
        done, fetched = self.done, self.fetched
        return {
            k: (done.get(k, 0), max(done.get(k, 0), fetched.get(k, 0)), end)
            for k, end in self.ends.items()
            if done.get(k, 0) < end
        }

    def _log_starts(self, wanted: dict[str, int]) -> dict[str, int]:
        return deleted_before_read(self.consumer, wanted)

    def _waiting_live(self) -> dict[str, tuple[int, int, int]]:
        """Live: the assigned inputs with records not processed, "topic:p" -> (processed, read, end offset): the
        consumer's position short of the broker's end offset (a position passes transaction markers, a
        processed offset never does), or records fetched and held back by the merge. The ends are asked of the
        broker (a paused input's cached end is as old as its pause), for one second at most: it may be away."""
        tps = [TopicPartition(t, p) for t, p in sorted(self._assigned)]
        try:
            positions = {_tp(tp.topic, tp.partition): tp.offset for tp in self.consumer.position(tps)}
        except KafkaException:
            return {}
        ask_until = time.monotonic() + 1.0
        waiting = {}
        for tp in tps:
            key = _tp(tp.topic, tp.partition)
            left = ask_until - time.monotonic()
            if left <= 0:
                break
            try:
                low, high = self.consumer.get_watermark_offsets(tp, left)
            except KafkaException:
                break  # the broker does not answer: the stall is plain, and its own warnings say why
            position, fetched = positions.get(key, -1), self.fetched.get(key, 0)
            start = position if position >= 0 else self.done.get(key, low)  # no position: not fetched since assigned
            done = self.done.get(key, start)
            if start < high or fetched > done:
                waiting[key] = (done, max(done, fetched), max(high, fetched))
        return waiting

    def _stall_context(self) -> str:
        if not self._assigned:
            return " (no partition assigned to this worker yet)"
        held = sum(part.merge.buffered for part in self.parts.values())
        return f" ({held} events wait in the event-time merge, {len(self.paused)} inputs paused by flow control)"

    def run(self, stop_after: float | None = None) -> None:
        """Until stopped, or `stop_after` seconds. A bounded run ends at its end offsets, or raises WorkerError
        (BoundedWatch: stalled, input deleted, or not done by `stop_after`), never returns with part of it."""
        bounded = self.config.bounded
        deadline = None if stop_after is None or bounded else time.monotonic() + stop_after
        watch = BoundedWatch(self.config.bounded_stall, stop_after) if bounded else None
        live_watch = None if bounded else LiveWatch(self.config.bounded_stall)
        started = time.monotonic()
        log.info(
            "worker %s of group %s starting: %d rules, %s partitioning, %s",
            self.config.instance_id,
            self.config.group,
            len(self.ruleset.rules),
            self.config.partitioning,
            "bounded" if bounded else "live",
        )
        ref = ReferenceReader(self.settings, self.config.group)
        self._read_reference(ref, until_end=True)
        self._subscribe()
        try:
            poll = min(self.config.batch, self.config.pause_at)
            while self.running and (deadline is None or time.monotonic() < deadline):
                # wait for input at most until the next commit is due: outputs are visible only once committed
                wait = self._last_commit + self._interval(full=False) - time.monotonic()
                msgs = self.consumer.consume(poll, min(max(wait, 0.001), 0.05))
                if self._rewind_due:
                    self._try_restore()
                    continue  # what was fetched before the restore is read again from the restored offsets
                for msg in msgs:
                    err = msg.error()
                    if err is not None:
                        if err.fatal() or err.code() == KafkaError._FATAL:  # the event itself is not "fatal"
                            self._replace_consumer(err.str())
                            break
                        if err.code() != KafkaError._PARTITION_EOF:
                            log.warning("consumer: %s", err.str())
                        continue
                    self.receive(msg)
                self._highs.clear()
                self.release()
                self.advance_idle()
                self._read_reference(ref, until_end=False)
                now = time.monotonic()
                # a full poll means a backlog: commit 4x less often (a transaction costs ~10 ms), latency is moot
                if now - self._last_commit >= self._interval(full=len(msgs) >= poll):
                    self.commit(snapshot=now - self._last_snapshot >= self.config.snapshot_interval, background=True)
                    self._lag()
                if now - self._last_reload >= self.config.reload_interval:
                    self._last_reload = now
                    self.maybe_reload()
                if watch is not None:
                    if self._bounded_done():
                        for part in self.parts.values():
                            self._emit(part.runtime.finish())
                            part.dirty = True
                        break
                    watch.check((self.processed, len(self.ends)), self._unread, self._log_starts, self._stall_context)
                elif live_watch is not None and not self._rewind_due:  # a failing restore says so by itself
                    live_watch.check((self.processed, self._assignments), self._waiting_live, self._stall_context)
            self._finish_by = time.monotonic() + FINAL_RETRY_S
            self._final_commit(bounded)
            self._lag()  # the final lag and event times, for a scrape after a bounded run
            elapsed = time.monotonic() - started
            log.info(
                "worker %s stopped after %.1f s: %d events processed (%.0f/s), %d transactions aborted",
                self.config.instance_id,
                elapsed,
                self.processed,
                self.processed / elapsed if elapsed > 0 else 0.0,
                self.txn.aborts,
                extra={"events": self.processed, "seconds": round(elapsed, 3), "aborts": self.txn.aborts},
            )
        except WorkerError:
            # nothing of the open transaction may commit; aborted now, read_committed readers need not wait for
            # the broker's transaction timeout
            with contextlib.suppress(KafkaException, ProducerUnavailable):
                self.running = False  # one try each, no retries: the error is what the caller must see
                self.txn.abort("the run failed")
            raise
        finally:
            self.running = False
            self._cancel_snapshots()
            ref.close()
            self.consumer.close()
            self.txn.flush(10)

    def _final_commit(self, bounded: bool) -> None:
        """The last transaction, on a stop or at a bounded run's end; with the broker away (stopped, the network
        cut) it fails, and `last_commit_failed` says what that means."""
        aborts = self.txn.aborts
        failed = self._unavailable
        if failed is None:
            self.commit(snapshot=True)
            failed = self._unavailable or (None if self.txn.aborts == aborts else "its transaction was aborted")
        if failed is not None:
            last_commit_failed(failed, bounded, log)

    def _gc_after_snapshot(self) -> None:
        """Keep the state out of the cyclic GC's full collections: a full collection walks every tracked object,
        the whole state included, and stopped the loop for ~140 ms (a city's state, enriched, measured in-process)
        every few tens of seconds at 5,000 events/s. After each snapshot every object alive is frozen (refcounting
        still frees it; only cycles among frozen objects wait); every GC_THAW_SNAPSHOTS snapshots they are thawed,
        so the next full collection (one long pause every ~10 minutes) frees those cycles."""
        self._snapshots_since_thaw += 1
        if self._snapshots_since_thaw >= GC_THAW_SNAPSHOTS:
            gc.unfreeze()
            self._snapshots_since_thaw = 0
        else:
            gc.freeze()

    def _interval(self, full: bool) -> float:
        return commit_every(self.config.commit_interval, self._commit_cost, full)

    def _lag(self) -> None:
        self.metrics.flush()
        try:
            for tp in self.consumer.position(self.consumer.assignment()):
                if tp.offset >= 0:
                    high = self.consumer.get_watermark_offsets(tp, 0.5, cached=True)[1]
                    self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(high - tp.offset, 0))
        except KafkaException:
            pass
        for p, part in self.parts.items():
            self.metrics.event_time(p, part.runtime.high)

    def _may_retry(self) -> bool:
        """Transactions retry (a new producer, a retriable error) while this holds: as long as the worker runs,
        and for FINAL_RETRY_S of its last commit when the loop ended by itself (a bounded run's end, `stop_after`):
        a broker that stays away then ends the run with the failed commit named, instead of holding it forever.
        A stop (SIGTERM) gives each call one try."""
        return self.running and (self._finish_by is None or time.monotonic() < self._finish_by)

    def stop(self) -> None:
        self.running = False
