"""Kafka commands: `saqshy topics apply|list`, `saqshy produce`, `saqshy tail`, `saqshy worker`.

Client settings (bootstrap servers, SASL/SSL, client id, topic prefix) come from SAQSHY_KAFKA_* variables
through streams.kafka.settings.KafkaSettings; --bootstrap overrides the servers.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import click
import orjson

from rules.errors import RuleSetError
from rules.loader import load_rules
from saqshy.commands.options import rules_option
from saqshy.settings import BOOTSTRAP, setting, setting_help
from streams.embedded import ContextOptions, open_lines
from streams.kafka.settings import KafkaSettings, WorkerSettings

bootstrap_option = click.option(
    "--bootstrap",
    type=BOOTSTRAP,
    default=None,
    help=setting_help(KafkaSettings, "bootstrap_servers", "Kafka bootstrap.servers, HOST:PORT[,HOST:PORT...]."),
)
partitioning_option = click.option(
    "--partitioning",
    type=click.Choice(["single", "spatial"]),
    default="single",
    show_default=True,
    help="single: one key; spatial: grid cells with neighbour replicas (cell-local rules only).",
)


def context_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Enrichment options of the live runtimes (`saqshy worker`, `saqshy flink run`): on by default."""
    path = click.Path(exists=True, dir_okay=False, path_type=Path)
    for option in reversed(
        [
            click.option(
                "--context/--no-context",
                "with_context",
                default=True,
                show_default=True,
                help="Enrich incidents and decide public alerts (reference data comes from the reference topics).",
            ),
            click.option(
                "--alert-policy",
                type=path,
                default=None,
                help="Public alert policy YAML [default: the built-in rules/alerts/default_policy.yaml].",
            ),
            click.option(
                "--warning-devices",
                type=path,
                default=None,
                help="GeoJSON of information boards and loudspeakers (alert channels).",
            ),
            click.option(
                "--roster",
                type=path,
                default=None,
                help="Units roster (.csv/.yaml): only listed units are recommended [default: units known from GPS].",
            ),
        ]
    ):
        command = option(command)
    return command


def live_context(
    with_context: bool, alert_policy: Path | None, warning_devices: Path | None, roster: Path | None
) -> ContextOptions | None:
    """The context of a live runtime: reference data comes from the stream, not from files."""
    from saqshy.commands.replay_cmd import build_context

    return build_context(with_context, (), "1970-01-01T00:00:00Z", alert_policy, warning_devices, roster)


def _settings(bootstrap: str | None) -> KafkaSettings:
    """The client settings, once the cluster has accepted their login and TLS (a refusal fails at once)."""
    from saqshy.kafka_access import check_access

    settings = KafkaSettings.from_env(bootstrap_servers=bootstrap)
    check_access(settings)
    return settings


@click.group("topics")
def topics() -> None:
    """Create and inspect the topics of infra/topics.yaml."""


@topics.command("apply")
@bootstrap_option
@click.option(
    "--spec",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Topic specs YAML [default: the packaged infra/topics.yaml].",
)
@click.option(
    "--partitions", type=int, default=None, help="Partitions of every event topic (they stay co-partitioned)."
)
@click.option(
    "--acls",
    "acl_spec",
    is_flag=False,
    flag_value="packaged",
    default=None,
    help="Also create the ACLs of each service principal (needs an authorizer and a super user): --acls alone "
    "for the packaged infra/kafka/acls.yaml, --acls=FILE for another.",
)
def topics_apply(bootstrap: str | None, spec: Path | None, partitions: int | None, acl_spec: str | None) -> None:
    """Create missing topics, grow partitions, set configs (and ACLs with --acls). Safe to run again."""
    from streams.kafka.topics import SPEC, apply, load_spec

    settings = _settings(bootstrap)
    report = apply(settings, load_spec(spec or SPEC, partitions))
    click.echo(
        f"created {len(report.created)}, existing {len(report.existing)}, grown {len(report.grown)}, "
        f"reconfigured {len(report.reconfigured)}"
    )
    for name in report.created:
        click.echo(f"  + {name}")
    if acl_spec is not None:
        from streams.kafka.acls import ACL_SPEC, apply_acls, load_acls

        path = ACL_SPEC if acl_spec == "packaged" else Path(acl_spec)
        if not path.is_file():
            raise click.BadParameter(f"no such file: {path}", param_hint="'--acls'")
        rules = load_acls(path)
        count = apply_acls(settings, rules)
        click.echo(f"acls: {count} bindings for {len({r.principal for r in rules})} principals ({path.name})")


