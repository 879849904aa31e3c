"""One settings class for every Kafka client: the same values reach confluent-kafka and Faust unchanged."""

from __future__ import annotations

import logging
import socket
import time

import faust
import pytest

from streams.kafka.settings import KafkaSettings, KafkaSettingsError

ENV = {
    "SAQSHY_KAFKA_BOOTSTRAP_SERVERS": "k1:9093,k2:9093",
    "SAQSHY_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "SAQSHY_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "SAQSHY_KAFKA_SASL_USERNAME": "saqshy",
    "SAQSHY_KAFKA_SASL_PASSWORD": "s3cret",
    "SAQSHY_KAFKA_TOPIC_PREFIX": "kz.",
    "SAQSHY_KAFKA_X_LINGER_MS": "20",
}


def test_environment_reaches_every_confluent_config() -> None:
    s = KafkaSettings.from_env(ENV)
    for conf in (s.producer_config(), s.consumer_config("g"), s.admin_config()):
        assert conf["bootstrap.servers"] == "k1:9093,k2:9093"
        assert conf["security.protocol"] == "SASL_PLAINTEXT"
        assert (conf["sasl.mechanism"], conf["sasl.username"], conf["sasl.password"]) == (
            "SCRAM-SHA-512",
            "saqshy",
            "s3cret",
        )
        assert conf["linger.ms"] == "20"
    assert s.producer_config()["enable.idempotence"] is True
    assert s.consumer_config("g")["enable.auto.commit"] is False
    assert s.topic("saqshy.incidents") == "kz.saqshy.incidents"
    assert "s3cret" not in repr(s)


def test_the_same_settings_make_faust_credentials() -> None:
    s = KafkaSettings.from_env(ENV)
    creds = s.faust_credentials()
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password, str(creds.mechanism.value)) == ("saqshy", "s3cret", "SCRAM-SHA-512")
    assert s.faust_broker() == "kafka://k1:9093;kafka://k2:9093"
    assert KafkaSettings().faust_credentials() is None


def test_sasl_without_credentials_is_refused() -> None:
    with pytest.raises(KafkaSettingsError):
        KafkaSettings(security_protocol="SASL_SSL")


def test_librdkafka_logs_through_python_logging(caplog: pytest.LogCaptureFixture) -> None:
    """A client's own lines (here: the broker refuses the connection) reach the process's logging, not stderr."""
    from confluent_kafka import Producer

    from schemas.settings import LIBRDKAFKA_LOGGER

    port = _closed_port()
    producer = Producer(KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}").producer_config())
    with caplog.at_level(logging.DEBUG, logger=LIBRDKAFKA_LOGGER):
        deadline = time.monotonic() + 10
        while not any(r.name == LIBRDKAFKA_LOGGER for r in caplog.records) and time.monotonic() < deadline:
            producer.poll(0.2)
    assert any(r.name == LIBRDKAFKA_LOGGER and str(port) in r.getMessage() for r in caplog.records)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
