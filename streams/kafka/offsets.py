"""Reading compacted topics to their end, as the workers do for reference tables and state snapshots, asking
where partitions' logs start and end, and what a group has committed."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.kafka.settings import KafkaSettings

_NOT_READY = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TIMED_OUT,
}


def watermarks(consumer: Consumer, tp: TopicPartition, patience: float = 30.0) -> tuple[int, int]:
    """A topic created a moment ago, or a broker just restarted, may have no leader yet: retriable errors are
    retried, for a while."""
    deadline = time.monotonic() + patience
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, 10)
            return int(low), int(high)
        except KafkaException as exc:
            if exc.args[0].code() not in _NOT_READY or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def latest_by_key(
    consumer: Consumer, tps: Iterable[TopicPartition], keys: set[bytes], patience: float = 60.0
) -> dict[bytes, bytes]:
    """The newest value of each wanted key in these partitions, read from their start to their current end (a
    read_committed consumer: only committed snapshots; a tombstone removes its key)."""
    tps = [TopicPartition(tp.topic, tp.partition, 0) for tp in tps]
    ends = {(tp.topic, tp.partition): watermarks(consumer, tp)[1] for tp in tps}
    pending = {k for k, end in ends.items() if end > 0}
    found: dict[bytes, bytes] = {}
    if not pending:
        return found
    consumer.assign(tps)
    deadline = time.monotonic() + patience
    while pending:
        if time.monotonic() > deadline:  # an open transaction that no fencing ends
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"cannot read {sorted(pending)} to their end"))
        for msg in consumer.consume(500, 1.0):
            key = msg.key()
            if msg.error() is not None or key not in keys:
                continue
            value = msg.value()
            if value is None:
                found.pop(key, None)
            else:
                found[key] = value
        # transaction markers take offsets too: compare positions, not the last offset read
        for tp in consumer.position([TopicPartition(t, p) for t, p in pending]):
            if tp.offset >= ends[(tp.topic, tp.partition)]:
                pending.discard((tp.topic, tp.partition))
    return found


def deleted_before_read(consumer: Consumer, wanted: dict[str, int]) -> dict[str, int]:
    """Of the inputs "topic:p" -> next offset a worker still needs, those whose log start offset the broker has
    moved past it (time or size retention deleted the records before they were read), with that log start. A
    consumer then resets to the new start and skips them without a word: a bounded run would wait for them
    forever."""
    gone = {}
    for key, needed in wanted.items():
        topic, p = key.rsplit(":", 1)
        with contextlib.suppress(KafkaException):
            low, _ = watermarks(consumer, TopicPartition(topic, int(p)), patience=5.0)
            if low > needed:
                gone[key] = low
    return gone


def offsets_on_record(settings: KafkaSettings, group: str, keys: list[str]) -> dict[str, int]:
    """The group's committed offsets ("topic:p" keys) as its coordinator holds them now, without requiring
    stable offsets: a transaction's pending offsets are left out instead of failing the read."""
    admin = AdminClient(settings.admin_config())
    tps = [TopicPartition(topic, int(p)) for topic, p in (k.rsplit(":", 1) for k in keys)]
    futures = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, tps)], require_stable=False, request_timeout=10
    )
    got = futures[group].result(timeout=15)
    return {f"{tp.topic}:{tp.partition}": tp.offset for tp in got.topic_partitions if tp.error is None}
