"""The topic spec (infra/topics.yaml) and its idempotent application to a cluster."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic  # type: ignore[attr-defined]

from infra import resource
from schemas.topics import ALERTS, DEAD_LETTERS, EVENT_TOPICS, INCIDENTS, INCIDENTS_LATEST
from streams.kafka.settings import KafkaSettings

SPEC = resource("topics.yaml")
UNSORTED = "saqshy.events.unsorted"
STATE = "saqshy.state"
Role = Literal["events", "reference", "output", "state"]


class TopicSpecError(ValueError):
    pass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    role: Role
    partitions: int
    replication_factor: int
    key: str = ""
    config: dict[str, str] = field(default_factory=dict)


def load_spec(path: Path = SPEC, partitions: int | None = None) -> list[TopicSpec]:
    """`partitions` overrides the event topics' count (they stay co-partitioned)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    defaults = doc.get("defaults", {})
    out = []
    for item in doc["topics"]:
        role = item["role"]
        count = int(item.get("partitions", defaults.get("partitions", 1)))
        if role == "events" and partitions is not None:
            count = partitions
        config = {**{k: str(v) for k, v in defaults.get("config", {}).items()}}
        config.update({k: str(v) for k, v in item.get("config", {}).items()})
        out.append(
            TopicSpec(
                item["name"],
                role,
                count,
                int(item.get("replication_factor", defaults.get("replication_factor", 1))),
                item.get("key", ""),
                config,
            )
        )
    check_spec(out)
    return out


def check_spec(specs: list[TopicSpec]) -> None:
    names = {s.name for s in specs}
    needed = set(EVENT_TOPICS.values()) | {INCIDENTS, INCIDENTS_LATEST, ALERTS, DEAD_LETTERS, UNSORTED, STATE}
    missing = needed - names
    if missing:
        raise TopicSpecError(f"topic spec lacks {sorted(missing)}")
    counts = {s.partitions for s in specs if s.role == "events"}
    if len(counts) != 1:
        raise TopicSpecError(f"event topics must be co-partitioned (one partition count), got {sorted(counts)}")


def keep_history(specs: list[TopicSpec]) -> list[TopicSpec]:
    """The spec for topics that take a replay of history: no time retention. Records carry their event time and
    a topic's time retention counts from it, so records older than the retention are deleted at the broker's
    next retention check (the first ~30 s after it starts, then every 5 minutes), read or not."""
    return [replace(s, config={**s.config, "retention.ms": "-1"}) for s in specs]


def event_partitions(specs: list[TopicSpec]) -> int:
    return next(s.partitions for s in specs if s.role == "events")


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    grown: list[str] = field(default_factory=list)
    reconfigured: list[str] = field(default_factory=list)


def apply(settings: KafkaSettings, specs: list[TopicSpec], timeout: float = 30.0) -> ApplyReport:
    """Create what is missing, grow partitions, set configs; running it twice changes nothing."""
    admin = AdminClient(settings.admin_config())
    report = ApplyReport()
    meta = admin.list_topics(timeout=timeout)
    have = {name: len(t.partitions) for name, t in meta.topics.items()}
    new = [
        NewTopic(settings.topic(s.name), s.partitions, s.replication_factor, config=dict(s.config))
        for s in specs
        if settings.topic(s.name) not in have
    ]
    if new:
        for name, fut in admin.create_topics(new, operation_timeout=timeout).items():
            try:
                fut.result(timeout)
                report.created.append(name)
            except KafkaException as exc:  # created meanwhile by someone else: fine
                if exc.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS
                    raise
                report.existing.append(name)
    for s in specs:
        name = settings.topic(s.name)
        if name not in have:
            continue
        report.existing.append(name)
        if have[name] < s.partitions:
            admin.create_partitions([NewPartitions(name, s.partitions)])[name].result(timeout)
            report.grown.append(name)
        if s.config:
            res = ConfigResource(ConfigResource.Type.TOPIC, name, set_config=dict(s.config))
            current: Any = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name)])
            entries = next(iter(current.values())).result(timeout)
            if any(entries[k].value != v for k, v in s.config.items() if k in entries):
                admin.alter_configs([res])[res].result(timeout)
                report.reconfigured.append(name)
    return report
