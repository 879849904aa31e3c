"""One frozen settings class for every Kafka client of a deployable.

The same values become the confluent-kafka configuration dicts (producer, consumer, admin) and the Faust app's
broker settings, so a secured production cluster (SASL/SSL) works without code changes. Values come from
arguments or from SAQSHY_KAFKA_* environment variables.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
ENV_PREFIX = "SAQSHY_KAFKA_"


class KafkaSettingsError(ValueError):
    """A setting is missing or inconsistent."""


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "saqshy"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: str | None = None  # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    topic_prefix: str = ""  # e.g. "kz." for a per-country deployment
    # Extra librdkafka properties, passed through unchanged (e.g. {"linger.ms": "20"}).
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.security_protocol.startswith("SASL") and not (self.sasl_mechanism and self.sasl_username):
            raise KafkaSettingsError(f"{self.security_protocol} needs sasl_mechanism and sasl_username")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> KafkaSettings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or f.name == "extra":
                continue
            values[f.name] = raw
        extra = {
            k[len(ENV_PREFIX + "X_") :].lower().replace("_", "."): v
            for k, v in env.items()
            if k.startswith(ENV_PREFIX + "X_")
        }
        if extra:
            values["extra"] = extra
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    # --- confluent-kafka ---------------------------------------------------------------------------
    def common_config(self) -> dict[str, Any]:
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
            conf["sasl.username"] = self.sasl_username
            conf["sasl.password"] = self.sasl_password or ""
        for key, value in (
            ("ssl.ca.location", self.ssl_cafile),
            ("ssl.certificate.location", self.ssl_certfile),
            ("ssl.key.location", self.ssl_keyfile),
        ):
            if value:
                conf[key] = value
        conf.update(self.extra)
        return conf

    def producer_config(self, **overrides: Any) -> dict[str, Any]:
        """Idempotent producer (no duplicates on retry, order kept per partition), batched for throughput
        without holding an incident back more than a few milliseconds."""
        conf = self.common_config()
        conf.update(
            {
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "batch.num.messages": 10000,
                "compression.type": "lz4",
                "message.max.bytes": 4 * 1024 * 1024,
            }
        )
        conf.update(self.extra)  # the operator's librdkafka settings win over these defaults
        conf.update(overrides)
        return conf

    def consumer_config(self, group_id: str, **overrides: Any) -> dict[str, Any]:
        """Offsets are committed by the caller after its outputs are durable (at-least-once)."""
        conf = self.common_config()
        conf.update(
            {
                "group.id": group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
                "fetch.max.bytes": 8 * 1024 * 1024,
                "max.partition.fetch.bytes": 4 * 1024 * 1024,
            }
        )
        conf.update(self.extra)
        conf.update(overrides)
        return conf

    def admin_config(self) -> dict[str, Any]:
        return self.common_config()

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
                password=self.sasl_password,
                ssl_context=context,
                mechanism=self.sasl_mechanism,
            )
        return faust.SSLCredentials(context)
