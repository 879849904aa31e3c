"""Kafka for the Flink job, as Flink SQL tables of the flink-sql-connector-kafka jar (infra/flink).

The DataStream KafkaSource of PyFlink only hands values to Python; the table source also gives each record's
topic, partition, offset, timestamp (the event time, set by `saqshy produce`) and headers (the replica mark),
with watermarks generated per Kafka partition inside the source and idle partitions left out. It becomes a
DataStream at once (to_data_stream). The sinks are tables too, so that each record gets its key (the incident
id: saqshy.incidents.latest is compacted), with exactly-once delivery through Kafka transactions committed
with each checkpoint. A retracted incident (docs/semantics.md, 7) goes on the updates topic like any version and
as a tombstone (its id, no value) on the compacted latest-state topic, as the Kafka workers write it
(streams.kafka.outputs), so that the latest topic holds what `schemas.fold_latest` keeps of the updates.

Reference records are read by a second source over the compacted reference topics, from their earliest
offset (every key needs the whole tables, as every Kafka worker reads them whole), and broadcast.
"""

from __future__ import annotations

import orjson

from schemas import IncidentStatus
from schemas.topics import ALERTS, DEAD_LETTERS, EVENT_TOPICS, INCIDENTS, INCIDENTS_LATEST
from streams.kafka.reference import REFERENCE_TOPICS
from streams.kafka.settings import KafkaSettings
from streams.kafka.topics import UNSORTED

SOURCE_TABLE = "saqshy_events"
REFERENCE_TABLE = "saqshy_reference"
COLUMNS = "`raw`, `topic`, `partition`, `offset`, `ts`, `headers`"
LATEST_TABLE = "saqshy_incidents_latest"
SINKS = {  # table -> topic, and which output kind it carries
    "saqshy_incidents": (INCIDENTS, "incident"),
    LATEST_TABLE: (INCIDENTS_LATEST, "incident"),
    "saqshy_alerts": (ALERTS, "alert"),
    "saqshy_dlq": (DEAD_LETTERS, "dlq"),
}
_RETRACTED = IncidentStatus.RETRACTED.value


def sink_value(table: str, value: str) -> bytes | None:
    """The record value an output gets in `table`: the JSON itself, or None (a tombstone) for a retracted
    incident on the latest-state topic, which compaction then drops."""
    if table == LATEST_TABLE and orjson.loads(value).get("status") == _RETRACTED:
        return None
    return value.encode()


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def client_properties(settings: KafkaSettings) -> dict[str, str]:
    """KafkaSettings as Java client properties (the same cluster, credentials and certificates)."""
    props = {"bootstrap.servers": settings.bootstrap_servers, "security.protocol": settings.security_protocol}
    if settings.sasl_mechanism:
        module = (
            "org.apache.kafka.common.security.plain.PlainLoginModule"
            if settings.sasl_mechanism == "PLAIN"
            else "org.apache.kafka.common.security.scram.ScramLoginModule"
        )
        user = (settings.sasl_username or "").replace('"', '\\"')
        secret = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
        password = secret.replace('"', '\\"')
        props["sasl.mechanism"] = settings.sasl_mechanism
        props["sasl.jaas.config"] = f'{module} required username="{user}" password="{password}";'
    if settings.ssl_cafile:  # PEM files, as librdkafka takes them
        props["ssl.truststore.type"] = "PEM"
        props["ssl.truststore.location"] = settings.ssl_cafile
    if settings.ssl_certfile and settings.ssl_keyfile:
        props["ssl.keystore.type"] = "PEM"
        props["ssl.keystore.location"] = settings.ssl_keyfile  # key and certificate chain in one PEM file
    return props


def _with(options: dict[str, str], settings: KafkaSettings) -> str:
    opts = dict(options)
    opts.update({f"properties.{k}": v for k, v in client_properties(settings).items()})
    return ",\n  ".join(f"{_quote(k)} = {_quote(v)}" for k, v in opts.items())


def input_topics(settings: KafkaSettings) -> list[str]:
    return [settings.topic(t) for t in (*EVENT_TOPICS.values(), UNSORTED) if t not in REFERENCE_TOPICS]


def reference_topics(settings: KafkaSettings) -> list[str]:
    return [settings.topic(t) for t in REFERENCE_TOPICS]


def source_ddl(
    settings: KafkaSettings,
    group: str,
    bounded: bool,
    idle_s: float,
    reference: bool = False,
    max_future: float | None = None,
) -> str:
    """The event topics (from the group's offsets), or with `reference` the reference topics (from the
    beginning, outside the group: a restored job resumes both from its checkpoint).

    With `max_future` (the time guard, docs/semantics.md 8) the watermark ignores a record stamped more than
    that ahead of this machine's clock: its `ts` is the epoch, which moves no watermark (the router then
    dead-letters it as `future`), so no single record can move a partition's watermark past the clock."""
    options = {
        "connector": "kafka",
        "topic": ";".join(reference_topics(settings) if reference else input_topics(settings)),
        "properties.group.id": f"{group}.reference" if reference else group,
        "properties.isolation.level": "read_committed",
        "properties.auto.offset.reset": "earliest",
        "scan.startup.mode": "earliest-offset" if reference else "group-offsets",
        "scan.watermark.idle-timeout": f"{int(idle_s * 1000)} ms",  # 0: never idle
        "format": "raw",
    }
    if bounded:
        options["scan.bounded.mode"] = "latest-offset"
    # A record's timestamp is its event time; every event up to `ts - 1 ms` of a partition has arrived.
    if max_future is None:
        ts = "`ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL"
    else:
        ahead_ms = min(int(max_future * 1000), 2**31 - 1)  # NOW() is evaluated per record
        ts = f"""`record_ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  `ts` AS CASE WHEN `record_ts` > TIMESTAMPADD(MILLISECOND, {ahead_ms}, NOW()) THEN TO_TIMESTAMP_LTZ(0, 3)
    ELSE `record_ts` END"""
    return f"""CREATE TEMPORARY TABLE {REFERENCE_TABLE if reference else SOURCE_TABLE} (
  `raw` BYTES,
  `topic` STRING METADATA VIRTUAL,
  `partition` INT METADATA VIRTUAL,
  `offset` BIGINT METADATA VIRTUAL,
  {ts},
  `headers` MAP<STRING, BYTES> METADATA VIRTUAL,
  WATERMARK FOR `ts` AS `ts` - INTERVAL '0.001' SECOND
) WITH (
  {_with(options, settings)}
)"""


def sink_ddl(table: str, settings: KafkaSettings, transactional_prefix: str, exactly_once: bool) -> str:
    topic, _ = SINKS[table]
    options = {
        "connector": "kafka",
        "topic": settings.topic(topic),
        "key.format": "raw",
        "key.fields": "k",
        "value.format": "raw",
        "value.fields-include": "EXCEPT_KEY",
        "sink.delivery-guarantee": "exactly-once" if exactly_once else "at-least-once",
        "sink.transactional-id-prefix": f"{transactional_prefix}.{table}",
        "properties.transaction.timeout.ms": "900000",
    }
    return f"""CREATE TEMPORARY TABLE {table} (
  `k` BYTES,
  `v` BYTES
) WITH (
  {_with(options, settings)}
)"""
