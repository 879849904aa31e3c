"""Prometheus metrics of the worker: events in per topic, incidents out, dead letters, lag, state size."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class WorkerMetrics:
    """A registry of its own per worker, so several workers (tests) in one process do not collide."""

    def __init__(self, port: int | None = None):
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("saqshy_events_in", "Events consumed", ["topic"], registry=r)
        self.incidents = Counter(
            "saqshy_incident_updates_out", "Incident updates produced", ["rule", "status"], registry=r
        )
        self.dead_letters = Counter(
            "saqshy_dead_letters", "Inputs rejected to the dead-letter topic", ["stage"], registry=r
        )
        self.alerts = Counter("saqshy_public_alerts_out", "Public alerts produced", ["msg_type"], registry=r)
        self.rule_reloads = Counter("saqshy_rule_reloads", "Rule set reloads", ["outcome"], registry=r)
        self.lag = Gauge(
            "saqshy_consumer_lag", "Messages behind the end of each input partition", ["topic", "partition"], registry=r
        )
        self.state_bytes = Gauge(
            "saqshy_state_bytes", "Size of the last snapshot of each partition", ["partition"], registry=r
        )
        self.transactions = Counter(
            "saqshy_transactions", "Transactions ended, by outcome (committed, aborted)", ["outcome"], registry=r
        )
        self.partitions = Gauge("saqshy_partitions", "Partitions this worker owns", registry=r)
        self._events_in: dict[str, int] = {}
        if port is not None:
            start_http_server(port, registry=r)

    def event_in(self, topic: str) -> None:
        """Counted in a plain dict and added to the counter by `flush`: a labelled increment per event costs
        ~13 us, a fifth of a correlated event's whole budget."""
        self._events_in[topic] = self._events_in.get(topic, 0) + 1

    def flush(self) -> None:
        counts, self._events_in = self._events_in, {}
        for topic, n in counts.items():
            self.events.labels(topic).inc(n)
