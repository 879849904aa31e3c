"""Session fixtures for the integration tiers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kafka_broker import Broker, broker_session


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker | str]:
    """The broker process (or an external bootstrap string when SAQSHY_TEST_KAFKA is set)."""
    with broker_session() as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: Broker | str) -> str:
    """bootstrap.servers of a real Kafka broker, started for this test session and stopped after it."""
    return kafka_broker if isinstance(kafka_broker, str) else kafka_broker.bootstrap


# Per-tier limits (pytest-timeout): a hung test fails on its own, well before CI's budget, and the run goes on.
# A test's own @pytest.mark.timeout wins; pyproject's `timeout` is the fallback for anything not listed.
TIER_TIMEOUT_S = {
    "unit": 120,
    "context": 300,
    "detectors": 300,
    "golden": 300,
    "archive": 300,
    "forecast": 300,
    "integration": 600,
    "packaging": 600,
    "deploy": 300,
    "property": 600,
    "kafka": 600,
    "flink": 600,
}
BROKER_FIXTURES = {"kafka_broker", "kafka_bootstrap"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "flink: runs a Flink mini-cluster (every test under tests/flink)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = (
            item.path.relative_to(config.rootpath / "tests").parts[0]
            if item.path.is_relative_to(config.rootpath / "tests")
            else ""
        )
        # a test that uses the broker is a kafka test whatever its module says, so `-m "not kafka"` never starts one
        if BROKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kafka)
        if tier == "flink":
            item.add_marker(pytest.mark.flink)
        if tier in TIER_TIMEOUT_S and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TIER_TIMEOUT_S[tier]))
