"""What a partition's output becomes on Kafka (streams.kafka.outputs), without a broker: every version on the
updates topic, and on the compacted latest-state topic the version itself or, for a retraction, a tombstone, so
that compacting the latest topic leaves exactly what `schemas.fold_latest` keeps of the updates topic."""

from __future__ import annotations

from pathlib import Path

import orjson

from rules.loader import load_rules
from schemas import Incident, IncidentStatus, fold_latest
from streams.kafka.metrics import WorkerMetrics
from streams.kafka.outputs import OutputTopics, Record
from streams.kafka.settings import KafkaSettings
from streams.live import Output, PartitionRuntime
from tests.support import catalog_subset

NOW = 1_773_130_000.0  # the runtime's clock: 2026-03-10T08:06:40Z, a few minutes after the calls below


def _call(n: int, second: int) -> bytes:
    body = {
        "id": f"c{n}",
        "type": "call.112",
        "source": "test",
        "time": f"2026-03-10T08:00:{second:02d}Z",
        "data": {"call_id": f"c{n}", "phone": "+77011234567", "category": "crime"},
        "location": {"lat": 43.24, "lon": 76.91},
    }
    return orjson.dumps(body)


def _outputs() -> OutputTopics:
    return OutputTopics(KafkaSettings(bootstrap_servers="unused:9092", topic_prefix="t."), WorkerMetrics())


def _compact(records: list[Record], topic: str) -> dict[bytes, bytes]:
    """What log compaction leaves of a topic: the last value per key, keys whose last record is a tombstone gone."""
    kept: dict[bytes, bytes] = {}
    for rec in records:
        if rec.topic != topic:
            continue
        if rec.value is None:
            kept.pop(rec.key, None)
        else:
            kept[rec.key] = rec.value
    return kept


def test_a_late_call_retracts_an_incident_and_the_latest_topic_gets_a_tombstone(tmp_path: Path) -> None:
    """calls.repeat_phone (3 calls of one phone in an hour) on four calls 10 s apart, the first delivered last
    (30 s late, within max_out_of_orderness): the three others open an incident from c2, c3, c4; the first call
    then makes c1, c2, c3 the opening match, and the incident from c2 is retracted."""
    ruleset = load_rules([catalog_subset(tmp_path, ["calls/repeat_phone.yaml"])])
    runtime = PartitionRuntime(ruleset, clock=lambda: NOW)
    outputs = _outputs()
    records: list[Record] = []
    updates: list[Incident] = []
    for n, second in [(2, 10), (3, 20), (4, 30), (1, 0)]:
        out = runtime.feed(_call(n, second), "calls", 0, n)
        assert out.dead_letters == []
        updates.extend(out.incidents)
        records.extend(outputs.records(out))
    out = runtime.finish()
    updates.extend(out.incidents)
    records.extend(outputs.records(out))

    retracted = [u for u in updates if u.status == IncidentStatus.RETRACTED]
    assert [u.event_ids for u in retracted] == [["c2", "c3", "c4"]]
    gone = retracted[0]

    # the updates topic: every version, the retraction included, keyed by incident id, in order
    on_updates = [r for r in records if r.topic == outputs.incidents]
    assert [Incident.model_validate_json(r.value or b"") for r in on_updates] == updates
    assert all(r.key == Incident.model_validate_json(r.value or b"").id.encode() for r in on_updates)

    # the latest topic: one record per version, the retraction a tombstone for its id with its version header
    on_latest = [r for r in records if r.topic == outputs.latest]
    assert [(r.key, r.headers) for r in on_latest] == [(r.key, r.headers) for r in on_updates]
    tombstones = [r for r in on_latest if r.value is None]
    assert [(r.key, r.headers) for r in tombstones] == [
        (gone.id.encode(), [("ce_type", b"saqshy.incident"), ("saqshy-version", str(gone.version).encode())])
    ]

    # compacted, the latest topic holds exactly what a consumer of the updates topic keeps
    kept: dict[str, Incident] = {}
    for u in updates:
        fold_latest(kept, u)
    compacted = {k.decode(): Incident.model_validate_json(v) for k, v in _compact(records, outputs.latest).items()}
    assert compacted == kept
    assert gone.id not in kept
    assert [u.event_ids for u in kept.values()] == [["c1", "c2", "c3", "c4"]]


def test_every_status_but_retracted_is_written_to_the_latest_topic_as_it_is() -> None:
    outputs = _outputs()
    base = Incident(
        id="inc-1", version=1, rule_id="r", rule_version=1, category="c", status=IncidentStatus.OPEN, priority=3,
        priority_base=3, title="t", key="k", first_time="2026-03-10T08:00:00Z", last_time="2026-03-10T08:00:00Z",
        updated_time="2026-03-10T08:00:00Z", event_ids=["e1"], event_count=1,
    )  # fmt: skip
    for version, status in enumerate(IncidentStatus, start=1):
        inc = base.model_copy(update={"version": version, "status": status})
        updates, latest = outputs.records(Output(incidents=[inc]))
        assert (updates.topic, latest.topic) == ("t.saqshy.incidents", "t.saqshy.incidents.latest")
        assert updates.key == latest.key == b"inc-1"
        assert updates.value == inc.model_dump_json(exclude_none=True).encode()
        assert latest.value == (None if status == IncidentStatus.RETRACTED else updates.value)
