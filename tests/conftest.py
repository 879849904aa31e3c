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
