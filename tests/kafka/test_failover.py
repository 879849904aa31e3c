"""Fast failover (issue 17): a worker killed with -9 and started again under its instance id gets its partitions
back at once (static group membership), instead of waiting for its dead session to expire (about 45 s for the
confluent engine and 61.5 s for the Faust engine before); the time from its start to its first commit past the dead
worker's is measured, on both engines."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.golden.harness import CATALOG
from tests.kafka.helpers import isolated, produce, simulated
from tests.kafka.test_recovery import _committed, _worker
from tests.kafka_broker import Broker, unique

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
RECOVERY_LIMIT_S = 25.0  # a Python start, the rules, the snapshot restore and one transaction, with room for a slow CI


@pytest.mark.parametrize("engine", ["confluent", "faust"])
def test_a_worker_restarted_under_its_id_resumes_without_waiting_for_its_old_session(
    kafka_broker: Broker | str, tmp_path: Path, engine: str
) -> None:
    bootstrap = kafka_broker if isinstance(kafka_broker, str) else kafka_broker.bootstrap
    lines = simulated(tmp_path, hours=2, seed=13)
    settings = isolated(bootstrap, partitions=3)
    group = unique("failover")
    half = len(lines) // 2
    produce(settings, [CATALOG], lines[:half])

    first = _worker(settings, group, "--engine", engine)
    try:
        deadline = time.monotonic() + 90
        while _committed(settings, group) < 3000:
            assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
            assert time.monotonic() < deadline, "the first worker made no progress"
            time.sleep(0.5)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    before = _committed(settings, group)
    produce(settings, [CATALOG], lines[half:])

    started = time.monotonic()
    second = _worker(settings, group, "--engine", engine)
    try:
        while _committed(settings, group) <= before:
            assert second.poll() is None, second.stderr.read().decode() if second.stderr else ""
            assert time.monotonic() - started < 120, "the restarted worker never committed"
            time.sleep(0.2)
        recovery_s = time.monotonic() - started
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(30)
        except Exception:
            second.kill()
    print(f"{engine}: recovery_s={recovery_s:.1f}")
    assert recovery_s < RECOVERY_LIMIT_S, f"the restarted worker waited {recovery_s:.1f} s for its partitions"
