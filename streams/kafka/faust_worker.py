"""The Faust worker: the partition runtimes of streams.live on a Faust app (faust-streaming, aiokafka).

One agent consumes the co-partitioned event topics; Faust's assignor keeps partition p of every topic on one
worker, where one PartitionRuntime correlates it, as in the confluent-kafka worker. What differs is where
the state lives and how it is made consistent:

- State is a compacted topic of the group (`saqshy.state.<group>.changelog`, declared through Faust) holding each
  partition's snapshot with the input offsets it reflects: partition p's snapshot goes to its partition p, in p's
  transaction, and a partition this worker opens is restored from the newest *committed* snapshot, read there.
  It is not a Faust table: a table's store keeps what this worker wrote even when its transaction was aborted
  (its partition moved away and came back), and its recovery crashed the app after a rebalance (ConsistencyError).
- With processing_guarantee=exactly_once (the default), Faust's transactions are per *input* partition, so the
  design sends every output of partition p to partition p of its topic, in p's transaction (the output topics
  need at least as many partitions as the event topics, which the worker checks). Faust engages transactions
  only in a worker (app.in_worker); the app runs in this worker's own loop, so it is marked as in one. Faust's
  TransactionManager finds no transaction for a topic it does not consume, so outputs and snapshots are sent
  with partition p's transactional id explicitly. Two faust-streaming bugs in that path are mended on the
  app's producer (_mend_faust_transactions).
- A snapshot is taken every `snapshot_interval`, not per event; on assignment the worker restores it and
  replays the inputs from the snapshot's offsets up to the group's committed offsets with outputs
  suppressed (they were committed already and the core is deterministic), then Faust delivers from there.
- On revocation (every partition, in Faust's eager rebalances) each partition's snapshot, outputs and processed
  offsets are committed in its transaction before Faust stops its producer: Faust itself commits nothing there,
  and the offsets it would commit later no longer cover what was acknowledged before the rebalance.
- Events are acknowledged only once processed, so Faust never commits an offset an event of which still
  waits in the event-time merge.
- Every send's delivery is checked before its transaction commits: aiokafka commits a transaction whose batch
  failed without that batch, and Faust drops the send's future, so a failure would otherwise vanish. A failed or
  unacknowledged send aborts the transaction and fails the worker. A bounded run ends or fails (BoundedWatch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from schemas import DeadLetter
from streams.kafka.metrics import WorkerMetrics
from streams.kafka.offsets import deleted_before_read, latest_by_key, watermarks
from streams.kafka.outputs import OutputTopics
from streams.kafka.produce import OBSERVED_HEADER, REPLICA_HEADER
from streams.kafka.reference import ReferenceLog, ReferenceReader
from streams.kafka.rulewatch import RuleWatcher
from streams.kafka.settings import KafkaSettings
from streams.kafka.topics import STATE, UNSORTED
from streams.kafka.worker import (
    INPUT_TOPICS,
    BoundedWatch,
    WorkerConfig,
    WorkerError,
    hanging_hint,
    last_commit_failed,
)
from streams.live import AlignedMerge, Output, PartitionRuntime
from streams.partitioning import plan_for

log = logging.getLogger("saqshy.faust")
Guarantee = str  # "exactly_once" | "at_least_once"
FAUST_MIN_COMMIT_INTERVAL = 0.1  # seconds
SNAPSHOT_MAX_BYTES = 64 * 1024 * 1024  # as max.message.bytes of saqshy.state in infra/topics.yaml
SEND_TIMEOUT = 60.0  # seconds a send may stay unacknowledged when its transaction commits (retries included)
STOP_TIMEOUT = 60.0  # seconds Faust may take to stop; past it the worker leaves it, the run has ended anyway
STOP_COMMIT_TIMEOUT = 15.0  # seconds a live worker's last commit may take on a stop (the broker away: it never comes)
# seconds Faust may take to stop once the last commit failed: the broker is away, and Faust's consumer waits for it
# to stop (the test of a SIGTERM with the broker away saw it wait out the whole STOP_TIMEOUT)
STOP_TIMEOUT_AWAY = 10.0
# A partition's next snapshot waits at least this many times as long as its last one took to be acknowledged: on a
# slow link (tests/chaos/test_network.py: 200 ms added per chunk) a snapshot of a few MB took ~16 s, and one every
# snapshot_interval left the partition's transactions (each waits for its snapshot) no time for events
SNAPSHOT_COST_FACTOR = 8.0


@dataclass
class _Part:
    runtime: PartitionRuntime
    merge: AlignedMerge = field(default_factory=AlignedMerge)
    snapshot_at: float = field(default_factory=time.monotonic)
    snapshot_s: float = 0.0  # how long the last snapshot took from its send to its acknowledgement
    fed_at: float = field(default_factory=time.monotonic)  # last input (or idle advance), monotonic
    dirty: bool = False


def _tp(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


class FaustWorker:
    def __init__(
        self,
        config: WorkerConfig,
        settings: KafkaSettings,
        on_output: Callable[[Output], None] | None = None,
        guarantee: Guarantee = "exactly_once",
    ):
        import faust  # the Faust runtime only: the confluent worker and the CLI never pay for it

        self.config = config
        self.settings = settings
        self.on_output = on_output
        self.metrics = WorkerMetrics(config.metrics_port)
        self.rules = RuleWatcher(config.rules, config.partitioning, config.cell_m, self.metrics)
        self.ruleset = self.rules.load()
        self.plan = plan_for(self.ruleset, config.partitioning, config.cell_m)
        self.outputs = OutputTopics(settings, self.metrics)
        t = settings.topic
        self.inputs = [t(x) for x in INPUT_TOPICS]
        self.unsorted = t(UNSORTED)
        self.merged = [x for x in self.inputs if x != self.unsorted]
        self.partitions = self._check_topics()
        self.app_id = config.group
        # Faust wants a data directory even for memory tables; never the working directory
        self.datadir = tempfile.mkdtemp(prefix="saqshy-faust-")
        self.app = faust.App(
            self.app_id,  # the consumer group, as for the confluent worker
            broker=settings.faust_broker(),
            broker_credentials=settings.faust_credentials(),
            broker_client_id=settings.client_id,
            processing_guarantee=guarantee,
            store="memory://",  # no tables: the state topic below is read directly (_read_snapshot)
            key_serializer="raw",
            value_serializer="raw",
            web_enabled=False,
            datadir=self.datadir,
            # each commit is one transaction per input partition, one after another (~10 ms each): every 25 ms
            # they overlapped and the worker fell seconds behind at 1,700 events/s; every 100 ms, p50 178 ms
            broker_commit_interval=max(config.commit_interval, FAUST_MIN_COMMIT_INTERVAL),
            consumer_auto_offset_reset="earliest",
            # static membership and the session timeout of the confluent worker (WorkerConfig.session_timeout): a
            # worker restarted under its instance id gets its partitions back at once instead of after the dead
            # session's timeout (Faust's default is 60 s); aiokafka heartbeats from Faust's consumer thread
            consumer_group_instance_id=f"{config.group}.{config.instance_id}",
            broker_session_timeout=config.session_timeout,
            broker_heartbeat_interval=config.session_timeout / 4,
            # Faust's copartitioning assignor (partition p of every input topic on one worker) is used only when
            # an app has tables or standby replicas, otherwise round robin. This app has no tables, and a standby
            # only ever covers a table's changelog, so 1 selects the assignor and nothing else.
            table_standby_replicas=1,
            topic_partitions=self.partitions,
            producer_max_request_size=SNAPSHOT_MAX_BYTES,
            # on a rebalance or a stop, Faust would wait for every delivered event to be acknowledged, and the
            # events held in the event-time merge are not until their turn comes: it waited forever (it also
            # swallows the cancellation of that wait). Unprocessed events are not committed: the partition's next
            # owner redoes them from the committed offsets.
            stream_wait_empty=False,
        )
        # what faust.Worker does first: without it app.in_transaction is False and Faust commits offsets and
        # sends outputs outside any transaction (at least once); read only once the app runs
        self.app.in_worker = True
        self.changelog = self.app.topic(
            t(f"{STATE}.{config.group}.changelog"),  # under the topic prefix, like every other topic
            partitions=self.partitions,
            compacting=True,
            deleting=False,
            internal=True,
            key_serializer="raw",
            value_serializer="raw",
            # as the spec's saqshy.state: an enriched city's snapshot outgrows the broker's 4 MiB default, and the
            # changelog Faust creates had it (MessageSizeTooLargeError; aiokafka committed the transaction without
            # the snapshot until sends were checked)
            config={"max.message.bytes": str(SNAPSHOT_MAX_BYTES)},
        )
        self.state_topic: str = self.changelog.get_topic_name()
        source = self.app.topic(*self.inputs, key_serializer="raw", value_serializer="raw")
        self.app.agent(source, name="saqshy-correlate")(self._agent)
        self.app.timer(config.reload_interval)(self._reload)
        if config.idle_after is not None and not config.bounded:
            self.app.timer(min(1.0, config.idle_after))(self._advance_idle)
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.on_partitions_assigned.connect(self._on_assigned)
        self.owned: set[int] = set()  # input partitions assigned to this worker now
        self.parts: dict[int, _Part] = {}
        self.reference = ReferenceLog()  # what a new or restored partition replays (rules.core.reference)
        self.fetched: dict[str, int] = {}  # "topic:p" -> next offset delivered to the agent
        self.done: dict[str, int] = {}  # "topic:p" -> next offset processed
        self.ends: dict[str, int] = {}  # bounded mode: end offsets at start
        self.first_event_at: float | None = None
        self.processed = 0
        self.replayed = 0
        self.phase = "starting"  # what the worker does now, for a bounded run's stall report
        # sends not yet checked, per transactional id: future, "topic[partition]"
        self._sends: dict[str, list[tuple[asyncio.Future[Any], str]]] = {}
        self._failure: WorkerError | None = None  # a send or commit that failed: the worker stops with it
        self._checks: set[asyncio.Future[None]] = set()  # reads of the committed offsets after an assignment
        self._stop: asyncio.Event | None = None
        self._ref: ReferenceReader | None = None
        # Held while an event is processed (fed, its outputs sent, acknowledged) and while anything commits
        # (Faust's commit timer, revocation, idle advance, stop): a commit in between would split an event's
        # outputs between two transactions, the first committed without the event's offset (a replay repeats
        # them) or the second aborted by a handover (they are lost).
        self._busy = asyncio.Lock()
        self._closing = False  # stopping: the agent takes no more events (their next owner redoes them)
        self._last_commit_failed: str | None = None  # why the commit on stop failed

    # --- topics ----------------------------------------------------------------------------------
    def _check_topics(self) -> int:
        admin = AdminClient(self.settings.admin_config())
        meta = admin.list_topics(timeout=10)
        counts = {}
        for name in [*self.inputs, *self._output_names()]:
            if name not in meta.topics:
                raise WorkerError(f"topic {name} does not exist (run `saqshy topics apply`)")
            counts[name] = len(meta.topics[name].partitions)
        n = max(counts[x] for x in self.inputs)
        if any(counts[x] != n for x in self.inputs):
            raise WorkerError(f"event topics are not co-partitioned: {counts}")
        short = {k: v for k, v in counts.items() if k not in self.inputs and v < n}
        if short:
            raise WorkerError(
                f"output topics need at least {n} partitions (outputs follow their input partition): {short}"
            )
        return n

    def _output_names(self) -> list[str]:
        o = self.outputs
        return [o.incidents, o.latest, o.alerts, o.dlq]

    # --- partitions ------------------------------------------------------------------------------
    def _open(self, p: int) -> _Part:
        """A partition this worker now owns: restore its snapshot and replay to the committed offsets."""
        runtime = PartitionRuntime(self.rules.load(), self.config.context, clock=time.time)  # as the confluent worker
        part = _Part(runtime, merge=AlignedMerge(self.config.merge_buffer))
        snap = self._read_snapshot(p)
        starts = runtime.restore(snap) if snap is not None else {}
        for _, record in self.reference.records():  # after the restore, which replaces the reference tables
            runtime.apply_reference(record)
        replayed = self._replay(part, p, starts)
        self.replayed += replayed
        if snap is not None:
            log.info("partition %d restored from its snapshot; %d events replayed", p, replayed)
        else:
            log.info("partition %d opened without a snapshot; %d events replayed", p, replayed)
        self.parts[p] = part
        self.metrics.partitions.set(len(self.parts))
        return part

    async def _open_when_reachable(self, p: int) -> _Part | None:
        """`_open`, retried every second while the broker is away (the snapshot and the committed offsets are read
        from it). A failure to reach it must not escape into the agent: in a network cut the agent crashed on it,
        Faust restarted the agent without the event in flight, and the worker made no progress again
        (tests/chaos/test_network.py). None when p is revoked, or the worker stops, meanwhile: the event is never
        acknowledged, so its partition's next owner processes it."""
        since = time.monotonic()
        said = 0.0  # when it was last said (every minute while it lasts: an ACL or a deleted topic never heals)
        while True:
            try:
                return self._open(p)
            except KafkaException as exc:
                if isinstance(exc.args[0], KafkaError) and exc.args[0].fatal():
                    raise
                now = time.monotonic()
                if now - said >= 60.0:
                    log.warning(
                        "partition %d cannot be restored (%s) for %.0f s; retrying every second", p, exc, now - since
                    )
                    said = now
            await asyncio.sleep(1.0)
            if p not in self.owned or self._closing or (self._stop is not None and self._stop.is_set()):
                return None

    def _read_snapshot(self, p: int) -> bytes | None:
        """Partition p's newest committed snapshot, read from partition p of the state topic (read_committed:
        a snapshot whose transaction was aborted, or is still open, is never restored)."""
        topic = self.state_topic
        conf = self.settings.consumer_config(f"{self.app_id}.state", **{"isolation.level": "read_committed"})
        consumer = Consumer(conf)
        try:
            key = str(p).encode()
            return latest_by_key(consumer, [TopicPartition(topic, p)], {key}).get(key)
        finally:
            consumer.close()

    def _replay(self, part: _Part, p: int, starts: dict[str, int]) -> int:
        """Events between the snapshot and the committed offsets: state only, their outputs were committed."""
        conf = self.settings.consumer_config(self.app_id, **{"isolation.level": "read_committed"})
        consumer = Consumer(conf)  # same group, never subscribes: only reads its committed offsets
        try:
            tps = [TopicPartition(t, p) for t in self.inputs]
            committed = {_tp(tp.topic, p): tp.offset for tp in consumer.committed(tps, timeout=30)}
            ranges = {}
            for t in self.inputs:
                key = _tp(t, p)
                start, stop = starts.get(key, 0), committed.get(key, -1)
                # whatever the state or the group's stable committed offsets cover is skipped, wherever Faust's
                # own consumer (aiokafka, which reads committed offsets without require_stable) resumes
                self.done[key] = max(start, stop)
                if stop > start:
                    ranges[key] = (start, stop)
            if not ranges:
                return 0
            consumer.assign([TopicPartition(k.rsplit(":", 1)[0], p, a) for k, (a, _) in ranges.items()])
            merge = AlignedMerge()
            pending = dict(ranges)
            while pending:
                for msg in consumer.consume(2000, 1.0):
                    if msg.error() is not None:
                        continue
                    key = _tp(msg.topic() or "", p)
                    if key in pending and (msg.offset() or 0) < pending[key][1]:
                        merge.add(key, msg.timestamp()[1] / 1000.0, msg)
                        if (msg.offset() or 0) + 1 >= pending[key][1]:
                            del pending[key]
                for tp in consumer.position([TopicPartition(k.rsplit(":", 1)[0], p) for k in pending]):
                    key = _tp(tp.topic, p)
                    if tp.offset >= pending[key][1]:  # transaction markers take offsets too
                        del pending[key]
            n = 0
            for msg in merge.ready(list(ranges), lambda _: True):
                headers = msg.headers() or []
                part.runtime.feed(msg.value() or b"", msg.topic() or "", p, msg.offset() or 0, *_roles(headers))
                n += 1
            return n
        finally:
            consumer.close()

    async def _on_assigned(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        if sender is not self.app:  # an app's signals reach the receivers of every app in the process
            return
        assigned = args[0] if args else kwargs.get("assigned", ())
        self.owned = {tp.partition for tp in assigned if tp.topic in self.inputs}
        log.info("assigned %d input partitions: %s", len(self.owned), sorted(self.owned))
        if self.config.bounded:
            # A partition is opened at its first event; one whose input was all processed before (by a live worker
            # of the group) has none to come, yet its state must be restored for the end of the input (and its
            # processed offsets known, or the bounded run waits for them forever)
            async with self._busy:
                for p in sorted(self.owned - set(self.parts)):
                    await self._open_when_reachable(p)
        if self.owned:
            self._checks.add(asyncio.ensure_future(self._check_offsets(sorted(self.owned))))

    async def _check_offsets(self, partitions: list[int]) -> None:
        """aiokafka waits without a word while the group's committed offsets are unreadable (a transaction left
        open on them): nothing is fetched and nothing fails. So the worker reads them itself, as librdkafka
        does (stable offsets, retried), for up to `hanging_after`. Still unreadable while the broker answers,
        the run fails with what to do; a broker that is away is waited for (a legitimately open transaction of
        a previous owner ends within its 10 s timeout)."""
        tps = [TopicPartition(t, p) for t in self.inputs for p in partitions]
        asked = time.monotonic()

        def read() -> KafkaException | None:
            consumer = Consumer(self.settings.consumer_config(self.app_id, **{"isolation.level": "read_committed"}))
            try:
                while self._stop is None or not self._stop.is_set():
                    try:
                        consumer.committed(tps, timeout=self.config.hanging_after)
                        return None
                    except KafkaException as exc:
                        try:
                            consumer.list_topics(timeout=5)  # the broker answers: the offsets themselves are held
                        except KafkaException:
                            continue  # the broker is away, not a transaction: wait for it
                        return exc
                return None
            finally:
                consumer.close()

        loop = asyncio.get_running_loop()
        done: asyncio.Future[KafkaException | None] = loop.create_future()

        def settle(result: KafkaException | None) -> None:
            if not done.done():  # the loop may have cancelled the check meanwhile
                done.set_result(result)

        def run() -> None:  # a daemon thread, not the loop's executor: exiting never waits for a blocked read
            result = read()
            with contextlib.suppress(RuntimeError):  # the run ended and its loop is closed: nobody waits
                loop.call_soon_threadsafe(settle, result)

        threading.Thread(target=run, name="saqshy-offsets-check", daemon=True).start()
        try:
            held = await done
            if held is not None and self._failure is None:
                self._failure = WorkerError(hanging_hint(self.app_id, self.settings, asked, held))
        finally:
            self._checks = {t for t in self._checks if not t.done()}

    async def _on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Another worker may take these partitions. Each one's snapshot, outputs and processed offsets are
        committed in its transaction now, while its producer still runs (Faust stops it on the assignment that
        follows and commits nothing itself); should a partition come back, it is restored afresh from what is
        committed (the snapshot, then the replay to the committed offsets), never resumed from a stale runtime."""
        if sender is not self.app:
            return
        revoked = args[0] if args else kwargs.get("revoked", ())
        gone = {tp.partition for tp in revoked if tp.topic in self.inputs}
        async with self._busy:
            await self._commit_state(sorted(gone & set(self.parts)), "revocation")
            if gone & set(self.parts):
                log.info("revoked input partitions %s", sorted(gone & set(self.parts)))
            self.owned -= gone
            for p in gone:
                self.parts.pop(p, None)
            for book in (self.fetched, self.done):
                for key in [k for k in book if int(k.rsplit(":", 1)[1]) in gone]:
                    del book[key]
        self.metrics.partitions.set(len(self.parts))

    async def _commit_on_stop(self) -> str | None:
        """The agent takes no more events (the one in flight ends first), then every partition's state, outputs
        and offsets are committed, so that its next owner restores from here instead of replaying (Faust stops the
        agent only after this, and would commit offsets alone). Bounded in time: with the broker away (stopped,
        the network cut) a send or a transactional call waits for it, and a stop must end; what is not committed
        stays in open transactions that the broker aborts, or the partition's next producer fences, and the next
        owner redoes it. Returns why it failed, None when every partition committed."""
        self._closing = True
        # a bounded run ends by itself, its last snapshots may be large and the machine busy: it gets Faust's time
        limit = STOP_TIMEOUT if self.config.bounded else STOP_COMMIT_TIMEOUT
        try:
            async with asyncio.timeout(limit):
                async with self._busy:
                    failed = await self._commit_state(sorted(self.parts), "stop")
        except TimeoutError:
            return f"not done within {limit:.0f} s"
        return f"partitions {failed} aborted" if failed else None

    async def _commit_state(self, partitions: list[int], why: str) -> list[int]:
        """Each partition's snapshot (when changed), outputs and processed offsets, committed in its transaction
        (under `_busy`). A commit that fails (the broker away mid-rebalance, a fenced producer) aborts that
        partition's transaction: nothing is lost, its next owner restores what was committed before. Returns the
        partitions whose commit failed."""
        failed: list[int] = []
        if not self.app.in_transaction or self._failure is not None:
            return failed
        for p in partitions:
            part = self.parts[p]
            try:
                if part.dirty:
                    await self._snapshot(p, part)
                await self._commit_partition(p)
            except Exception as exc:
                log.warning(
                    "partition %d: the commit on %s failed (%r); its transaction is aborted, and its next owner "
                    "restores what was committed before",
                    p,
                    why,
                    exc,
                )
                failed.append(p)
                await self._abort_partition(p)
        return failed

    def _drained(self, topic: str, p: int) -> bool:
        key = _tp(topic, p)
        from faust.types import TP

        try:
            high = self.app.consumer.highwater(TP(topic, p))
        except KeyError:  # not fetched yet: its end is unknown
            return False
        return high is not None and self.fetched.get(key, self.done.get(key, 0)) >= high

    # --- the agent -------------------------------------------------------------------------------
    async def _agent(self, stream: Any) -> None:
        async for event in stream.noack().events():
            async with self._busy:
                await self._receive(event)

    async def _receive(self, event: Any) -> None:
        m = event.message
        p = m.partition
        if p not in self.owned or self._closing:  # fetched before a rebalance gave p to another worker, or
            return  # stopping: never acknowledged, so never committed; the partition's next owner processes it
        part = self.parts.get(p) or await self._open_when_reachable(p)
        if part is None:
            return
        self.fetched[_tp(m.topic, p)] = m.offset + 1
        if m.topic == self.unsorted:
            await self._process(part, event)
        else:
            part.merge.add(m.topic, m.timestamp, event)
        for ready in list(part.merge.ready(self.merged, lambda topic: self._drained(topic, p))):
            await self._process(part, ready)
        now = time.monotonic()
        if part.dirty and now - part.snapshot_at >= max(
            self.config.snapshot_interval, SNAPSHOT_COST_FACTOR * part.snapshot_s
        ):
            await self._snapshot(p, part)
        if self.config.bounded and self._bounded_done():
            await self._finish()

    async def _process(self, part: _Part, event: Any) -> None:
        m = event.message
        p, key = m.partition, _tp(m.topic, m.partition)
        if m.offset < self.done.get(key, 0):  # replayed from the snapshot already
            event.ack()
            return
        corrections = part.runtime.corrections
        out = part.runtime.feed(m.value or b"", m.topic, p, m.offset, *_roles(m.headers))
        part.fed_at = time.monotonic()
        if self.first_event_at is None:
            self.first_event_at = time.monotonic()
        self.processed += 1
        self.done[key] = m.offset + 1
        part.dirty = True
        self.metrics.event_in(m.topic)
        await self._emit(out, p)
        if part.runtime.corrections != corrections:
            # a correction or retraction: what it numbers depends on the arrival order, which the replay after a
            # restart may not repeat, so the state goes into p's transaction with it (PartitionRuntime.corrections)
            await self._snapshot(p, part)
        event.ack()

    async def _advance_idle(self) -> None:
        """As the confluent worker's advance_idle: a partition with nothing to read for `idle_after` seconds
        takes the newest event time of the others. Outside any event, so its outputs and its snapshot (sent
        straight to partition p of the state topic) go into partition p's transaction, committed at once."""
        idle_after = self.config.idle_after
        if idle_after is None:
            return
        async with self._busy:  # the partitions may change while it waits (a revocation): counted after it
            if len(self.parts) >= 2:
                await self._advance_idle_parts(idle_after)

    async def _advance_idle_parts(self, idle_after: float) -> None:
        newest = max(part.runtime.high for part in self.parts.values())
        now = time.monotonic()
        for p, part in list(self.parts.items()):
            if part.runtime.high >= newest or now - part.fed_at < idle_after or part.merge.buffered:
                continue
            if not all(self._drained(topic, p) for topic in self.merged):
                continue
            part.fed_at = now
            out = part.runtime.advance(newest)
            if not out:
                continue
            await self._emit(out, p)
            await self._snapshot(p, part)
            await self._commit_partition(p)

    async def _snapshot(self, p: int, part: _Part) -> None:
        """Partition p's snapshot, with the offsets it reflects, into the store and, in p's transaction, to
        changelog partition p: committed with those offsets or not at all."""
        offsets = {k: v for k, v in self.done.items() if int(k.rsplit(":", 1)[1]) == p}
        data = part.runtime.snapshot(offsets)
        sent = time.monotonic()
        fut = await self._send(self.state_topic, str(p).encode(), data, p, None)

        def acknowledged(_: asyncio.Future[Any]) -> None:
            part.snapshot_s = time.monotonic() - sent

        fut.add_done_callback(acknowledged)
        self.metrics.state_bytes.labels(str(p)).set(len(data))
        part.snapshot_at = sent
        part.dirty = False

    async def _emit(self, out: Output, p: int) -> None:
        if not out:
            return
        for rec in self.outputs.records(out):
            await self._send(rec.topic, rec.key, rec.value, p, rec.headers)
        if self.on_output is not None:
            self.on_output(out)

    def _tid(self, p: int) -> str:
        """The transactional id Faust's TransactionManager gives input partition p."""
        return f"{self.app.conf.id}-{self.app.assignor.group_for_topic(self.inputs[0])}-{p}"

    async def _abort_partition(self, p: int) -> None:
        """Abort partition p's open transaction (Faust logs, and swallows, what an abort itself meets)."""
        tid = self._tid(p)
        self._sends.pop(tid, None)
        await self.app.producer.abort_transaction(tid)

    async def _send(
        self, topic: str, key: bytes | None, value: bytes | None, p: int, headers: Any
    ) -> asyncio.Future[Any]:
        """To partition p of `topic`, in input partition p's transaction when there are transactions; the future of
        its acknowledgement."""
        producer = self.app.producer
        await producer.maybe_start()
        tid = None
        if self.app.in_transaction:
            tid = self._tid(p)
        fut = asyncio.ensure_future(await producer.send(topic, key, value, p, None, headers, transactional_id=tid))
        where = f"{topic}[{p}]"
        fut.add_done_callback(lambda f: self._delivered(f, where))  # outside transactions, the only check
        if tid is not None:
            self._sends.setdefault(tid, []).append((fut, where))
        return fut

    def _delivered(self, fut: asyncio.Future[Any], where: str) -> None:
        if not fut.cancelled() and fut.exception() is not None and self._failure is None:
            self._failure = WorkerError(f"send to {where} failed: {fut.exception()!r}")

    async def _check_sends(self, tid: str) -> bool:
        """May transaction `tid` commit? Only when every send in it was acknowledged (aiokafka retries retriable
        errors itself, e.g. a just-created partition without leader or in-sync replica yet). Otherwise the
        worker has failed (`_failure`, raised by the run loop) and the transaction is aborted."""
        sends = self._sends.pop(tid, [])
        if sends and self._failure is None:
            _, late = await asyncio.wait([f for f, _ in sends], timeout=SEND_TIMEOUT)
            for fut, where in sends:
                if fut in late:
                    error = f"not acknowledged after {SEND_TIMEOUT:.0f} s"
                elif not fut.cancelled() and fut.exception() is not None:
                    error = f"failed: {fut.exception()!r}"
                else:
                    continue
                self._failure = WorkerError(f"send to {where} in transaction {tid} {error}; transaction aborted")
                break
        return self._failure is None

    async def _commit_partition(self, p: int) -> None:
        """Commit partition p's transaction now. Faust commits a partition's transaction only when it has newly
        acknowledged offsets, so outputs sent after its last event (end-of-input timers) would wait forever."""
        if not self.app.in_transaction:
            return
        from faust.types import TP

        offsets = {TP(t, p): self.done[_tp(t, p)] for t in self.inputs if _tp(t, p) in self.done}
        if offsets:
            self.phase = f"committing partition {p}'s transaction"
            await self.app.consumer.transactions.commit(offsets)

    # --- reference and rules ---------------------------------------------------------------------
    def _apply_reference(self, until_end: bool) -> list[DeadLetter]:
        assert self._ref is not None
        letters = []
        for item in self._ref.read(until_end):
            if isinstance(item, DeadLetter):
                letters.append(item)
                continue
            self.reference.add(item, item.time.timestamp())
            for part in self.parts.values():
                part.runtime.apply_reference(item)
        self.metrics.reference_records.set(len(self.reference))
        return letters

    def _reference_dead_letters(self, letters: list[DeadLetter]) -> None:
        """Outside any input partition's transaction: a plain idempotent producer."""
        if not letters:
            return
        producer = Producer(self.settings.producer_config())
        for rec in self.outputs.records(Output(dead_letters=letters)):
            producer.produce(rec.topic, rec.value, rec.key)
        producer.flush(30)

    async def _reload(self) -> None:
        self.metrics.flush()
        self._reference_dead_letters(self._apply_reference(until_end=False))
        ruleset = self.rules.changed()
        if ruleset is None:
            return
        for part in self.parts.values():
            part.runtime = part.runtime.with_rules(self.rules.load())
        self.ruleset = ruleset
        self.rules.applied(ruleset)

    # --- bounded runs ----------------------------------------------------------------------------
    def _bounded_done(self) -> bool:
        return bool(self.ends) and all(self.done.get(k, 0) >= end for k, end in self.ends.items())

    async def _finish(self) -> None:
        self.phase = "finishing"
        for p, part in self.parts.items():
            await self._emit(part.runtime.finish(), p)
            await self._commit_partition(p)
        self.ends = {}
        if self._stop is not None:
            self._stop.set()

    def _end_offsets(self) -> dict[str, int]:
        consumer = Consumer(self.settings.consumer_config(self.app_id))
        try:
            ends = {}
            for t in self.inputs:
                for p in range(self.partitions):
                    high = watermarks(consumer, TopicPartition(t, p))[1]  # a just-created topic: no leader yet
                    if high > 0:
                        ends[_tp(t, p)] = high
            return ends
        finally:
            consumer.close()

    def _unread(self) -> dict[str, tuple[int, int, int]]:
        """The inputs not processed to their end, "topic:p" -> (processed, read, end offset)."""
        done, fetched = self.done, self.fetched
        return {
            k: (done.get(k, 0), max(done.get(k, 0), fetched.get(k, 0)), end)
            for k, end in self.ends.items()
            if done.get(k, 0) < end
        }

    def _log_starts(self, wanted: dict[str, int]) -> dict[str, int]:
        consumer = Consumer(self.settings.consumer_config(self.app_id))
        try:
            return deleted_before_read(consumer, wanted)
        finally:
            consumer.close()

    def _stall_context(self) -> str:
        held = sum(part.merge.buffered for part in self.parts.values())
        text = f" (the worker is {self.phase}; {held} events wait in the event-time merge"
        missing = {int(k.rsplit(":", 1)[1]) for k in self.ends} - self.owned
        if missing:  # another worker of the group has them: a bounded Faust run needs them all
            text += f"; partitions {sorted(missing)} are not assigned to this worker"
        return text + ")"

    # --- running ---------------------------------------------------------------------------------
    def run(self, stop_after: float | None = None) -> None:
        """Until stopped, or `stop_after` seconds. A bounded run ends at its end offsets, or raises WorkerError
        (BoundedWatch: stalled, input deleted, or not done by `stop_after`; or a send failed)."""
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main(stop_after))
        finally:
            # as asyncio.run, but it would wait for every task Faust left behind, and some swallow their cancellation
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=STOP_TIMEOUT / 4))
            loop.run_until_complete(asyncio.wait([loop.create_task(loop.shutdown_asyncgens())], timeout=5))
            asyncio.set_event_loop(None)
            loop.close()

    async def _main(self, stop_after: float | None) -> None:
        self._stop = asyncio.Event()
        started = time.monotonic()
        log.info(  # as the confluent worker's start line and summary
            "worker %s of group %s starting: %d rules, %s partitioning, %s, faust engine",
            self.config.instance_id,
            self.config.group,
            len(self.ruleset.rules),
            self.config.partitioning,
            "bounded" if self.config.bounded else "live",
        )
        self._ref = ReferenceReader(self.settings, self.config.group)
        self._reference_dead_letters(self._apply_reference(until_end=True))
        bounded = self.config.bounded
        if bounded:
            self.ends = self._end_offsets()
        _mend_faust_transactions(self.app.producer, self._check_sends)
        self._serialize_faust_commits()
        await self.app.producer.maybe_start()  # Faust creates topics through its producer
        await self.changelog.maybe_declare()  # which it does by itself only for tables' and agents' topics
        await self.app.start()
        try:
            if bounded and not self.ends:
                return
            self.phase = "processing"
            watch = BoundedWatch(self.config.bounded_stall, stop_after) if bounded else None
            deadline = None if stop_after is None or bounded else time.monotonic() + stop_after
            while not self._stop.is_set():
                if self._failure is not None:
                    raise self._failure
                if self.app.crashed:  # a crashed service does not stop the app by itself
                    raise WorkerError(f"Faust app crashed: {self.app.crash_reason!r}")
                if bounded and self._bounded_done():  # no event left to come that would end it in the agent
                    async with self._busy:
                        if self.ends:
                            await self._finish()
                    continue
                if watch is not None:
                    mark = (self.processed, self.replayed, self.phase)
                    watch.check(mark, self._unread, self._log_starts, self._stall_context)
                if deadline is not None and time.monotonic() >= deadline:
                    log.info("stopping after %.0f s", stop_after)
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 0.2)
            if self._failure is not None:  # the end of a bounded run commits: it too must have succeeded
                raise self._failure
            # The event in flight ends first, then the agent takes no more; every partition's state, outputs and
            # offsets are committed, so that its next owner restores from here instead of replaying (Faust stops
            # the agent only after this, and would commit offsets alone)
            self._last_commit_failed = await self._commit_on_stop()
            if self._failure is not None:
                raise self._failure
            if self._last_commit_failed is not None:
                last_commit_failed(self._last_commit_failed, bounded, log)
            elapsed = time.monotonic() - started
            log.info(
                "worker %s stopped after %.1f s: %d events processed (%.0f/s), %d replayed on restores",
                self.config.instance_id,
                elapsed,
                self.processed,
                self.processed / elapsed if elapsed > 0 else 0.0,
                self.replayed,
                extra={"events": self.processed, "seconds": round(elapsed, 3), "replayed": self.replayed},
            )
        finally:
            stopping = asyncio.ensure_future(self.app.stop())
            limit = STOP_TIMEOUT if self._last_commit_failed is None else STOP_TIMEOUT_AWAY
            await asyncio.wait([stopping], timeout=limit)  # not wait_for: it waits for a swallowed cancel
            if not stopping.done():
                log.warning("Faust did not stop within %.0f s", limit)
            elif not stopping.cancelled() and stopping.exception() is not None:
                log.warning("Faust did not stop cleanly: %r", stopping.exception())
            self._ref.close()
            shutil.rmtree(self.datadir, ignore_errors=True)

    def _serialize_faust_commits(self) -> None:
        """Faust's commit timer (and its last commit on stop) commits each partition's acknowledged offsets with
        whatever its transaction holds. Between two sends of one event's outputs it would commit the first ones
        without the event's offset, and a worker killed next would emit them again from the replay (the chaos kill
        test saw a version twice). So Faust's commits wait for the event in flight, as the worker's own do."""
        consumer = self.app.consumer
        commit = consumer.commit

        async def serialized(*args: Any, **kwargs: Any) -> bool:
            async with self._busy:
                return bool(await commit(*args, **kwargs))

        consumer.commit = serialized  # type: ignore[method-assign]

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()


