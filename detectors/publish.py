"""Where events go: a JSONL file, or Kafka (confluent-kafka, idempotent producer).

On Kafka a detection is keyed as every event of the event topics (schemas/partitioning.py): the partition plan's
key (`single`, or the spatial cell of the camera with replicas to the neighbouring cells), under Kafka's default
partitioner, so it reaches the correlator that holds the calls and the other detections of its place. The plan
must be the workers' (`saqshy topics plan` prints it).

The detector is its own deployable with its own frozen settings (it does not import streams/): the engine's Kafka
client model of schemas.settings under its own variables, SAQSHY_DETECTOR_KAFKA_*. Events Kafka
refuses are not dropped: they are written whole, with the reason, to a dead-letter JSONL file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from detectors.errors import PublishError
from schemas.deadletter import DeadLetter, RejectStage, SourcePosition
from schemas.events import VideoDetectionEvent, encode_event
from schemas.partitioning import REPLICA_HEADER, Mode, PartitionPlan
from schemas.settings import KafkaClientSettings
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


class DetectorKafkaSettings(KafkaClientSettings):
    """Frozen settings of the detector's producer: the engine's Kafka client model (schemas.settings), so both parse
    the same way, under SAQSHY_DETECTOR_KAFKA_* and the file section [detector.kafka], plus the producer's own."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)
    file_section: ClassVar[tuple[str, ...]] = ("detector", "kafka")
    title: ClassVar[str] = "detector Kafka settings"

    client_id: str = Field("saqshy-detector", min_length=1, description="client.id the brokers see.")
    linger_ms: int = Field(20, ge=0, description="Milliseconds the producer waits to batch events (linger.ms).")
    flush_timeout_s: float = Field(
        30.0, gt=0, description="Seconds to wait for delivery at the end; what is left goes to the dead letters."
    )
    dead_letters: Path = Field(
        Path("detector-dlq.jsonl"), description="JSONL file of the events Kafka refused, whole, with the reason."
    )
    partitioning: Mode = Field(
        "single", description="The workers' partition plan: single, or spatial (then cell_m and radius_m too)."
    )
    cell_m: float | None = Field(None, gt=0, description="Spatial plan: the cell size in metres (saqshy topics plan).")
    radius_m: float = Field(0.0, ge=0, description="Spatial plan: the replication radius in metres.")

    @model_validator(mode="after")
    def _plan_complete(self) -> DetectorKafkaSettings:
        if self.partitioning == "spatial" and self.cell_m is None:
            raise ValueError("partitioning spatial needs cell_m and radius_m: `saqshy topics plan` prints them")
        return self

    @property
    def plan(self) -> PartitionPlan:
        if self.partitioning == "single":
            return PartitionPlan("single")
        return PartitionPlan("spatial", float(self.cell_m or 0.0), self.radius_m)

    @property
    def topic(self) -> str:
        return self.topic_prefix + EVENT_TOPICS["video.detection"]

    def producer_defaults(self) -> dict[str, Any]:
        """acks=all and ordered retries: no duplicates, no reordering per key; linger.ms of the settings."""
        return {**super().producer_defaults(), "linger.ms": self.linger_ms}


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
        self.plan = settings.plan

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
        loc = event.location
        lat, lon = (loc.lat, loc.lon) if loc is not None else (None, None)
        headers: list[tuple[str, str | bytes | None]] = [
            ("ce_id", event.id.encode()),
            ("ce_type", event.type.encode()),
            ("ce_source", event.source.encode()),
        ]
        self._produce(value, self.plan.key(lat, lon, event.id), headers)
        for key in self.plan.replica_keys(lat, lon):
            self._produce(value, key, [*headers, (REPLICA_HEADER, b"1")])
        self._producer.poll(0)

    def _produce(self, value: bytes, key: bytes, headers: list[tuple[str, str | bytes | None]]) -> None:
        while True:
            try:
                self._producer.produce(self.settings.topic, value, key, headers=headers, on_delivery=self._on_delivery)
                return
            except BufferError:  # local queue full: let librdkafka drain it, then try again
                self._producer.poll(0.5)

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
