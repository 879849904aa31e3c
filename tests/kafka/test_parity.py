"""The golden scenarios through a real broker and each Kafka worker (confluent-kafka, Faust) give exactly the
embedded runner's incidents."""

from __future__ import annotations

import pytest

from schemas import Incident
from schemas.topics import INCIDENTS
from tests.golden.harness import CATALOG, Scenario, check, scenarios
from tests.kafka.helpers import dead_letter_stages, end_offsets, isolated, produce, read_topic, run_bounded

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("engine", ["confluent", "faust"])
@pytest.mark.parametrize("scenario", scenarios(), ids=lambda s: s.name)
def test_golden_scenario_through_kafka(kafka_bootstrap: str, scenario: Scenario, engine: str) -> None:
    settings = isolated(kafka_bootstrap)
    produce(settings, [CATALOG], scenario.lines)
    run_bounded(settings, [CATALOG], engine=engine)
    updates = [Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS)]
    assert check(scenario, updates, dead_letter_stages(settings)) == []
    # exactly once: no (id, version) twice on the topic
    assert len({(u.id, u.version) for u in updates}) == len(updates)
    # ... because the updates were committed in transactions with the input offsets: each left a commit marker
    assert updates and end_offsets(settings, INCIDENTS) > len(updates)
