"""SIGTERM while the broker is away: stopped, or the network to it cut through the proxy. The worker has events
processed since its last commit, and its last commit (outputs, snapshot and offsets in one transaction) cannot
reach the broker. It must still end within a bounded time, say that its last commit failed, and leave nothing
that blocks its successor; once the broker is back, a bounded worker of the group finishes the stream with
exactly the embedded runner's incident versions (what the failed commit held is redone, none lost, none twice).
"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import pytest

from tests.chaos.harness import (
    committed_inputs,
    compare_with_embedded,
    end_offsets,
    report,
    shares,
    start_worker,
    tail,
    wait_for,
)
from tests.chaos.proxy import TcpProxy
from tests.kafka.helpers import isolated, produce, simulated
from tests.kafka_broker import Broker
from tests.support import CATALOG, TEST_SCALE

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(900)]

STOP_BOUND_S = {"confluent": 30.0, "faust": 60.0}  # as after a broker restart: Faust's own stop takes up to 60 s
# `make test` runs one fault per engine; `make chaos` and `make test-full` all four
IN_CI = {("confluent", "broker_down"), ("faust", "network_cut")}


@pytest.mark.parametrize("fault", ["broker_down", "network_cut"])
@pytest.mark.parametrize("engine", ["confluent", "faust"])
def test_a_sigterm_while_the_broker_is_away_ends_the_worker_in_time_and_loses_nothing(
    proxied: tuple[Broker, TcpProxy], tmp_path: Path, engine: str, fault: str
) -> None:
    if (engine, fault) not in IN_CI and TEST_SCALE < 1:
        pytest.skip("runs in full only (make chaos, make test-full)")
    broker, net = proxied
    net.heal()
    extra = ("--engine", engine)
    lines = simulated(tmp_path, hours=1, seed=41)
    settings = isolated(broker.bootstrap, partitions=3)
    group = f"stop-{uuid.uuid4().hex[:8]}"
    first, second, rest = shares(lines, 3)
    produce(settings, [CATALOG], first)
    log = tmp_path / "worker.log"
    worker = start_worker(settings, group, log, *extra)
    away = False
    try:
        ends = end_offsets(settings)
        wait_for(lambda: committed_inputs(settings, group) >= ends, 180, "the worker did not catch up", worker)
        # mid-stream: the worker has committed part of the second share and is working on the rest
        produce(settings, [CATALOG], second)
        wait_for(lambda: committed_inputs(settings, group) > ends, 120, "no commit of the second share", worker)
        stopping = time.monotonic()
        if fault == "broker_down":
            broker.down()
        else:
            net.cut()
        away = True
        worker.send_signal(signal.SIGTERM)
        worker.wait(STOP_BOUND_S[engine] + 60)
        stopped_s = time.monotonic() - stopping
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if away:
            if fault == "broker_down":
                broker.up()
            net.heal()
    said = log.read_text(errors="replace")
    assert stopped_s <= STOP_BOUND_S[engine], f"SIGTERM took {stopped_s:.1f} s:\n{tail(log, 40)}"
    assert " stopped after " in said, f"no summary line:\n{tail(log, 40)}"
    assert "the last commit failed" in said, f"the failed last commit is not named:\n{tail(log, 40)}"
    assert worker.returncode == 0, f"a requested stop that lost nothing is no error:\n{tail(log, 40)}"
    noise = sum(" aiokafka" in line or "saqshy.librdkafka" in line for line in said.splitlines())
    assert noise < 200, f"{noise} lines from the Kafka clients while the broker was away"

    produce(settings, [CATALOG], rest)
    compared = compare_with_embedded(settings, group, lines, tmp_path, *extra)
    report(f"sigterm_offline_{engine}_{fault}", sigterm_s=round(stopped_s, 2), returncode=worker.returncode,
           versions_compared=compared, lost=0, duplicated=0)  # fmt: skip
