"""The job on a standalone cluster as `infra/flink/flink.sh up` starts one (a JobManager and a TaskManager, each its
own JVM; the TaskManager's Python embedded in thread mode), submitted to it as `--jobmanager` does: the embedded
runner's updates. The other tests run on a mini-cluster, which starts its interpreter itself; a cluster's comes up
with flink.sh's PYTHONPATH. That path lacked jobs/flink/embedded_init once, and `make bench BENCH=flink` hung
there (two task threads of one TaskManager loading extension modules at once, as the mini-cluster had before the
preload). The race is rare: this test passed once with the old path too, so it guards the deployment path, and
a hang only fails it on its deadline."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.flink.helpers import embedded, needs_connector, run_file, same_updates
from tests.kafka.helpers import simulated
from tests.kafka_broker import ROOT, free_port
from tests.support import catalog_subset

pytestmark = [pytest.mark.slow, needs_connector]
SCRIPT = ROOT / "infra" / "flink" / "flink.sh"
JOB_TIMEOUT_S = 240.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    port = str(free_port())
    env = dict(os.environ, FLINK_REST_PORT=port, FLINK_DATA=str(tmp_path / "cluster"))
    subprocess.run([str(SCRIPT), "up", "1"], check=True, env=env, capture_output=True, timeout=180)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(SCRIPT), "down"], env=env, capture_output=True, check=False, timeout=120)


def test_the_job_on_a_standalone_cluster_gives_the_embedded_runners_updates(tmp_path: Path, cluster: str) -> None:
    root = catalog_subset(tmp_path, ["fire", "sos", "calls/mass_incident.yaml"])
    lines = simulated(tmp_path, hours=1, seed=5)[:8000]
    events = tmp_path / "cut.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    result: list[object] = []

    def run() -> None:  # a hung job never returns: the test fails on its deadline instead of hanging CI
        checkpoints = (tmp_path / "checkpoints").as_uri()  # a cluster's default: the JobManager's memory (5 MB)
        result.append(run_file([root], events, partitioning="spatial", jobmanager=cluster, checkpoint_dir=checkpoints))

    job = threading.Thread(target=run, daemon=True)
    job.start()
    job.join(JOB_TIMEOUT_S)
    assert not job.is_alive(), f"the job did not finish in {JOB_TIMEOUT_S:.0f} s (a TaskManager hung?)"
    got, stages = result[0]  # type: ignore[misc]
    expected = embedded([root], lines)
    assert expected
    assert same_updates(got, expected) == []
    assert not stages
