"""Workers killed at random moments while the stream keeps coming: kill -9 (nothing is flushed, the open transaction
is left to the broker) and SIGTERM (the worker ends its transaction itself), alternating; each time a new worker
under the same instance id takes over. A bounded worker then finishes the stream, and every incident version is
exactly the embedded runner's: none lost, none twice, none different.

Recovery is measured per restart: from the new worker's start to the group's next committed input offset.
"""

from __future__ import annotations

import random
import signal
import statistics
import time
from pathlib import Path

import pytest

from tests.chaos.harness import committed_inputs, compare_with_embedded, report, shares, start_worker
from tests.kafka.helpers import isolated, produce, simulated
from tests.kafka_broker import Broker
from tests.support import CATALOG, TEST_SCALE, scaled

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(900)]

KILLS = 10  # `make chaos` runs them all; `make test` a share (SAQSHY_TEST_SCALE)
SEED = 1717
SIGTERM_BOUND_S = 30.0


@pytest.mark.parametrize("engine", ["confluent", "faust"])
def test_workers_killed_at_random_moments_lose_and_repeat_nothing(
    own_broker: Broker, tmp_path: Path, engine: str
) -> None:
    if engine == "faust" and TEST_SCALE < 1:  # its broker-restart scenario and kill -9 test run in `make test`
        pytest.skip("runs in full only (make chaos, make test-full)")
    rng = random.Random(SEED)
    lines = simulated(tmp_path, hours=2 if engine == "confluent" else 1, seed=29)  # Faust reads several times slower
    args = ("--engine", engine)
    # a confluent worker needs ~2 s to start and commit, a Faust worker ~8 s (tests/kafka/test_failover.py)
    window = (2.0, 6.0) if engine == "confluent" else (5.0, 14.0)
    sigterm_bound = SIGTERM_BOUND_S if engine == "confluent" else SIGTERM_BOUND_S * 2  # Faust's own stop: up to 60 s
    settings = isolated(own_broker.bootstrap, partitions=3)
    group = f"kill-{rng.getrandbits(32):08x}"
    kills = scaled(KILLS)
    chunks = shares(lines, kills)
    recovery: list[float] = []
    stops: list[float] = []
    for i, chunk in enumerate(chunks):
        produce(settings, [CATALOG], chunk)
        before = committed_inputs(settings, group)
        log = tmp_path / "workers.log"
        starts = log.read_text(errors="replace").count("assigned") if log.exists() else 0
        started = time.monotonic()
        worker = start_worker(settings, group, log, *args)
        how = signal.SIGKILL if i % 2 == 0 else signal.SIGTERM
        kill_at = started + rng.uniform(*window)  # some kills land before work, some after a commit
        committed_at = None
        # SIGTERM only once the interpreter runs the worker (before that, no Python code can catch a signal)
        while time.monotonic() < kill_at or (
            how == signal.SIGTERM and log.read_text(errors="replace").count("assigned") == starts
        ):
            assert time.monotonic() < started + 60, "the worker never got its partitions"
            if committed_at is None and committed_inputs(settings, group) > before:
                committed_at = time.monotonic()
            assert worker.poll() is None, (tmp_path / "workers.log").read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        if committed_at is not None:
            recovery.append(committed_at - started)
        stopping = time.monotonic()
        worker.send_signal(how)
        worker.wait(sigterm_bound + 30)
        if how == signal.SIGTERM:
            stops.append(time.monotonic() - stopping)
            assert worker.returncode == 0, (tmp_path / "workers.log").read_text(errors="replace")[-3000:]

    compared = compare_with_embedded(settings, group, lines, tmp_path, *args)
    report(
        "kill" if engine == "confluent" else "kill_faust",
        kills=kills,
        sigkill=(kills + 1) // 2,
        sigterm=kills // 2,
        versions_compared=compared,
        lost=0,
        duplicated=0,
        recovery_s_median=round(statistics.median(recovery), 2) if recovery else None,
        recovery_s_max=round(max(recovery), 2) if recovery else None,
        sigterm_s_max=round(max(stops), 2) if stops else None,
    )
    assert recovery, "no restarted worker committed before it was killed"
    assert max(stops, default=0.0) <= sigterm_bound
