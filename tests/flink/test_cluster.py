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
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas import Incident
from tests.flink.helpers import embedded, needs_connector, same_updates
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


# The job is submitted from a process of its own: PyFlink's gateway is one JVM per process, and an environment made
# for a remote cluster there sent the later mini-cluster jobs of the session to that cluster, stopped by then.
SUBMIT = """
import sys
from pathlib import Path
from tests.flink.helpers import run_file
root, events, cluster, checkpoints, out = sys.argv[1:]
got, stages = run_file(
    [Path(root)], Path(events), partitioning="spatial", jobmanager=cluster, checkpoint_dir=checkpoints
)
Path(out).write_text("\\n".join(u.model_dump_json() for u in got) + "\\n" + repr(dict(stages)))
"""


def test_the_job_on_a_standalone_cluster_gives_the_embedded_runners_updates(tmp_path: Path, cluster: str) -> None:
    root = catalog_subset(tmp_path, ["fire", "sos", "calls/mass_incident.yaml"])
    lines = simulated(tmp_path, hours=1, seed=5)[:8000]
    events = tmp_path / "cut.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "updates.txt"
    checkpoints = (tmp_path / "checkpoints").as_uri()  # a cluster's default: the JobManager's memory (5 MB)
    try:
        subprocess.run(
            [sys.executable, "-c", SUBMIT, str(root), str(events), cluster, checkpoints, str(out)],
            check=True, capture_output=True, timeout=JOB_TIMEOUT_S, cwd=ROOT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"the job did not finish in {JOB_TIMEOUT_S:.0f} s (a TaskManager hung?)")
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"the job failed: {exc.stderr.decode(errors='replace')[-3000:]}")
    *rows, stages = out.read_text().splitlines()
    got = [Incident.model_validate_json(r) for r in rows if r]
    expected = embedded([root], lines)
    assert expected
    assert same_updates(got, expected) == []
    assert stages == "{}"
