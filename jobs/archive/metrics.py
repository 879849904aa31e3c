"""Prometheus metrics of the archiver: rows in and out per table, inserts, failures and retries, lag, commits
(docs/archive.md, Metrics). A registry per archiver, so several in one process (tests) do not collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# seconds per insert of a batch (every table of it): chDB takes milliseconds, a server under load seconds
INSERT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ArchiveMetrics:
    def __init__(self, port: int | None = None):
        self.registry = CollectorRegistry()
        r = self.registry
        self.rows_in = Counter("saqshy_archive_rows_in", "Rows taken from Kafka into the buffer", ["table"], registry=r)
        self.rows_out = Counter("saqshy_archive_rows_out", "Rows inserted into ClickHouse", ["table"], registry=r)
        self.insert_seconds = Histogram(
            "saqshy_archive_insert_seconds", "Time to insert one batch", buckets=INSERT_BUCKETS, registry=r
        )
        self.insert_failures = Counter("saqshy_archive_insert_failures", "Inserts that failed", registry=r)
        self.insert_retries = Counter(
            "saqshy_archive_insert_retries", "Inserts retried after a backoff while waiting for ClickHouse", registry=r
        )
        self.dead_letters = Counter(
            "saqshy_archive_dead_letters", "Messages sent to the dead-letter topic", ["stage"], registry=r
        )
        self.commits = Counter("saqshy_archive_commits", "Offset commits after a durable insert", registry=r)
        self.lag = Gauge(
            "saqshy_archive_consumer_lag",
            "Messages behind the end of each partition",
            ["topic", "partition"],
            registry=r,
        )
        self.buffered = Gauge("saqshy_archive_buffered_rows", "Rows held in memory, not yet inserted", registry=r)
        if port is not None:
            start_http_server(port, registry=r)
