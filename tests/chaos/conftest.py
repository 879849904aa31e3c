"""One broker for the whole chaos suite, behind a TCP proxy the tests control (the broker advertises the proxy's
port, so every client connection goes through it). Tests restart it, cut and slow its network: it is never the
session broker that other tiers share."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.proxy import TcpProxy, proxy
from tests.kafka_broker import Broker, free_port


@pytest.fixture(scope="session")
def proxied() -> Iterator[tuple[Broker, TcpProxy]]:
    with tempfile.TemporaryDirectory(prefix="saqshy-kafka-") as tmp:
        broker_port = free_port()
        broker = Broker(Path(tmp), broker_port, free_port(), advertised_port=free_port())
        with proxy(broker.advertised_port, broker_port) as p:
            broker.up()
            try:
                yield broker, p
            finally:
                p.heal()
                broker.down()


@pytest.fixture
def own_broker(proxied: tuple[Broker, TcpProxy]) -> Iterator[Broker]:
    """The chaos broker, its network whole (a failed test that cut it does not leave it cut for the next)."""
    broker, net = proxied
    net.heal()
    yield broker
    net.heal()
