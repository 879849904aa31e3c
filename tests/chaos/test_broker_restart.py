"""The broker restarts while a live worker owns its partitions and runs transactions, several times; the worker
rides through every restart without a hang, a SIGTERM then ends it within a bounded time, and a bounded worker
finishes the stream: every incident version is exactly the embedded runner's, none lost, none twice.

Recovery is measured per cycle: from the broker back up to the worker's next committed input offset.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import broker_restarts, compare_with_embedded, report
from tests.kafka.helpers import isolated, simulated
from tests.kafka_broker import Broker
from tests.support import scaled

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(900)]

CYCLES = 5  # `make chaos` runs them all; `make test` a share (SAQSHY_TEST_SCALE)
STOP_BOUND_S = 30.0  # a SIGTERM ends the worker within this (each transactional call is bounded, txn.py)
RECOVERY_TARGET_S = 30.0


def test_a_live_worker_rides_through_broker_restarts_and_loses_or_repeats_nothing(
    own_broker: Broker, tmp_path: Path
) -> None:
    lines = simulated(tmp_path, hours=2, seed=23)
    settings = isolated(own_broker.bootstrap, partitions=3)
    run = broker_restarts(own_broker, settings, lines, scaled(CYCLES), tmp_path)
    assert run.returncode == 0, run.log[-3000:]
    assert run.sigterm_s <= STOP_BOUND_S, f"SIGTERM took {run.sigterm_s:.1f} s"

    assert max(c.recovery_s for c in run.cycles) <= RECOVERY_TARGET_S, run.cycles

    compared = compare_with_embedded(settings, run.group, lines, tmp_path)
    report("broker_restart", **run.figures(), versions_compared=compared, lost=0, duplicated=0)


def test_a_live_faust_worker_rides_through_broker_restarts_and_loses_or_repeats_nothing(
    own_broker: Broker, tmp_path: Path
) -> None:
    """The same for the Faust engine (aiokafka's transactions, Faust's rebalances), on a shorter stream: Faust
    reads several times slower."""
    lines = simulated(tmp_path, hours=1, seed=29)
    settings = isolated(own_broker.bootstrap, partitions=3)
    run = broker_restarts(own_broker, settings, lines, scaled(3), tmp_path, "--engine", "faust")
    assert run.returncode == 0, run.log[-3000:]
    assert run.sigterm_s <= STOP_BOUND_S * 2, f"SIGTERM took {run.sigterm_s:.1f} s"  # Faust's stop: up to 60 s
    assert max(c.recovery_s for c in run.cycles) <= RECOVERY_TARGET_S, run.cycles

    compared = compare_with_embedded(settings, run.group, lines, tmp_path, "--engine", "faust")
    report("broker_restart_faust", **run.figures(), versions_compared=compared, lost=0, duplicated=0)
