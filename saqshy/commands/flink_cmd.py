"""`saqshy flink run`: the correlation job on Apache Flink, on the local mini-cluster or a cluster.

Kafka settings (bootstrap servers, SASL/SSL, topic prefix) come from SAQSHY_KAFKA_* through KafkaSettings,
as for `saqshy worker`; --bootstrap overrides the servers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from saqshy.commands.kafka_cmd import (
    bootstrap_option,
    context_options,
    live_context,
    partitioning_option,
    rules_option,
)
from streams.kafka.settings import KafkaSettings


@click.group("flink")
def flink() -> None:
    """Run the correlation job on Apache Flink (PyFlink)."""


@flink.command("run")
@rules_option
@partitioning_option
@click.option("--cell-m", type=float, default=None, help="Spatial cell size in metres (default: the largest radius).")
@click.option("--parallelism", type=int, default=1, show_default=True)
@click.option(
    "--jobmanager", default=None, help="HOST:PORT of a cluster's REST endpoint (default: local mini-cluster)."
)
@click.option("--checkpoint-dir", default=None, help="Checkpoints and savepoints, e.g. file:///data/checkpoints.")
@click.option("--checkpoint-interval", type=float, default=5.0, show_default=True, help="Seconds.")
@click.option("--from-savepoint", default=None, help="Restore from this savepoint or retained checkpoint.")
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A bounded file of event lines instead of the Kafka event topics.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --input on the local mini-cluster: incident updates to this JSONL file instead of Kafka.",
)
@click.option("--dlq", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Dead letters (with --out).")
@bootstrap_option
@click.option("--group", default="saqshy-flink", show_default=True, help="Consumer group and transactional id prefix.")
@click.option("--bounded", is_flag=True, help="Kafka: stop at the end offsets found at the start.")
@click.option("--detached", is_flag=True, help="Submit and return (cluster runs).")
@context_options
def run(
    rule_paths: tuple[Path, ...],
    partitioning: str,
    cell_m: float | None,
    parallelism: int,
    jobmanager: str | None,
    checkpoint_dir: str | None,
    checkpoint_interval: float,
    from_savepoint: str | None,
    input_path: Path | None,
    out: Path | None,
    dlq: Path | None,
    bootstrap: str | None,
    group: str,
    bounded: bool,
    detached: bool,
    with_context: bool,
    alert_policy: Path | None,
    warning_devices: Path | None,
    roster: Path | None,
) -> None:
    """Run the job: the same core, keyed like the Kafka worker, state in Flink checkpoints; incidents are
    enriched (rules.context) unless --no-context, as by `saqshy worker`."""
    from jobs.flink.job import FlinkJobConfig, FlinkJobError, collect, submit
    from rules.errors import RuleSetError
    from streams.partitioning import PartitionPlanError

    if out is not None and (input_path is None or jobmanager is not None):
        raise click.UsageError("--out needs --input and the local mini-cluster")
    if parallelism < 1:
        raise click.UsageError("--parallelism must be at least 1")
    config = FlinkJobConfig(
        rules=rule_paths,
        partitioning=partitioning,  # type: ignore[arg-type]
        cell_m=cell_m,
        parallelism=parallelism,
        input=input_path,
        bounded=bounded,
        checkpoint_dir=checkpoint_dir,
        checkpoint_interval_ms=int(checkpoint_interval * 1000),
        from_savepoint=from_savepoint,
        jobmanager=jobmanager,
        group=group,
        context=live_context(with_context, alert_policy, warning_devices, roster),
    )
    try:
        if out is not None:
            counts = {"incident": 0, "alert": 0, "dlq": 0}
            with out.open("w", encoding="utf-8") as inc, (dlq or Path("/dev/null")).open("w", encoding="utf-8") as dl:
                for kind, _, value in collect(config):
                    counts[kind] = counts.get(kind, 0) + 1
                    if kind == "incident":
                        inc.write(value + "\n")
                    elif kind == "dlq":
                        dl.write(value + "\n")
            click.echo(f"{counts['incident']} incident updates, {counts['dlq']} dead letters", err=True)
            return
        client = submit(config, KafkaSettings.from_env(bootstrap_servers=bootstrap))
        click.echo(f"job {client.get_job_id()} submitted", err=True)
        if not detached:
            client.get_job_execution_result().result()
    except (RuleSetError, PartitionPlanError, FlinkJobError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
