"""A bounded run whose last commit cannot reach the broker (the network cut through the proxy right before it) has
not done its work: it fails within a bounded time with an error that says so, never reports success and never
hangs. Its last transaction never becomes visible, so the same bounded run, once the network is back, ends with
exactly the embedded runner's incident versions: none lost, none twice.

The confluent engine runs in-process here (the cut must land between the end of processing and the last commit);
the Faust engine's bounded failure is the same `last_commit_failed`, tested through its stop in
test_stop_offline.py: in-process, aiokafka's consumer thread would retry the cut broker inside the test run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from saqshy.commands.kafka_cmd import live_context
from streams.kafka.worker import Worker, WorkerConfig, WorkerError
from tests.chaos.harness import compare_with_embedded, report
from tests.chaos.proxy import TcpProxy
from tests.kafka.helpers import isolated, produce, simulated
from tests.kafka_broker import Broker, unique
from tests.support import CATALOG

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(600)]

FAIL_BOUND_S = 60.0  # FINAL_RETRY_S of retries, each call bounded (5 s and a grace), one abort try, the close


def test_a_bounded_run_whose_last_commit_fails_says_so_and_a_rerun_finishes_exactly(
    proxied: tuple[Broker, TcpProxy], tmp_path: Path
) -> None:
    broker, net = proxied
    net.heal()
    lines = simulated(tmp_path, hours=1, seed=43)
    settings = isolated(broker.bootstrap, partitions=3)
    produce(settings, [CATALOG], lines)
    group = unique("bounded")
    config = WorkerConfig(
        rules=(CATALOG,), group=group, bounded=True, context=live_context(True, None, None, None)
    )  # enriched as the CLI's worker, which finishes the stream below
    worker = Worker(config, settings)
    final_commit = worker._final_commit
    cut_at: list[float] = []

    def cut_then_commit(bounded: bool) -> None:
        assert worker._bounded_done(), "the last commit came before the end of the input"
        net.cut()
        cut_at.append(time.monotonic())
        final_commit(bounded)

    worker._final_commit = cut_then_commit  # type: ignore[method-assign]
    try:
        with pytest.raises(WorkerError, match=r"the last commit failed \(.+\): run the bounded worker again"):
            worker.run(stop_after=300)
        failed_s = time.monotonic() - cut_at[0]
    finally:
        net.heal()
    assert failed_s <= FAIL_BOUND_S, f"the failed last commit took {failed_s:.1f} s to be reported"

    compared = compare_with_embedded(settings, group, lines, tmp_path)
    report("bounded_last_commit_failed", failed_s=round(failed_s, 2), versions_compared=compared, lost=0, duplicated=0)
