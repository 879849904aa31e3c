"""Exactness through the Kafka workers (issue 16, docs/semantics.md section 7): a simulated city delivered in an
arrival order shuffled within max_out_of_orderness (every event up to the bound late, ties in any order, some
events twice) ends, on the confluent engine and on the Faust engine, with the same incidents as the embedded
runner over the same shuffled lines and over the lines sorted: the same ids, the same final contents and states.
Only the number of versions may differ (corrections and retractions add some), so what is compared is what a
consumer keeps of the updates topic (schemas.fold_latest), less the version number; and the compacted
incidents.latest topic holds that too, retracted incidents as tombstones."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from rules.loader import load_rules
from schemas import Incident, IncidentStatus, fold_latest
from schemas.topics import EVENT_TOPICS, INCIDENTS_LATEST
from streams.kafka.faust_worker import FaustWorker
from streams.kafka.topics import STATE
from streams.kafka.worker import Worker, WorkerConfig
from tests.golden.harness import CATALOG
from tests.kafka.helpers import (
    canonical,
    dead_letter_stages,
    embedded_updates,
    final_incidents,
    incident_updates,
    isolated,
    produce,
    read_keyed,
    run_bounded,
    shuffled_within,
    simulated,
)
from tests.kafka_broker import unique

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

EVENTS = 15_000  # ~20 minutes of the simulated city: 18 incidents of 11 rules, the chained rules' among them
PHONE = "+77019990016"


def _planted(start: float) -> tuple[list[bytes], dict[str, float]]:
    """Four calls of one phone (calls.repeat_phone: 3 in an hour) at start, +10 s (two, a tie), +30 s, and their
    delays: they arrive c3, c2 (the tie reversed), c4, then c1, 30 s late. Before c1 the three others open an
    incident from c2, c3, c4; c1 makes c1, c2, c3 the opening match, so that incident is retracted."""
    lines = []
    for n, offset in ((1, 0), (2, 10), (3, 10), (4, 30)):
        at = datetime.fromtimestamp(start + offset, tz=UTC).isoformat().replace("+00:00", "Z")
        body = {
            "id": f"exact-c{n}",
            "type": "call.112",
            "source": "test",
            "time": at,
            "data": {"call_id": f"exact-c{n}", "phone": PHONE, "category": "crime"},
            "location": {"lat": 43.24, "lon": 76.91},
        }
        lines.append(orjson.dumps(body))
    return lines, {"exact-c1": 30.0, "exact-c2": 5.0, "exact-c3": 0.0, "exact-c4": 0.0}


def _run(bootstrap: str, engine: str, lines: list[bytes]) -> tuple[list[Incident], dict[str, Incident], dict[str, int]]:
    """Updates topic, what compaction leaves of the latest topic (key -> incident), dead letters by stage."""
    settings = isolated(bootstrap)
    produce(settings, [CATALOG], lines)
    run_bounded(settings, [CATALOG], engine=engine)
    latest: dict[str, Incident] = {}
    for key, value in read_keyed(settings, INCIDENTS_LATEST):
        assert key is not None
        if value is None:
            latest.pop(key.decode(), None)
        else:
            latest[key.decode()] = Incident.model_validate_json(value)
    return incident_updates(settings), latest, dict(dead_letter_stages(settings))


def test_a_stream_shuffled_within_the_bound_gives_every_runtime_the_sorted_streams_incidents(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    bound = load_rules([CATALOG]).settings.max_out_of_orderness
    city = canonical(simulated(tmp_path, hours=1, seed=16))
    reference = [raw for raw in city if orjson.loads(raw)["type"].startswith("ref.")]
    events = city[len(reference) : len(reference) + EVENTS]
    middle = orjson.loads(events[len(events) // 2])["time"]
    planted, delays = _planted(datetime.fromisoformat(middle.replace("Z", "+00:00")).timestamp())
    ordered = canonical([*reference, *events, *planted])
    arrived = shuffled_within(ordered, bound, seed=16, duplicates=0.01, delays=delays)
    assert len(arrived) > len(ordered)  # duplicates
    assert arrived != ordered

    sorted_final = final_incidents(embedded_updates([CATALOG], ordered))
    shuffled = embedded_updates([CATALOG], arrived)
    assert final_incidents(shuffled) == sorted_final
    retracted = [u for u in shuffled if u.status == IncidentStatus.RETRACTED]
    assert any(u.key == PHONE for u in retracted), "the planted late call must retract an incident"
    assert len(sorted_final) > 15 and {"dispatch.unacknowledged", "anpr.wanted_route"} <= {
        u.rule_id for u in sorted_final.values()
    }

    with ThreadPoolExecutor(2) as pool:  # each engine on topics of its own, both at once
        runs = {engine: pool.submit(_run, kafka_bootstrap, engine, arrived) for engine in ("confluent", "faust")}
        for engine, run in runs.items():
            updates, latest, stages = run.result()
            assert stages == {}, f"{engine}: {stages}"  # nothing late, nothing judged by the time guard
            assert len({(u.id, u.version) for u in updates}) == len(updates), f"{engine}: a version twice"
            assert final_incidents(updates) == sorted_final, engine
            assert any(u.status == IncidentStatus.RETRACTED and u.key == PHONE for u in updates), engine
            kept: dict[str, Incident] = {}
            for u in updates:
                fold_latest(kept, u)
            assert latest == kept, f"{engine}: the compacted latest topic is not what a consumer keeps"


@pytest.mark.parametrize("engine", ["confluent", "faust"])
def test_a_retraction_commits_with_its_partitions_snapshot(kafka_bootstrap: str, engine: str) -> None:
    """What a correction or retraction numbers depends on the arrival order, and the replay after a restart may
    merge the topics in another order: so the partition's state goes into the transaction that sends one (never
    waiting for the periodic snapshot, here an hour away), and a restart replays only what came after it."""
    settings = isolated(kafka_bootstrap)
    lines, delays = _planted(datetime(2026, 3, 10, 8, tzinfo=UTC).timestamp())
    arrived = shuffled_within(lines, 30.0, seed=0, delays=delays)
    assert [orjson.loads(raw)["id"] for raw in arrived] == ["exact-c3", "exact-c2", "exact-c4", "exact-c1"]
    produce(settings, [CATALOG], arrived)
    group = unique("exact")
    config = WorkerConfig(rules=(CATALOG,), group=group, snapshot_interval=3600.0, idle_after=None)
    worker = FaustWorker(config, settings) if engine == "faust" else Worker(config, settings)
    thread = threading.Thread(target=worker.run, kwargs={"stop_after": 60.0}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 45
        while not any(u.status == IncidentStatus.RETRACTED for u in incident_updates(settings)):
            assert time.monotonic() < deadline, "no retraction"
            time.sleep(0.5)
        state = f"{STATE}.{group}.changelog" if engine == "faust" else STATE
        snapshots: list[dict[str, Any]] = []
        while not snapshots:  # the Faust engine commits the transaction within its commit interval
            assert time.monotonic() < deadline, "no snapshot committed with the retraction"
            snapshots = [orjson.loads(v) for _, v in read_keyed(settings, state, idle=1.0) if v is not None]
        calls = settings.topic(EVENT_TOPICS["call.112"])
        assert [{k.rsplit(":", 1)[0]: v for k, v in s["offsets"].items()}[calls] for s in snapshots] == [4]
    finally:
        worker.stop()
        thread.join(60)