@topics.command("list")
@bootstrap_option
def topics_list(bootstrap: str | None) -> None:
    """List the cluster's topics (internal ones left out) and their partition counts."""
    from confluent_kafka.admin import AdminClient

    meta = AdminClient(_settings(bootstrap).admin_config()).list_topics(timeout=10)
    for name in sorted(t for t in meta.topics if not t.startswith("__")):
        click.echo(f"{name}\t{len(meta.topics[name].partitions)} partitions")


@topics.command("plan")
@rules_option
@partitioning_option
def topics_plan(rule_paths: tuple[Path, ...], partitioning: str) -> None:
    """Print the partition plan the workers derive from these rules (one JSON line), and the settings that give
    it to a producer of events outside saqshy (the detectors), which must key events as `saqshy produce` does."""
    from streams.partitioning import PartitionPlanError, plan_for

    try:
        plan = plan_for(load_rules(list(rule_paths)), partitioning)  # type: ignore[arg-type]
    except (RuleSetError, PartitionPlanError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(orjson.dumps({"mode": plan.mode, "cell_m": plan.cell_m, "radius_m": plan.radius_m}).decode())
    click.echo(f"SAQSHY_DETECTOR_KAFKA_PARTITIONING={plan.mode}", err=True)
    if plan.mode == "spatial":
        click.echo(f"SAQSHY_DETECTOR_KAFKA_CELL_M={plan.cell_m:g}", err=True)
        click.echo(f"SAQSHY_DETECTOR_KAFKA_RADIUS_M={plan.radius_m:g}", err=True)


@click.command("produce")
@bootstrap_option
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Events file (.jsonl or .jsonl.gz), one event a line.",
)
@click.option("--topic-map", default=None, help="TYPE=TOPIC[,TYPE=TOPIC...] over the defaults of schemas/topics.py.")
@click.option("--rate", type=float, default=0.0, show_default=True, help="Events per second (0: as fast as possible).")
@click.option(
    "--order-slice",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds of event time delivered before the next are sent, so that the topics' logs never drift further "
    "apart than that (keep it under the rules' max_out_of_orderness; 0: no barriers, fastest, a bulk backlog "
    "may then reach a worker later than its allowed lateness).",
)
@rules_option
@partitioning_option
def produce(
    bootstrap: str | None,
    input_path: Path,
    topic_map: str | None,
    rate: float,
    order_slice: float,
    rule_paths: tuple[Path, ...],
    partitioning: str,
) -> None:
    """Replay an events file (.jsonl or .jsonl.gz) into the event topics with the right keys and timestamps."""
    from streams.kafka.produce import EventProducer, ProduceError, parse_topic_map
    from streams.partitioning import PartitionPlanError, plan_for

    try:
        plan = plan_for(load_rules(list(rule_paths)), partitioning)  # type: ignore[arg-type]
        producer = EventProducer(_settings(bootstrap), plan, parse_topic_map(topic_map), order_slice)
        with open_lines(input_path) as fh:
            stats = producer.run(fh, rate)
    except (RuleSetError, PartitionPlanError, ProduceError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{stats.lines} events -> {stats.messages} messages ({stats.replicas} replicas, {stats.observed} observed, "
        f"{stats.unsorted} unsorted) "
        f"in {stats.seconds:.1f}s, {stats.lines / max(stats.seconds, 1e-9):,.0f} events/s",
        err=True,
    )


@click.command("tail")
@bootstrap_option
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest message kept [default: only new ones].")
@click.option("--max", "max_messages", type=int, default=0, help="Stop after this many messages (0: never).")
def tail(bootstrap: str | None, topic: str, from_beginning: bool, max_messages: int) -> None:
    """Print the messages of TOPIC (a name without the deployment's topic prefix) as they come: partition/offset,
    key and the JSON value, one a line."""
    from confluent_kafka import Consumer

    settings = _settings(bootstrap)
    group = f"saqshy-tail-{socket.gethostname()}-{os.getpid()}"
    consumer = Consumer(
        settings.consumer_config(
            group,
            **{"auto.offset.reset": "earliest" if from_beginning else "latest", "isolation.level": "read_committed"},
        )
    )
    consumer.subscribe([settings.topic(topic)])
    seen = 0
    try:
        while not max_messages or seen < max_messages:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            seen += 1
            key = (msg.key() or b"").decode("utf-8", "replace")
            value = (msg.value() or b"").decode("utf-8", "replace")
            click.echo(f"{msg.partition()}/{msg.offset()}\t{key}\t{value}")
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


@click.command("worker")
@bootstrap_option
@rules_option
@partitioning_option
@setting(WorkerSettings, "engine", "--engine", type=click.Choice(["confluent", "faust"]))
@setting(WorkerSettings, "group", "--group")
@setting(WorkerSettings, "instance_id", "--instance-id")
@click.option(
    "--bounded", is_flag=True, help="Stop at the end of the input seen at start, firing every timer (replays)."
)
@setting(WorkerSettings, "commit_interval", "--commit-interval", type=click.FloatRange(min=0, min_open=True))
@setting(WorkerSettings, "snapshot_interval", "--snapshot-interval", type=click.FloatRange(min=0, min_open=True))
@setting(WorkerSettings, "snapshot_in_child", "--snapshot-in-child/--snapshot-on-loop")
@setting(WorkerSettings, "idle_after", "--idle-after", type=click.FloatRange(min=0))
@setting(WorkerSettings, "metrics_port", "--metrics-port", type=click.IntRange(1, 65535))
@context_options
def worker(
    bootstrap: str | None,
    rule_paths: tuple[Path, ...],
    partitioning: str,
    engine: str | None,
    group: str | None,
    instance_id: str | None,
    bounded: bool,
    commit_interval: float | None,
    snapshot_interval: float | None,
    snapshot_in_child: bool | None,
    idle_after: float | None,
    metrics_port: int | None,
    with_context: bool,
    alert_policy: Path | None,
    warning_devices: Path | None,
    roster: Path | None,
) -> None:
    """Consume the event topics, correlate, produce incidents and dead letters (exactly-once in Kafka)."""
    from streams.kafka.worker import Worker, WorkerConfig, WorkerError
    from streams.partitioning import PartitionPlanError

    # SIGTERM from here on ends the worker cleanly, also while it starts (rules, snapshots, init_transactions)
    stop_requested: list[object] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stop_requested.append(signum))
    ws = WorkerSettings.from_env(
        engine=engine,
        group=group,
        instance_id=instance_id,
        commit_interval=commit_interval,
        snapshot_interval=snapshot_interval,
        snapshot_in_child=snapshot_in_child,
        idle_after=idle_after,
        metrics_port=metrics_port,
    )
    config = WorkerConfig(
        rules=rule_paths,
        group=ws.group,
        instance_id=ws.instance_id or socket.gethostname(),
        partitioning=partitioning,  # type: ignore[arg-type]
        commit_interval=ws.commit_interval,
        snapshot_interval=ws.snapshot_interval,
        snapshot_in_child=ws.snapshot_in_child,
        idle_after=ws.idle_after or None,
        bounded=bounded,
        metrics_port=ws.metrics_port,
        context=live_context(with_context, alert_policy, warning_devices, roster),
    )
    w: Any
    try:
        if ws.engine == "faust":
            from streams.kafka.faust_worker import FaustWorker

            w = FaustWorker(config, _settings(bootstrap))
        else:
            w = Worker(config, _settings(bootstrap))
    except (RuleSetError, PartitionPlanError, WorkerError) as exc:
        raise click.ClickException(str(exc)) from None

    def _stop(signum: int, frame: FrameType | None) -> None:
        w.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if stop_requested:  # asked to stop while starting: nothing was read, nothing to commit
        return
    try:
        w.run()
    except Exception as exc:
        _exit_past_stuck_clients(w, exc)
        raise
    _exit_past_stuck_clients(w, None)


