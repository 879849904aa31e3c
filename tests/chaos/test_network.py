"""The network between a live worker and its broker is cut (longer than the session timeout: partitions lost,
the open transaction aborted by the broker) and slowed, through a TCP proxy the test controls; the worker rides
through it, and every incident version is exactly the embedded runner's, none lost, none twice.

Recovery: from the network healed to the worker's next committed input offset.
"""

from __future__ import annotations

import signal
import statistics
import time
from pathlib import Path

import pytest

from tests.chaos.harness import (
    committed_inputs,
    compare_with_embedded,
    end_offsets,
    fault_cycles,
    report,
    shares,
    start_worker,
    wait_for,
)
from tests.chaos.proxy import TcpProxy
from tests.kafka.helpers import isolated, produce, simulated
from tests.kafka_broker import Broker
from tests.support import CATALOG, TEST_SCALE, scaled

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(900)]

CUTS = 3  # `make chaos` runs them all; `make test` a share (SAQSHY_TEST_SCALE)
CUT_S = 14.0  # longer than the worker's 10 s session timeout
SLOW_S = 0.2  # added to every chunk of bytes, both ways, while slowed


@pytest.mark.parametrize("engine", ["confluent", "faust"])
def test_a_live_worker_rides_through_network_cuts_and_slowness(
    proxied: tuple[Broker, TcpProxy], tmp_path: Path, engine: str
) -> None:
    """Under the Faust engine each cut is a real rebalance with the broker unreachable: the session expires, Faust
    revokes the partitions, and the commit on revocation cannot reach the broker."""
    if engine == "faust" and TEST_SCALE < 1:  # its stop with the network cut runs in `make test`
        pytest.skip("runs in full only (make chaos, make test-full)")
    broker, net = proxied
    extra = ("--engine", engine)
    lines = simulated(tmp_path, hours=2 if TEST_SCALE >= 1 and engine == "confluent" else 1, seed=37)
    settings = isolated(broker.bootstrap, partitions=3)
    group = f"net-{int(time.time())}"
    cuts = scaled(CUTS)
    # a share of the stream before the first cut, after each cut, and while slowed
    chunks = shares(lines, cuts + 2)
    produce(settings, [CATALOG], chunks[0])
    worker = start_worker(settings, group, tmp_path / "worker.log", *extra)

    def cut() -> None:
        net.cut()
        time.sleep(CUT_S)
        net.heal()

    try:
        wait_for(lambda: committed_inputs(settings, group) > 0, 120, "the worker committed nothing", worker)
        recovery = [c.recovery_s for c in fault_cycles(settings, group, worker, chunks[1:-1], cut, "network cut")]
        net.slow(SLOW_S)
        produce(settings, [CATALOG], chunks[-1])
        ends = end_offsets(settings)
        wait_for(lambda: committed_inputs(settings, group) >= ends, 240, "the worker did not catch up slowed", worker)
        net.heal()
        worker.send_signal(signal.SIGTERM)
        worker.wait(120)  # a Faust worker's stop may take up to 60 s
    finally:
        net.heal()
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text(errors="replace")[-3000:]

    assert max(recovery) <= 30, recovery
    compared = compare_with_embedded(settings, group, lines, tmp_path, *extra)
    report(
        "network" if engine == "confluent" else "network_faust",
        cuts=cuts,
        cut_s=CUT_S,
        slowed_ms=SLOW_S * 1000,
        versions_compared=compared,
        lost=0,
        duplicated=0,
        recovery_s_median=round(statistics.median(recovery), 2),
        recovery_s_max=round(max(recovery), 2),
    )
