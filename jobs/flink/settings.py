"""The Flink job's deployment settings (schemas.settings): SAQSHY_FLINK_*, or the [flink] section of the settings
file; `saqshy flink run` options win over both. Per-run choices (--input, --out, --from-savepoint, --bounded,
--detached) stay options. Kafka settings are the engine's (streams.kafka.settings.KafkaSettings)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from schemas.settings import ServiceSettings, check_bootstrap


class FlinkSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SAQSHY_FLINK_")
    file_section: ClassVar[tuple[str, ...]] = ("flink",)
    title: ClassVar[str] = "Flink settings"

    jobmanager: str | None = Field(
        None, description="HOST:PORT of a cluster's REST endpoint [default: the local mini-cluster]."
    )
    parallelism: int = Field(1, ge=1, description="Parallelism of the job.")
    checkpoint_dir: str | None = Field(
        None,
        description="Checkpoints and savepoints, e.g. file:///data/checkpoints [default: build/flink/checkpoints "
        "for a local run].",
    )
    checkpoint_interval: float = Field(5.0, gt=0, description="Seconds between checkpoints.")
    group: str = Field("saqshy-flink", min_length=1, description="Kafka consumer group and transactional id prefix.")

    @field_validator("jobmanager")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None and "," in value:
            raise ValueError("one HOST:PORT, the JobManager's REST endpoint")
        return None if value is None else check_bootstrap(value)
