"""Where events go: a JSONL file, or Kafka (confluent-kafka, idempotent producer keyed by camera id).

The detector is its own deployable with its own frozen settings (it does not import streams/). Events Kafka
refuses are not dropped: they are written whole, with the reason, to a dead-letter JSONL file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from detectors.errors import PublishError
from schemas.deadletter import DeadLetter, RejectStage, SourcePosition
from schemas.events import VideoDetectionEvent, encode_event
from schemas.topics import EVENT_TOPICS

ENV_PREFIX = "SAQSHY_DETECTOR_KAFKA_"


class Sink(Protocol):
    def publish(self, event: VideoDetectionEvent) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class JsonlSink:
    def __init__(self, path: Path | IO[str]) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh: IO[str] = path.open("a", encoding="utf-8")
            self._own = True
        else:
            self._fh, self._own = path, False
        self.count = 0

    def publish(self, event: VideoDetectionEvent) -> None:
        self._fh.write(encode_event(event).decode() + "\n")
        self.count += 1

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self.flush()
        if self._own:
            self._fh.close()


@dataclass(frozen=True)
class DetectorKafkaSettings:
    """Frozen settings of the detector's producer; from arguments or SAQSHY_DETECTOR_KAFKA_* variables."""

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "saqshy-detector"
    topic_prefix: str = ""
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    linger_ms: int = 20
    flush_timeout_s: float = 30.0
    dead_letters: Path = Path("detector-dlq.jsonl")
    extra: Mapping[str, str] = field(default_factory=dict)  # librdkafka properties passed through

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> DetectorKafkaSettings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name in ("bootstrap_servers", "client_id", "topic_prefix", "security_protocol", "sasl_mechanism",
                     "sasl_username", "sasl_password", "ssl_cafile"):  # fmt: skip
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = raw
        if (raw := env.get(ENV_PREFIX + "LINGER_MS")) is not None:
            values["linger_ms"] = int(raw)
        if (raw := env.get(ENV_PREFIX + "DEAD_LETTERS")) is not None:
            values["dead_letters"] = Path(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def topic(self) -> str:
        return self.topic_prefix + EVENT_TOPICS["video.detection"]

    def producer_config(self) -> dict[str, str | int | bool]:
        conf: dict[str, str | int | bool] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "enable.idempotence": True,  # acks=all and ordered retries: no duplicates, no reordering per camera
            "acks": "all",
            "linger.ms": self.linger_ms,
            "compression.type": "lz4",
            "security.protocol": self.security_protocol,
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": self.ssl_cafile,
        }
        conf.update({k: v for k, v in optional.items() if v is not None})
        conf.update(self.extra)
        return conf


class KafkaSink:
    def __init__(self, settings: DetectorKafkaSettings) -> None:
        from confluent_kafka import KafkaException, Producer  # only a Kafka deployment pays for the import

        self.settings = settings
        try:
            self._producer = Producer(settings.producer_config())
        except KafkaException as exc:
            raise PublishError(f"cannot create a Kafka producer for {settings.bootstrap_servers}: {exc}") from exc
        self.delivered = 0
        self.failed = 0

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        raw: bytes = msg.value() or b""
        original, encoding = DeadLetter.wrap_original(raw)
        letter = DeadLetter(
            # The contract has no "delivery" stage; the reason says what happened, the stage only classifies.
            stage=RejectStage.OVERSIZE if "SIZE" in str(err.name()) else RejectStage.VALIDATE,
            reason=f"Kafka delivery to {msg.topic()} failed: {err}",
            original=original,
            original_encoding=encoding,
            source=SourcePosition(topic=msg.topic(), partition=msg.partition()),
            rejected_time=datetime.now(UTC),
        )
        path = self.settings.dead_letters
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(letter.model_dump_json(exclude_none=True) + "\n")

    def publish(self, event: VideoDetectionEvent) -> None:
        value = encode_event(event)
        key = event.data.camera_id.encode()
        headers: list[tuple[str, str | bytes | None]] = [
            ("ce_id", event.id.encode()),
            ("ce_type", event.type.encode()),
            ("ce_source", event.source.encode()),
        ]
        while True:
            try:
                self._producer.produce(self.settings.topic, value, key, headers=headers, on_delivery=self._on_delivery)
                break
            except BufferError:  # local queue full: let librdkafka drain it, then try again
                self._producer.poll(0.5)
        self._producer.poll(0)

    def flush(self) -> None:
        left = self._producer.flush(self.settings.flush_timeout_s)
        if left:
            # Purging fires the delivery callback of every queued event with an error: they go to the dead letters.
            self._producer.purge()
            self._producer.flush(0)
            raise PublishError(
                f"{left} event(s) undelivered to {self.settings.bootstrap_servers} after "
                f"{self.settings.flush_timeout_s:g} s; written to {self.settings.dead_letters}"
            )

    def close(self) -> None:
        self.flush()
