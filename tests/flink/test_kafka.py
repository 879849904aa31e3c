"""The golden scenarios through a real broker and the Flink job give exactly the embedded runner's incidents,
enriched with the same (default) context; reference records come from the reference topics."""

from __future__ import annotations

import pytest

from schemas import Incident
from schemas.topics import INCIDENTS, INCIDENTS_LATEST
from tests.flink.helpers import embedded, isolated, needs_connector, run_kafka, same_updates
from tests.golden.harness import CATALOG, check, scenarios
from tests.kafka.helpers import dead_letter_stages, produce, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow, needs_connector]


def test_golden_scenarios_through_kafka_on_flink(kafka_bootstrap: str) -> None:
    problems: dict[str, list[str]] = {}
    for scenario in scenarios():
        settings = isolated(kafka_bootstrap)
        produce(settings, [CATALOG], scenario.lines)
        run_kafka(settings, [CATALOG])
        updates = [Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS)]
        found = check(scenario, updates, dead_letter_stages(settings))
        found += same_updates(updates, embedded([CATALOG], scenario.lines))
        latest = {Incident.model_validate_json(v).id for v in read_topic(settings, INCIDENTS_LATEST)}
        if latest != {u.id for u in updates}:
            found.append(f"saqshy.incidents.latest holds {sorted(latest)}")
        if found:
            problems[scenario.name] = found
    assert problems == {}, "\n".join(f"{k}: {p}" for k, v in problems.items() for p in v)
