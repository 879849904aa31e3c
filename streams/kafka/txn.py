"""A transactional producer that follows librdkafka's error contract (INTRODUCTION.md, "Transactional producer
API"), so that no broker fault can hang the worker or leave a transaction open behind it:

- every transactional call has a deadline (`call_timeout`);
- retriable errors (the broker restarting, a coordinator moving) are retried while the caller still runs and
  within `retry_for`;
- abortable errors abort the transaction: its outputs, offsets and snapshots never become visible, and the
  caller must rewind its state to the last committed one (TransactionAborted tells it so);
- fatal errors (a fenced producer, an unrecoverable state), or an abort that cannot complete, replace the
  producer by a new one under the same transactional.id, whose init_transactions aborts whatever the old one
  left open on the broker; the caller rewinds as for an abort.

librdkafka does not always keep its own deadlines: send_offsets_to_transaction can block for good while the
group coordinator is away (librdkafka issues 5456 and 5511; seen here on every few broker restarts). So each
call runs on a helper thread and is given `call_timeout` plus a grace; a call still blocked then is abandoned with
its producer (kept alive: destroying a client that a thread still blocks in is unsafe), and a new producer
takes over as for a fatal error. `abandoned` counts them; the process should end with os._exit when it is not 0.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

log = logging.getLogger("saqshy.worker")
_T = TypeVar("_T")


class TransactionAborted(Exception):
    """The open transaction did not commit and is gone: nothing of it is visible; rewind to the committed state."""


class CallHung(Exception):
    """A transactional call did not return within its deadline and a grace (a librdkafka hang)."""


HANG_GRACE = 5.0  # seconds past a call's own timeout before it counts as hung


class ProducerUnavailable(Exception):
    """No transactional producer could be made (the broker stayed away past the deadline, or we are stopping)."""


def _error(exc: BaseException) -> KafkaError | None:
    arg = exc.args[0] if exc.args else None
    return arg if isinstance(arg, KafkaError) else None


class Transactions:
    """One open transaction at a time on a producer made by `make` (which sets transactional.id)."""

    def __init__(
        self,
        make: Callable[[], Producer],
        running: Callable[[], bool],
        call_timeout: float = 5.0,
        retry_for: float = 10.0,
        on_abort: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.make, self.running = make, running
        self.call_timeout, self.retry_for = call_timeout, retry_for
        self.on_abort = on_abort
        self.aborts = 0
        # the last commit failed once commit_transaction was asked: the broker may have committed it (a timeout
        # or a hang says nothing about the outcome); one that failed before (sending offsets) did not commit
        self.in_doubt = False
        self.abandoned: list[Producer] = []  # producers a hung call still blocks in; never destroyed
        self.producer = self._new_producer()

    # --- the calls ---------------------------------------------------------------------------------
    def produce(self, topic: str, value: bytes | None, key: bytes | None, **kw: Any) -> None:
        """Produce into the open transaction; a full local queue (the broker away) waits for room."""
        while True:
            try:
                self.producer.produce(topic, value, key, **kw)
                return
            except BufferError:
                self.producer.poll(0.2)

    def commit(self, offsets: list[TopicPartition], group_metadata: object) -> None:
        """Commit the open transaction with the consumed offsets, then open the next one.
        Raises TransactionAborted (after aborting, or replacing the producer) when it could not commit."""
        producer = self.producer
        self.in_doubt = False
        try:
            if offsets:
                self._retrying(
                    "send_offsets_to_transaction",
                    lambda: producer.send_offsets_to_transaction(offsets, group_metadata, self.call_timeout),
                )
            self.in_doubt = True
            self._retrying("commit_transaction", lambda: producer.commit_transaction(self.call_timeout))
            self.in_doubt = False
        except CallHung as exc:
            self._count_abort(f"commit failed: {exc}")
            self._abandon()
            raise TransactionAborted(str(exc)) from None
        except KafkaException as exc:
            reason = f"commit failed: {exc.args[0]}"
            self.abort(reason)
            raise TransactionAborted(reason) from None
        producer.begin_transaction()

    def abort(self, reason: str) -> None:
        """Abort the open transaction (or replace the producer when that is not possible) and open a new one."""
        self._count_abort(reason)
        producer = self.producer
        try:
            self._retrying("abort_transaction", lambda: producer.abort_transaction(self.call_timeout))
            producer.begin_transaction()
            return
        except CallHung as exc:
            log.warning("%s: replacing the producer", exc)
            self._abandon()
        except KafkaException as exc:
            log.warning("abort_transaction failed (%s): replacing the producer", _error(exc))
            self.replace()

    def _count_abort(self, reason: str) -> None:
        self.aborts += 1
        self.on_abort(reason)
        log.warning("transaction aborted: %s", reason)

    def _abandon(self) -> None:
        """Leave the producer that a call hangs in to its thread, and take a new one."""
        self.abandoned.append(self.producer)
        self.producer = self._new_producer()

    def replace(self) -> None:
        """A new producer under the same transactional.id: init_transactions fences the old one and aborts its
        open transaction on the broker, so none is left hanging."""
        old = self.producer
        old.purge()  # queued outputs of the dead transaction must not go out with any other
        old.flush(0)
        self.producer = self._new_producer()

    def flush(self, timeout: float) -> None:
        self.producer.flush(timeout)

    # --- helpers ---------------------------------------------------------------------------------
    def _retrying(self, what: str, call: Callable[[], _T]) -> _T:
        deadline = time.monotonic() + self.retry_for
        while True:
            try:
                return self._bounded(what, call)
            except KafkaException as exc:
                err = _error(exc)
                if err is None or err.fatal() or err.txn_requires_abort() or not err.retriable():
                    raise
                if not self.running() or time.monotonic() >= deadline:
                    raise
                log.warning("%s: %s; retrying", what, err.str())

    def _bounded(self, what: str, call: Callable[[], _T]) -> _T:
        """`call` on a helper thread, waited for at most call_timeout + HANG_GRACE (confluent-kafka releases the
        GIL in its blocking calls, so the thread costs the loop nothing but its start, ~0.1 ms a commit)."""
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["result"] = call()
            except BaseException as exc:  # handed to the caller's thread as it is
                box["error"] = exc

        thread = threading.Thread(target=run, name=f"saqshy-{what}", daemon=True)
        thread.start()
        thread.join(self.call_timeout + HANG_GRACE)
        if thread.is_alive():
            raise CallHung(f"{what} did not return within {self.call_timeout + HANG_GRACE:.0f} s")
        if "error" in box:
            raise box["error"]
        result: _T = box.get("result")  # type: ignore[assignment]
        return result

    def _new_producer(self) -> Producer:
        """Retried for as long as the caller runs (a worker can do nothing without one); once it stops, one try."""
        while True:
            producer = self.make()
            try:
                self._bounded("init_transactions", lambda p=producer: p.init_transactions(self.call_timeout))  # type: ignore[misc]
                producer.begin_transaction()
                return producer
            except CallHung as exc:
                self.abandoned.append(producer)
                if self.running():
                    log.warning("%s; retrying with a new producer", exc)
                    continue
                raise ProducerUnavailable(f"no transactional producer: {exc}") from None
            except KafkaException as exc:
                err = _error(exc)
                producer.flush(0)
                if err is not None and err.retriable() and self.running():
                    log.warning("init_transactions: %s; retrying", err.str())
                    continue
                raise ProducerUnavailable(f"no transactional producer: {exc.args[0]}") from None
