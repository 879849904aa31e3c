"""The settings of the engine's Kafka deployables (schemas.settings: a settings file, then environment variables,
then command-line values).

`KafkaSettings` is every Kafka client of the engine (worker, topics, produce, tail, archiver, Flink job): the
shared client model of schemas.settings (SAQSHY_KAFKA_*, file section [kafka]), plus topic names and the Faust
app's broker settings, so a secured production cluster (SASL/SSL) works without code changes.
`WorkerSettings` is the deployment knobs of `saqshy worker` (SAQSHY_WORKER_*, [worker]).
"""

from __future__ import annotations

import ssl
from typing import Any, ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from schemas.settings import KafkaClientSettings, SecurityProtocol, ServiceSettings, SettingsError

__all__ = ["ENV_PREFIX", "KafkaSettings", "KafkaSettingsError", "SecurityProtocol", "WorkerSettings"]

ENV_PREFIX = "SAQSHY_KAFKA_"
KafkaSettingsError = SettingsError  # the name this module always had for a missing or inconsistent setting


class KafkaSettings(KafkaClientSettings):
    """One frozen settings class for every Kafka client of the engine."""

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    # --- Faust (aiokafka underneath) ---------------------------------------------------------------
    def faust_broker(self) -> str:
        return ";".join(f"kafka://{hp.strip()}" for hp in self.bootstrap_servers.split(","))

    def faust_credentials(self) -> Any:
        """faust.SASLCredentials / faust.SSLCredentials for a secured cluster, None for PLAINTEXT."""
        if self.security_protocol == "PLAINTEXT":
            return None
        import faust  # only the Faust runtime pays for this import

        context = None
        if self.security_protocol.endswith("SSL"):
            context = ssl.create_default_context(cafile=self.ssl_cafile)
            if self.ssl_certfile:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        if self.sasl_mechanism:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password.get_secret_value() if self.sasl_password else None,
                ssl_context=context,
                mechanism=self.sasl_mechanism,
            )
        return faust.SSLCredentials(context)


class WorkerSettings(ServiceSettings):
    """The deployment settings of the live correlation worker (`saqshy worker`); per-run flags stay options."""

    model_config = SettingsConfigDict(env_prefix="SAQSHY_WORKER_")
    file_section: ClassVar[tuple[str, ...]] = ("worker",)
    title: ClassVar[str] = "worker settings"

    engine: Literal["confluent", "faust"] = Field(
        "confluent",
        description="confluent: a librdkafka loop, state snapshots on the state topic (the fast default); faust: a "
        "Faust app (aiokafka), state on a compacted topic of the group, several times slower per message. Both are "
        "exactly-once within Kafka and give the same incidents.",
    )
    group: str = Field(
        "saqshy-worker", min_length=1, description="Consumer group: workers of one group share the partitions."
    )
    instance_id: str | None = Field(
        None, description="Stable id of this worker (transactions fence a restarted zombie) [default: the hostname]."
    )
    commit_interval: float = Field(0.025, gt=0, description="Seconds between transactions (the latency floor).")
    snapshot_interval: float = Field(5.0, gt=0, description="Seconds between state snapshots on the state topic.")
    snapshot_in_child: bool = Field(
        True,
        description="Serialize the periodic snapshots in a forked child, off the event loop (confluent engine); "
        "false: on the loop, which holds every incident update back for as long as a snapshot takes.",
    )
    idle_after: float = Field(
        5.0,
        ge=0,
        description="Seconds without input after which a partition follows the event time of this worker's other "
        "partitions, so its absence timers fire (0: never).",
    )
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Serve Prometheus metrics on this port.")
