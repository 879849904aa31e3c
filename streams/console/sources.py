"""What feeds the console: the embedded runner over an events file (replay, in-process) or Kafka (live).

Both run on a thread of their own and write into the Board; both take the operators' actions (`submit`):
the replay feeds them to its runner between two input lines (the core is single-threaded, so only the
runner's thread touches it), live produces them to the event topics for the workers."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from rules.records import decode_record, record_from_model
from schemas import Incident, PublicAlert
from schemas.partitioning import OBSERVED_HEADER, REPLICA_HEADER
from schemas.topics import ALERTS, EVENT_TOPICS, INCIDENTS_LATEST
from streams.console.state import Board
from streams.embedded import EmbeddedRunner

READ_AHEAD = 10_000  # lines the reader may be ahead of the runner (a file fed at speed 0 stays on disk)


class ReplaySource:
    """Drives the runner over `lines` at `speed` times event time (0: as fast as it can); stays up after the
    end of the file so operators can still act (the runner is never finished: timers of open incidents stay
    armed, as they would on a live stream).

    Two threads: the reader paces the file's lines and queues them; the runner's thread alone touches the core,
    taking lines and submitted actions from that one queue in arrival order, so an action is fed at once even
    while the reader waits for the stream's time (or for a line of an iterator that blocks)."""

    def __init__(self, runner: EmbeddedRunner, lines: Iterable[bytes], board: Board, speed: float = 60.0):
        self.runner = runner
        self.lines = lines
        self.board = board
        self.speed = speed
        self.queue: queue.Queue[bytes | tuple[bytes, Any] | threading.Event | None] = queue.Queue()
        self.done = threading.Event()  # the whole file has been fed
        self.lines_fed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-replay", daemon=True)
        self._reader = threading.Thread(target=self._read, name="console-replay-reader", daemon=True)
        self._lineno = 0

    def start(self) -> None:
        if self._thread.ident is None:  # once: a second app (tests serve one console twice) shares the thread
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.queue.put(None)
        self._thread.join(timeout=10)
        self._reader.join(timeout=1)  # it may be blocked in the lines' iterator: a daemon, left to exit

    def now(self) -> datetime:
        """The stream's clock: the newest event time fed (an action happens 'now' in the replay)."""
        high = self.runner._high
        return datetime.fromtimestamp(high if high != float("-inf") else time.time(), UTC)

    def submit(self, event: bytes) -> None:
        """An input line fed after the ones queued before it (an operator's action, or a test's event)."""
        self.queue.put(event)

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far has been fed (tests, benchmarks)."""
        mark = threading.Event()
        self.queue.put(mark)
        return mark.wait(timeout)

    def _feed(self, raw: bytes, doc: Any = None) -> None:
        self._lineno += 1
        runner, board = self.runner, self.board
        if doc is None:
            with contextlib.suppress(orjson.JSONDecodeError):
                doc = orjson.loads(raw)
        is_ref = isinstance(doc, dict) and str(doc.get("type", "")).startswith("ref.")
        if is_ref:  # a bad row: the runner dead-letters it; the console just skips it
            with contextlib.suppress(Exception):
                board.on_event(doc, decode_record(raw))
        for inc in runner.feed(raw, self._lineno):
            board.on_incident(inc)
        for alert in runner.take_alerts():
            board.on_alert(alert)
        if isinstance(doc, dict) and not is_ref:
            board.on_event(doc)

    def _read(self) -> None:
        t0 = w0 = None
        q, stop = self.queue, self._stop
        try:
            for raw in self.lines:
                if stop.is_set():
                    return
                try:
                    doc = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    doc = None
                when = doc.get("time") if isinstance(doc, dict) else None
                if self.speed > 0 and isinstance(when, str) and not str(doc.get("type", "")).startswith("ref."):
                    try:
                        ts = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
                    except ValueError:
                        ts = None
                    if ts is not None:
                        if t0 is None or w0 is None:
                            t0, w0 = ts, time.monotonic()
                        wait = w0 + (ts - t0) / self.speed - time.monotonic()
                        if wait > 0.001 and stop.wait(wait):
                            return
                while q.qsize() > READ_AHEAD:
                    if stop.wait(0.01):
                        return
                q.put((raw, doc))
        finally:
            q.put(self.done)  # set when the runner reaches it

    def _run(self) -> None:
        board, runner = self.board, self.runner
        ctx = runner.context
        if ctx is not None:
            for ev in ctx.reference:  # reference tables first, as a compacted topic is read first
                runner.core.on_event(record_from_model(ev))
                board.on_event(orjson.loads(ev.model_dump_json()), record_from_model(ev))
        self._reader.start()
        while True:
            item = self.queue.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
            elif isinstance(item, tuple):
                self._feed(*item)
                self.lines_fed += 1
            else:
                self._feed(item)


def action_event(incident_id: str, action: str, operator: str, when: datetime, incident: Incident | None,
                 unit_id: str | None = None, note: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A dispatch.action event (schemas.events.DispatchActionEvent) at the incident's place."""
    from schemas.events import DispatchAction, DispatchActionEvent

    data = DispatchAction(incident_id=incident_id, action=action, operator=operator, unit_id=unit_id, note=note)  # type: ignore[arg-type]
    ev = DispatchActionEvent(
        id=f"console-{uuid.uuid4().hex[:20]}",
        source="saqshy/console",
        time=when,
        location=incident.location if incident else None,
        admin=incident.admin if incident else None,
        data=data,
    )
    return orjson.loads(ev.model_dump_json(exclude_none=True))  # type: ignore[no-any-return]


