"""Each engine started right after a broker start and right after its topics were created, ten times in a row
(four in `make test`):
every bounded run ends, with exactly the embedded runner's incidents (issue 23). A fresh broker answers the first
produces to a new partition with retriable errors (no leader, no in-sync replica yet) that the producers retry;
a run must retry through them and end, or fail with an error that says what it waited for, never idle."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.golden.harness import CATALOG
from tests.kafka.helpers import embedded_versions, incident_versions, isolated, produce, run_bounded, simulated
from tests.kafka_broker import Broker
from tests.support import scaled

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

RUNS = scaled(10)  # per engine (4 in `make test`)


def _run(bootstrap: str, engine: str, lines: list[bytes]) -> list[tuple[str, int]]:
    settings = isolated(bootstrap)  # topics created just now
    produce(settings, [CATALOG], lines)
    run_bounded(settings, [CATALOG], engine=engine)  # WorkerError unless it ends
    return incident_versions(settings)


def test_each_engine_ends_with_the_embedded_runners_incidents_right_after_broker_start_and_topic_creation(
    kafka_broker: Broker | str, tmp_path: Path
) -> None:
    lines = simulated(tmp_path, hours=1, seed=23)[:6000]  # ~8 minutes of the city: 3 incidents, seconds a run
    expected = embedded_versions([CATALOG], lines)
    assert expected
    bootstrap = kafka_broker if isinstance(kafka_broker, str) else kafka_broker.bootstrap
    with ThreadPoolExecutor(2) as pool:
        for i in range(RUNS):
            # a broker restart every third round (~12 s each, 4 in all); the two engines start together, each on
            # topics of its own: right after the broker's start in those rounds, right after their topics' creation
            # in every round
            if i % 3 == 0 and isinstance(kafka_broker, Broker):
                kafka_broker.down()
                kafka_broker.up()
            runs = {engine: pool.submit(_run, bootstrap, engine, lines) for engine in ("confluent", "faust")}
            for engine, run in runs.items():
                got = run.result()
                assert len(got) == len(set(got)), f"{engine}, run {i + 1}: an incident version twice"
                assert set(got) == expected, f"{engine}, run {i + 1}"
