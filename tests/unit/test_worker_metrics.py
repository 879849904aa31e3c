"""Worker metrics: events are counted per topic in a plain dict and reach the Prometheus counter on flush."""

from __future__ import annotations

from streams.kafka.metrics import WorkerMetrics


def test_events_in_reach_the_counter_on_flush() -> None:
    metrics = WorkerMetrics()
    for topic in ("saqshy.events.anpr", "saqshy.events.anpr", "saqshy.events.calls"):
        metrics.event_in(topic)

    def value(topic: str) -> float | None:
        return metrics.registry.get_sample_value("saqshy_events_in_total", {"topic": topic})

    assert value("saqshy.events.anpr") is None  # not yet: counted locally
    metrics.flush()
    assert value("saqshy.events.anpr") == 2
    assert value("saqshy.events.calls") == 1
    metrics.event_in("saqshy.events.calls")
    metrics.flush()
    metrics.flush()  # nothing new: nothing added twice
    assert value("saqshy.events.calls") == 2