def _exit_past_stuck_clients(w: Any, exc: Exception | None) -> None:
    """The run is over, but a client may still block: a producer left in a hung librdkafka call (destroying it
    could hang or crash, streams/kafka/txn.py), or, with the broker away, Faust's consumer thread, which retries
    it forever and would keep the interpreter from exiting (tests/chaos/test_stop_offline.py). Then the process
    exits without them, with the run's outcome: 0, or the error and 1."""
    hung = len(getattr(getattr(w, "txn", None), "abandoned", ()))
    deadline = time.monotonic() + 2.0  # a thread that is just ending gets a moment
    stray = []
    for t in threading.enumerate():
        if t is not threading.current_thread() and not t.daemon:
            t.join(max(deadline - time.monotonic(), 0.0))
            if t.is_alive():
                stray.append(t.name)
    if not hung and not stray:
        return
    said = [f"{hung} producer(s) left in a hung librdkafka call"] if hung else []
    said += [f"threads still blocked: {', '.join(stray)}"] if stray else []
    logging.getLogger("saqshy.worker").warning("exiting past %s", "; ".join(said))
    code = 0
    if exc is not None:
        from saqshy.cli import user_error

        error = user_error(exc)
        click.echo(f"Error: {error.format_message() if error is not None else repr(exc)}", err=True)
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
