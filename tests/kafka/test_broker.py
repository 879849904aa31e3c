"""The dev/CI broker is a real Kafka: produce and consume a message through it."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from streams.kafka.settings import KafkaSettings
from tests.kafka_broker import unique

pytestmark = pytest.mark.kafka


def test_round_trip_through_the_real_broker(kafka_bootstrap: str) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    topic = unique("test.roundtrip")
    admin = AdminClient(settings.admin_config())
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = Producer(settings.producer_config())
    producer.produce(topic, key=b"k", value=b"hello")
    assert producer.flush(30) == 0
    consumer = Consumer(settings.consumer_config(unique("g")))
    consumer.subscribe([topic])
    got = None
    for _ in range(60):
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            got = msg
            break
    consumer.close()
    assert got is not None and got.value() == b"hello" and got.key() == b"k"