def on_scene_event(unit: dict[str, Any], incident_id: str, when: datetime) -> dict[str, Any]:
    """The unit's on-scene report the operator relays (a CAD's 'arrived' button): a unit.gps fix at its last
    known place with status on_scene for the incident; the engine records arrivals from exactly this."""
    from schemas.events import UnitGps, UnitGpsEvent

    loc = {"lat": unit["lat"], "lon": unit["lon"]} if unit.get("lat") is not None else None
    ev = UnitGpsEvent(
        id=f"console-{uuid.uuid4().hex[:20]}",
        source="saqshy/console",
        time=when,
        location=loc,  # type: ignore[arg-type]
        data=UnitGps(unit_id=unit["id"], unit_type=unit["kind"], status="on_scene", assigned_incident=incident_id),  # type: ignore[arg-type]
    )
    return orjson.loads(ev.model_dump_json(exclude_none=True))  # type: ignore[no-any-return]


class KafkaSource:
    """Live: reads the latest incidents, alerts, unit GPS and the reference tables; produces actions."""

    def __init__(self, settings: Any, board: Board, plan: Any):
        from confluent_kafka import Consumer, Producer

        self.settings = settings
        self.board = board
        self.plan = plan
        self.producer = Producer(settings.producer_config())
        group = f"saqshy-console-{uuid.uuid4().hex[:8]}"  # every console reads everything from its own offsets
        self.consumer = Consumer(settings.consumer_config(group, **{"auto.offset.reset": "earliest"}))
        self.units_topic = settings.topic(EVENT_TOPICS["unit.gps"])
        ref = [settings.topic(t) for k, t in EVENT_TOPICS.items() if k.startswith("ref.")]
        self.topics = [settings.topic(INCIDENTS_LATEST), settings.topic(ALERTS), self.units_topic, *ref]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-kafka", daemon=True)

    def start(self) -> None:
        def on_assign(consumer: Any, parts: list[Any]) -> None:
            from confluent_kafka import OFFSET_END

            for p in parts:  # GPS: only fixes from now on (its history is days of positions)
                if p.topic == self.units_topic:
                    p.offset = OFFSET_END
            consumer.assign(parts)

        self.consumer.subscribe(self.topics, on_assign=on_assign)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.consumer.close()
        self.producer.flush(10)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def submit(self, event: bytes) -> None:
        """An operator's action (or a unit's on-scene report) into the event topics, keyed as `saqshy produce` keys
        events (the plan's key, replicas, observed copies of unit fixes), so it reaches the incident's partition."""
        from streams.kafka.produce import copies, partition_count, route

        routed = route(event, self.plan, EVENT_TOPICS)
        topic = self.settings.topic(routed.topic)
        partitions = partition_count(self.producer, topic) if routed.everywhere else None
        for key, partition, headers in copies(routed, partitions):
            self.producer.produce(
                topic, event, key, -1 if partition is None else partition,
                timestamp=routed.timestamp_ms or 0, headers=headers,
            )  # fmt: skip
        self.producer.poll(0)

    def _run(self) -> None:
        board = self.board
        latest, alerts = self.settings.topic(INCIDENTS_LATEST), self.settings.topic(ALERTS)
        while not self._stop.is_set():
            msg = self.consumer.poll(0.2)
            raw = None if msg is None or msg.error() is not None else msg.value()
            if msg is None or raw is None:
                continue
            try:
                if msg.topic() == latest:
                    board.on_incident(Incident.model_validate_json(raw))
                elif msg.topic() == alerts:
                    board.on_alert(PublicAlert.model_validate_json(raw))
                elif not _copy(msg.headers()):  # a replica or an observed copy: the board has the event already
                    doc = orjson.loads(raw)
                    board.on_event(doc, decode_record(raw) if doc.get("type", "").startswith("ref.") else None)
            except Exception:  # a record that does not parse: the workers dead-letter it; the console skips it
                continue


def _copy(headers: Any) -> bool:
    """A replica or an observed copy of an event (schemas/partitioning.py), not the event's own record."""
    return bool(headers) and any(k in (REPLICA_HEADER, OBSERVED_HEADER) and v == b"1" for k, v in headers)