def _mend_faust_transactions(producer: Any, may_commit: Callable[[str], Awaitable[bool]]) -> None:
    """faust-streaming 0.15's transactional commit, mended on this app's producer:
    - its transactional producers (one per input partition) and their locks are dicts declared on the Producer
      class, shared by every app in the process: one app stopping its revoked partitions' producers stopped
      another's. Each producer gets its own.
    - it hands its own TP tuples to aiokafka's send_offsets_to_transaction, which (0.11 and later) accepts only
      aiokafka's TopicPartition and raises TypeError, crashing the app at its first transactional commit.
      They are converted, whoever commits (Faust's commit timer or this worker).
    - nothing checks the sends of a transaction before it commits, and aiokafka commits without a failed batch:
      `may_commit(tid)` runs under the transaction's lock (no send can join it meanwhile); when a send failed,
      the transaction is aborted instead of committed."""
    from aiokafka.structs import TopicPartition as AioTP

    producer._transaction_producers = {}
    producer._trn_locks = {}

    async def commit_transactions(by_tid: Any, group_id: str, start_new_transaction: bool = True) -> None:
        for tid, offsets in by_tid.items():
            async with producer._trn_locks[tid]:
                txn = producer._transaction_producers.get(tid)
                if txn is None:
                    log.warning("commit invoked for unknown transaction %s", tid)
                    continue
                if not await may_commit(tid):
                    with contextlib.suppress(Exception):  # aborted already: not in a transaction any more
                        await txn.abort_transaction()
                    continue
                converted = {AioTP(tp.topic, tp.partition): offset for tp, offset in offsets.items()}
                await txn.send_offsets_to_transaction(converted, group_id)
                await txn.commit_transaction()
                if start_new_transaction:
                    await txn.begin_transaction()

    producer.commit_transactions = commit_transactions


def _roles(headers: Any) -> tuple[bool, bool]:
    """(replica, observed) from a record's headers (schemas/partitioning.py)."""
    if not headers:
        return False, False
    items = list(headers.items() if isinstance(headers, dict) else headers)
    return (
        any(k == REPLICA_HEADER and v == b"1" for k, v in items),
        any(k == OBSERVED_HEADER and v == b"1" for k, v in items),
    )
