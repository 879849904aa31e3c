"""The time guard on Flink (docs/semantics.md, 8): an event dated 2099 in the middle of a stream is a `future`
dead letter with the embedded runner's words and changes nothing else, from a file on spatial cells (whose
idle timers follow the watermark that the file's times make: the guard runs before it) and from Kafka,
judged against the wall clock (a record stamped ahead of the clock moves no partition's watermark)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from rules.loader import load_rules
from schemas import DeadLetter, Incident
from schemas.topics import DEAD_LETTERS, EVENT_TOPICS, INCIDENTS
from streams.dlq import MemoryDeadLetters
from streams.embedded import EmbeddedRunner
from streams.kafka.settings import KafkaSettings
from streams.sim import SimConfig, simulate
from tests.flink.helpers import CONTEXT, embedded, isolated, needs_connector, run_kafka, same_updates
from tests.golden.harness import CATALOG, scenarios
from tests.kafka.helpers import read_topic
from tests.kafka_broker import unique
from tests.support import SPATIAL, catalog_subset
from tests.unit.test_timeguard_runtimes import BAD_ID, CITY, START, with_2099

pytestmark = pytest.mark.slow
CITYWIDE = ("history",)
pytest.importorskip("pyflink")
from jobs.flink import kafka  # noqa: E402
from jobs.flink.job import FlinkJobConfig, collect, environment  # noqa: E402


def test_a_2099_line_on_spatial_cells_changes_nothing_else(tmp_path: Path) -> None:
    root = catalog_subset(tmp_path, SPATIAL)
    sim = tmp_path / "sim.jsonl"
    simulate(SimConfig(CITY, 1.0, 3, START, rate_scale=0.3), sim, tmp_path / "truth.jsonl")
    lines = [line for line in sim.read_bytes().splitlines() if line.strip()]
    bad_lines, bad_line = with_2099(lines)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(bad_lines) + b"\n")

    updates: list[Incident] = []
    letters: list[DeadLetter] = []
    config = FlinkJobConfig(rules=(root,), input=events, partitioning="spatial", context=CONTEXT)
    for kind, _, value in collect(config):
        if kind == "incident":
            updates.append(Incident.model_validate_json(value))
        elif kind == "dlq":
            letters.append(DeadLetter.model_validate_json(value))

    expected = embedded([root], lines)  # the stream without the 2099 line
    assert len(expected) > 10
    # a cell's history holds only its own incidents (issue 17, tests/unit/test_spatial_exact.py): the rest of every
    # update is the embedded runner's, the nearest units included (every key's board has the city's fixes)
    assert any(u.context and u.context.units for u in expected)
    assert same_updates(without_citywide_context(updates), without_citywide_context(expected)) == []
    dead = MemoryDeadLetters()
    EmbeddedRunner(load_rules([root]), dead, source_name=events.name, context=CONTEXT).run(bad_lines)
    assert Counter(d.stage.value for d in letters) == Counter(d.stage.value for d in dead.letters)
    future = [d for d in letters if d.stage.value == "future"]
    assert [(d.event_id, d.source.file, d.source.line) for d in future] == [(BAD_ID, events.name, bad_line)]
    assert future == [d for d in dead.letters if d.stage.value == "future"]  # word for word


def without_citywide_context(updates: list[Incident]) -> list[Incident]:
    """The updates without the context that needs every partition's incidents: history."""
    out = []
    for u in updates:
        if u.context is not None:
            u = u.model_copy(update={"context": u.context.model_copy(update={k: [] for k in CITYWIDE})})
        out.append(u)
    return out


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.kafka
@needs_connector
def test_records_ahead_of_the_wall_clock_from_kafka(kafka_bootstrap: str) -> None:
    fire = next(s for s in scenarios() if s.name == "fire_camera_and_calls")
    docs = [orjson.loads(line) for line in fire.lines]
    shift = datetime.now(UTC) - timedelta(minutes=20) - datetime.fromisoformat(docs[0]["time"])
    for d in docs:  # the scenario, happening now
        d["time"] = _iso(datetime.fromisoformat(d["time"]) + shift)
    good = [orjson.dumps(d) for d in docs]
    calls = [d for d in docs if d["type"] == "call.112"]
    ahead = datetime.now(UTC) + timedelta(minutes=30)  # stamped so too: the broker takes up to an hour ahead
    bad = [
        (dict(calls[0], id=BAD_ID, time="2099-01-01T00:00:00Z"), datetime.now(UTC)),  # stamped on arrival
        (dict(calls[1], id="bad-30min", time=_iso(ahead)), ahead),
    ]

    settings = isolated(kafka_bootstrap)
    producer = Producer(settings.producer_config())

    def send(doc: dict[str, object], stamp: datetime) -> None:
        topic = settings.topic(EVENT_TOPICS[str(doc["type"])])
        producer.produce(topic, orjson.dumps(doc), partition=0, timestamp=int(stamp.timestamp() * 1000))

    for i, d in enumerate(docs):
        send(d, datetime.fromisoformat(str(d["time"])))
        if i == 2:  # between the first call and the second, in the calls' partition
            for doc, stamp in bad:
                send(doc, stamp)
    assert producer.flush(30) == 0

    started = time.monotonic()
    run_kafka(settings, [CATALOG])
    assert time.monotonic() - started < 120
    got = [Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS)]
    assert got and same_updates(got, embedded([CATALOG], good)) == []
    letters = [DeadLetter.model_validate_json(v) for v in read_topic(settings, DEAD_LETTERS)]
    assert sorted((d.stage.value, d.event_id) for d in letters) == [("future", "bad-30min"), ("future", BAD_ID)]
    for d in letters:
        assert d.reason.endswith("ahead of the runtime's clock, more than max_future (300.0s)")
        assert d.source.topic == settings.topic(EVENT_TOPICS["call.112"]) and d.source.partition == 0

    # the source's watermark column: a record stamped more than max_future ahead of the clock counts as the
    # epoch (it moves no watermark), every other record as its own timestamp
    stamps = _watermark_times(settings)
    assert stamps["bad-30min"] == 0
    assert stamps[BAD_ID] > 0 and all(stamps[str(d["id"])] > 0 for d in docs)


def _watermark_times(settings: KafkaSettings) -> dict[str, int]:
    from pyflink.table import StreamTableEnvironment  # type: ignore[import-untyped]

    config = FlinkJobConfig(rules=(CATALOG,), bounded=True, group=unique("flink"))
    t_env = StreamTableEnvironment.create(environment(config, with_kafka=True))
    t_env.execute_sql(kafka.source_ddl(settings, config.group, True, 0.0, False, 300.0))
    query = f"SELECT `raw`, UNIX_TIMESTAMP(CAST(`ts` AS STRING)) FROM {kafka.SOURCE_TABLE}"
    with t_env.execute_sql(query).collect() as rows:
        return {orjson.loads(raw)["id"]: int(seconds) for raw, seconds in rows}
