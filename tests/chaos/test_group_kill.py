"""Two workers share a group; one is killed with -9 while both work. The survivor takes the dead worker's
partitions over once its session expires (static membership: no rebalance before that), restores them from their
snapshots and goes on; every incident version is exactly the embedded runner's, none lost, none twice.

Recovery: from the kill to the moment the group has committed every input produced so far.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.chaos.harness import (
    committed_inputs,
    compare_with_embedded,
    end_offsets,
    report,
    start_worker,
    wait_for,
)
from tests.kafka.helpers import isolated, produce, simulated
from tests.kafka_broker import Broker
from tests.support import CATALOG, TEST_SCALE

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(900)]

SESSION_S = 10.0  # the worker's default session timeout (WorkerConfig.session_timeout)


def test_the_survivor_of_two_workers_takes_over_and_loses_or_repeats_nothing(
    own_broker: Broker, tmp_path: Path
) -> None:
    if TEST_SCALE < 1:  # a minute, and the broker-restart and network scenarios cover the same paths
        pytest.skip("runs in full only (make chaos, make test-full)")
    lines = simulated(tmp_path, hours=2, seed=31)
    settings = isolated(own_broker.bootstrap, partitions=3)
    group = f"pair-{int(time.time())}"
    third = len(lines) // 3
    produce(settings, [CATALOG], lines[:third])
    log = tmp_path / "workers.log"
    first = start_worker(settings, group, log, instance="w1")
    second = start_worker(settings, group, log, instance="w2")
    try:
        ends = end_offsets(settings)
        wait_for(lambda: committed_inputs(settings, group) >= ends, 120, "the pair did not catch up", first)
        produce(settings, [CATALOG], lines[third : 2 * third])
        time.sleep(1.0)  # both at work on the new share
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed = time.monotonic()
        produce(settings, [CATALOG], lines[2 * third :])
        ends = end_offsets(settings)
        wait_for(
            lambda: committed_inputs(settings, group) >= ends, 180, f"the survivor did not take over ({ends})", second
        )
        recovery_s = time.monotonic() - killed
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    finally:
        for worker in (first, second):
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert second.returncode == 0, log.read_text(errors="replace")[-3000:]
    assert "restored from its snapshot" in log.read_text(errors="replace")

    assert recovery_s <= SESSION_S + 20, f"the survivor took {recovery_s:.1f} s"
    compared = compare_with_embedded(settings, group, lines, tmp_path)
    report("group_kill", versions_compared=compared, lost=0, duplicated=0, recovery_s=round(recovery_s, 2))
