"""A real Apache Kafka broker for the integration tests, started by infra/kafka/kafka.sh on free ports.

SAQSHY_TEST_KAFKA=host:port uses a broker that is already running instead (e.g. `make kafka-up`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "infra" / "kafka" / "kafka.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Broker:
    """A broker process this test session owns; it can be stopped and started again on the same data."""

    def __init__(self, data: Path, port: int, controller_port: int, advertised_port: int | None = None):
        self.data, self.port, self.controller_port = data, port, controller_port
        # clients are told to connect here (a proxy of the test's own in front of `port`, or `port` itself)
        self.advertised_port = advertised_port or port
        self.bootstrap = f"127.0.0.1:{self.advertised_port}"

    def _run(self, verb: str) -> None:
        env = dict(
            os.environ,
            KAFKA_PORT=str(self.port),
            KAFKA_CONTROLLER_PORT=str(self.controller_port),
            KAFKA_ADVERTISED_PORT=str(self.advertised_port),
            KAFKA_DATA=str(self.data),
        )
        subprocess.run([str(SCRIPT), verb], check=True, env=env, timeout=240)

    def up(self) -> None:
        self._run("up")

    def down(self) -> None:
        self._run("down")


@contextmanager
def broker_session() -> Iterator[Broker | str]:
    external = os.environ.get("SAQSHY_TEST_KAFKA")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="saqshy-kafka-") as tmp:
        broker = Broker(Path(tmp), free_port(), free_port())
        broker.up()
        try:
            yield broker
        finally:
            broker.down()


def unique(name: str) -> str:
    """A topic or group name no other test uses, so tests never see each other's messages."""
    return f"{name}.{uuid.uuid4().hex[:8]}"
