"""Reference topics (hotlist, cameras, zones, admin areas): small compacted tables every worker reads whole.

Both Kafka workers (confluent-kafka and Faust) read them with this one confluent-kafka consumer, outside the
consumer group, from the beginning: every partition of the correlation needs the whole table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from rules.core.reference import ReferenceLog
from rules.records import RecordDecodeError, decode_record
from schemas import DeadLetter, SourcePosition
from schemas.topics import EVENT_TOPICS
from streams.dlq import dead_letter
from streams.kafka.offsets import watermarks
from streams.kafka.settings import KafkaSettings

__all__ = ["REFERENCE_TOPICS", "ReferenceLog", "ReferenceReader"]  # ReferenceLog: what both workers keep

REFERENCE_TOPICS = tuple(t for k, t in EVENT_TOPICS.items() if k.startswith("ref."))


class ReferenceReader:
    def __init__(self, settings: KafkaSettings, group: str):
        conf = settings.consumer_config(f"{group}.reference", **{"isolation.level": "read_committed"})
        self.consumer = Consumer(conf)
        meta = self.consumer.list_topics(timeout=10)
        names = [settings.topic(t) for t in REFERENCE_TOPICS]
        self.tps = [TopicPartition(t, p, 0) for t in names if t in meta.topics for p in meta.topics[t].partitions]
        self.consumer.assign(self.tps)

    def read(self, until_end: bool) -> Iterator[Any | DeadLetter]:
        """Decoded records (or dead letters for what does not decode); with until_end, everything up to the
        current end of the topics, else what is there now."""
        remaining: dict[tuple[str, int], int] = {}
        if until_end:
            for tp in self.tps:
                low, high = watermarks(self.consumer, tp)
                if high > low:
                    remaining[(tp.topic, tp.partition)] = high
        while True:
            for msg in self.consumer.consume(1000, 0.2 if remaining else 0):
                if msg.error() is not None:
                    continue
                key = (msg.topic() or "", msg.partition() or 0)
                if key in remaining and (msg.offset() or 0) + 1 >= remaining[key]:
                    del remaining[key]
                value = msg.value()
                if value is None:
                    continue
                try:
                    yield decode_record(value)
                except RecordDecodeError as exc:
                    pos = SourcePosition(topic=key[0], partition=key[1], offset=msg.offset())
                    yield dead_letter(value, exc.stage, exc.reason, pos)
            if remaining and until_end:  # transaction markers take offsets too: compare positions
                for tp in self.consumer.position([TopicPartition(t, p) for t, p in remaining]):
                    if tp.offset >= remaining.get((tp.topic, tp.partition), 0):
                        remaining.pop((tp.topic, tp.partition), None)
            if not remaining:
                return

    def close(self) -> None:
        self.consumer.close()
