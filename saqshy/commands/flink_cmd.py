"""`saqshy flink run`: the correlation job on Apache Flink, on the local mini-cluster or a cluster.

Kafka settings (bootstrap servers, SASL/SSL, topic prefix) come from the settings file's [kafka] and SAQSHY_KAFKA_*
through KafkaSettings, as for `saqshy worker`; --bootstrap overrides the servers. The job's deployment settings
(jobmanager, parallelism, checkpoints, group) are FlinkSettings: [flink], SAQSHY_FLINK_*, then the options.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from jobs.flink.settings import FlinkSettings
from saqshy.commands.kafka_cmd import (
    bootstrap_option,
    context_options,
    live_context,
    partitioning_option,
)
from saqshy.commands.options import rules_option
from saqshy.settings import BOOTSTRAP, setting
from streams.kafka.settings import KafkaSettings


@click.group("flink")
def flink() -> None:
    """Run the correlation job on Apache Flink (PyFlink)."""


@flink.command("run")
@rules_option
@partitioning_option
@click.option(
    "--cell-m",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Spatial cell size in metres (default: the largest radius).",
)
@setting(FlinkSettings, "parallelism", "--parallelism", type=click.IntRange(min=1))
@setting(FlinkSettings, "jobmanager", "--jobmanager", type=BOOTSTRAP)
@setting(FlinkSettings, "checkpoint_dir", "--checkpoint-dir")
@setting(FlinkSettings, "checkpoint_interval", "--checkpoint-interval", type=click.FloatRange(min=0, min_open=True))
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
@setting(FlinkSettings, "group", "--group")
@click.option("--bounded", is_flag=True, help="Kafka: stop at the end offsets found at the start.")
@click.option("--detached", is_flag=True, help="Submit and return (cluster runs).")
@context_options
def run(
    rule_paths: tuple[Path, ...],
    partitioning: str,
    cell_m: float | None,
    parallelism: int | None,
    jobmanager: str | None,
    checkpoint_dir: str | None,
    checkpoint_interval: float | None,
    from_savepoint: str | None,
    input_path: Path | None,
    out: Path | None,
    dlq: Path | None,
    bootstrap: str | None,
    group: str | None,
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

    fs = FlinkSettings.from_env(
        parallelism=parallelism,
        jobmanager=jobmanager,
        checkpoint_dir=checkpoint_dir,
        checkpoint_interval=checkpoint_interval,
        group=group,
    )
    if out is not None and (input_path is None or fs.jobmanager is not None):
        raise click.UsageError("--out needs --input and the local mini-cluster")
    config = FlinkJobConfig(
        rules=rule_paths,
        partitioning=partitioning,  # type: ignore[arg-type]
        cell_m=cell_m,
        parallelism=fs.parallelism,
        input=input_path,
        bounded=bounded,
        checkpoint_dir=fs.checkpoint_dir,
        checkpoint_interval_ms=int(fs.checkpoint_interval * 1000),
        from_savepoint=from_savepoint,
        jobmanager=fs.jobmanager,
        group=fs.group,
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
