"""The worker's Prometheus endpoint after real work on a real broker: every metric it documents is fed."""

from __future__ import annotations

import pytest

from tests.golden.harness import CATALOG, scenarios
from tests.kafka.helpers import isolated, produce, run_bounded
from tests.scrape import free_port, scrape, total

pytestmark = pytest.mark.kafka


def test_the_worker_serves_latency_watermark_lag_late_and_dead_letters(kafka_bootstrap: str) -> None:
    scenario = next(s for s in scenarios() if s.name == "anpr_route_disorder")  # a late read, two bad lines
    settings = isolated(kafka_bootstrap, partitions=1)
    produce(settings, [CATALOG], scenario.lines)
    port = free_port()

    outputs = run_bounded(settings, [CATALOG], metrics_port=port)

    m = scrape(port)
    versions = sum(len(o.incidents) for o in outputs)
    assert versions > 0
    assert total(m, "saqshy_incident_updates_out_total") == versions
    # every version but those the end of a bounded run fires (no causing event) has a latency
    observed = total(m, "saqshy_event_to_incident_seconds_count")
    assert 0 < observed <= versions
    assert total(m, "saqshy_event_to_incident_seconds_bucket", le="+Inf") == observed
    assert 0 < total(m, "saqshy_event_to_incident_seconds_sum") < observed * 5.0
    anpr = settings.topic("saqshy.events.anpr")
    assert total(m, "saqshy_late_events_total", topic=anpr) == 1
    assert total(m, "saqshy_dead_letters_total", stage="late") == 1
    assert total(m, "saqshy_dead_letters_total", stage="decode") == 1
    assert total(m, "saqshy_dead_letters_total", stage="validate") == 1
    # the scenario's event times lie years back: the wall clock is far ahead of them
    assert total(m, "saqshy_watermark_lag_seconds", partition="0") > 86_400
    assert total(m, "saqshy_transactions_total", outcome="committed") >= 1
    assert total(m, "saqshy_events_in_total") == len(scenario.lines) - 1  # the hotlist record is reference data
