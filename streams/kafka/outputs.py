"""What a partition's output becomes on Kafka, the same for both workers: incident updates on the incidents
topic and the compacted latest-state topic (keyed by incident id), public alerts keyed by incident id (Alert
and Cancel stay in order), dead letters keyed by their source position.

A retraction (an incident a late event showed not to exist, status `retracted`, docs/semantics.md section 7)
goes on the incidents topic like any version, and as a tombstone (no value) on the latest-state topic, so
compaction drops the id there: what `schemas.fold_latest` keeps of the updates topic, the latest topic holds."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import Incident, IncidentStatus, RejectStage
from schemas.topics import ALERTS, DEAD_LETTERS, INCIDENTS, INCIDENTS_LATEST
from streams.kafka.metrics import WorkerMetrics
from streams.kafka.settings import KafkaSettings
from streams.live import Output

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes | None  # None: a tombstone (the compacted latest-state topic drops the key)
    headers: Headers | None = None


class OutputTopics:
    def __init__(self, settings: KafkaSettings, metrics: WorkerMetrics):
        t = settings.topic
        self.incidents, self.latest = t(INCIDENTS), t(INCIDENTS_LATEST)
        self.alerts, self.dlq = t(ALERTS), t(DEAD_LETTERS)
        self.metrics = metrics

    def records(self, out: Output) -> list[Record]:
        recs: list[Record] = []
        for inc in out.incidents:
            recs.extend(self.incident_records(inc))
            self.metrics.incidents.labels(inc.rule_id, inc.status.value).inc()
        for alert in out.alerts:
            value = alert.model_dump_json(exclude_none=True).encode()
            recs.append(Record(self.alerts, alert.incident_id.encode(), value))
            self.metrics.alerts.labels(alert.msg_type).inc()
        for letter in out.dead_letters:
            src = letter.source
            key = f"{src.topic}/{src.partition}/{src.offset}".encode()
            recs.append(Record(self.dlq, key, letter.model_dump_json(exclude_none=True).encode()))
            self.metrics.dead_letters.labels(letter.stage.value).inc()
            if letter.stage == RejectStage.LATE:
                self.metrics.late.labels(src.topic or "").inc()
        return recs

    def incident_records(self, inc: Incident) -> list[Record]:
        """One version: on the updates topic as it is; on the latest-state topic as it is, or, retracted, as a
        tombstone for its id (headers still say which version removed it)."""
        value = inc.model_dump_json(exclude_none=True).encode()
        key = inc.id.encode()
        headers = [("ce_type", b"saqshy.incident"), ("saqshy-version", str(inc.version).encode())]
        latest = None if inc.status == IncidentStatus.RETRACTED else value
        return [Record(self.incidents, key, value, headers), Record(self.latest, key, latest, headers)]
