"""The Flink job: source -> router -> keyBy(plan key) -> Correlate -> sinks, its environment and running it.

Sources: a bounded file of event lines (FileSource, one reader, read in order like the embedded runner) or
the Kafka event topics (jobs.flink.kafka). Sinks: Kafka (exactly-once) or, for a local run over a file,
the client collects the outputs. The job runs on the local mini-cluster, or on a cluster given its
JobManager's REST address. Python runs in thread mode (inside the TaskManager JVM, pemja): process mode
costs a round trip per record to a Python worker (~600 records/s against ~14k/s here, DESIGN.md).
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyflink.common import Configuration, Row, Types, WatermarkStrategy  # type: ignore[import-untyped]
from pyflink.common.watermark_strategy import TimestampAssigner  # type: ignore[import-untyped]
from pyflink.datastream import DataStream, FlatMapFunction, StreamExecutionEnvironment  # type: ignore[import-untyped]
from pyflink.datastream.connectors.file_system import FileSource, StreamFormat  # type: ignore[import-untyped]
from pyflink.table import Schema, StreamTableEnvironment  # type: ignore[import-untyped]

from jobs.flink import kafka
from jobs.flink.keyed import SNAPSHOT_EVERY
from jobs.flink.operator import OUTPUT_TYPE, Correlate, Emitted
from jobs.flink.routing import REJECTED, route
from rules.loader import load_rules
from streams.kafka.produce import REPLICA_HEADER
from streams.kafka.settings import KafkaSettings
from streams.partitioning import Mode, PartitionPlan, plan_for

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR_LIB = ROOT / "infra" / "flink" / "target" / "lib"
LOCAL_CHECKPOINTS = ROOT / "build" / "flink" / "checkpoints"
KEYED_TYPE = Types.TUPLE(
    [Types.STRING(), Types.BOOLEAN(), Types.LONG(), Types.STRING(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())]
)


class FlinkJobError(RuntimeError):
    pass


@dataclass(frozen=True)
class FlinkJobConfig:
    rules: tuple[Path, ...]
    partitioning: Mode = "single"
    cell_m: float | None = None
    parallelism: int = 1
    input: Path | None = None  # a bounded file of event lines; None: the Kafka event topics
    bounded: bool = False  # Kafka: stop at the end offsets found at the start
    checkpoint_dir: str | None = None  # file:// or any Flink filesystem URI
    checkpoint_interval_ms: int = 5_000
    from_savepoint: str | None = None
    jobmanager: str | None = None  # HOST:PORT of a cluster's REST endpoint; None: local mini-cluster
    group: str = "saqshy-flink"
    job_name: str = "saqshy-correlate"
    idle_timeout_s: float = 2.0
    snapshot_every: int = SNAPSHOT_EVERY


# --- the pipeline ----------------------------------------------------------------------------------
class RouteLines(FlatMapFunction):  # type: ignore[misc]
    """File lines -> keyed tuples. One reader, so the line number is the count (since the job started)."""

    def __init__(self, plan: PartitionPlan, source: str):
        self.plan = plan
        self.source = source
        self.line = 0

    def flat_map(self, value: str) -> Iterator[tuple[Any, ...]]:
        self.line += 1
        yield from _routed(value.encode(), self.plan, self.source, self.line)


class RouteRecords(FlatMapFunction):  # type: ignore[misc]
    """Kafka rows (raw, topic, partition, offset, ts, headers) -> keyed tuples; replicas written by a spatial
    producer are dropped, the router makes its own."""

    def __init__(self, plan: PartitionPlan):
        self.plan = plan

    def flat_map(self, row: Row) -> Iterator[tuple[Any, ...]]:
        raw, topic, partition, offset, _, headers = row
        if headers and headers.get(REPLICA_HEADER) == b"1":
            return
        yield from _routed(raw or b"", self.plan, f"{topic}:{partition}", offset)


def _routed(raw: bytes, plan: PartitionPlan, source: str, offset: int) -> Iterator[tuple[Any, ...]]:
    r = route(raw, plan, source, offset)
    if r.rejected is not None:
        yield REJECTED, False, r.ts_ms, source, offset, r.rejected.model_dump_json(exclude_none=True).encode()
        return
    for t in r.targets:
        yield t.key, t.replica, r.ts_ms, source, offset, raw


class KeyedTime(TimestampAssigner):  # type: ignore[misc]
    def extract_timestamp(self, value: tuple[Any, ...], record_timestamp: int) -> int:
        return int(value[2])


def pipeline(env: StreamExecutionEnvironment, config: FlinkJobConfig, t_env: StreamTableEnvironment | None) -> Any:
    """The job's graph up to the outputs: a DataStream of (kind, key, value)."""
    ruleset = load_rules(list(config.rules))
    plan = plan_for(ruleset, config.partitioning, config.cell_m)
    if config.input is not None:
        path = config.input.resolve()
        src = FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(path)).build()
        lines = env.from_source(src, WatermarkStrategy.no_watermarks(), "events").set_parallelism(1)
        keyed = lines.flat_map(RouteLines(plan, f"file:{config.input.name}"), KEYED_TYPE).set_parallelism(1)
        if plan.mode == "spatial":  # timers of idle cells need the file's event time
            strategy = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(KeyedTime())
            keyed = keyed.assign_timestamps_and_watermarks(strategy).set_parallelism(1)
        ordered = True
    else:
        assert t_env is not None
        columns = "`raw`, `topic`, `partition`, `offset`, `ts`, `headers`"
        table = t_env.sql_query(f"SELECT {columns} FROM {kafka.SOURCE_TABLE}")
        rows: DataStream = t_env.to_data_stream(table)
        keyed = rows.flat_map(RouteRecords(plan), KEYED_TYPE)
        ordered = False
    rules = tuple(str(p.resolve()) for p in config.rules)
    return (
        keyed.key_by(lambda v: v[0], key_type=Types.STRING())
        .process(Correlate(rules, ordered, config.snapshot_every), output_type=OUTPUT_TYPE)
        .name("correlate")
    )


# --- the environment -------------------------------------------------------------------------------
def connector_jars() -> list[Path]:
    jars = sorted(CONNECTOR_LIB.glob("*.jar"))
    if not jars:
        raise FlinkJobError(f"no Kafka connector jar in {CONNECTOR_LIB}: run infra/flink/flink.sh fetch")
    return jars


def environment(config: FlinkJobConfig, with_kafka: bool) -> StreamExecutionEnvironment:
    if config.jobmanager is None:
        # Thread mode embeds this interpreter's libpython in the local JVM; it sees our packages only
        # through PYTHONPATH (a venv's site-packages and the project root are not on its default path).
        # The JVM inherits it when it starts: before the first pyflink object of this process.
        paths = [sysconfig.get_paths()["purelib"], str(ROOT), os.environ.get("PYTHONPATH", "")]
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
    conf = Configuration()
    conf.set_string("python.execution-mode", "thread")
    # a failure surfaces after a few attempts instead of restarting forever
    conf.set_string("restart-strategy.type", "fixed-delay")
    conf.set_string("restart-strategy.fixed-delay.attempts", "3")
    conf.set_string("restart-strategy.fixed-delay.delay", "1 s")
    if config.jobmanager is None:
        conf.set_string("python.executable", sys.executable)
        conf.set_string("python.client.executable", sys.executable)
    else:
        host, _, port = config.jobmanager.rpartition(":")
        if not host or not port.isdigit():
            raise FlinkJobError(f"--jobmanager {config.jobmanager!r} is not HOST:PORT")
        conf.set_string("execution.target", "remote")
        conf.set_string("rest.address", host)
        conf.set_string("rest.port", port)  # the interpreter is the cluster's (python.executable there)
    if with_kafka:
        conf.set_string("pipeline.jars", ";".join(p.resolve().as_uri() for p in connector_jars()))
    conf.set_string("execution.checkpointing.interval", f"{config.checkpoint_interval_ms} ms")
    conf.set_string("execution.checkpointing.mode", "EXACTLY_ONCE")
    conf.set_string("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    # the JobManager's memory holds at most 5 MB of state, less than a city's: checkpoints go to files
    checkpoints = config.checkpoint_dir or (None if config.jobmanager else LOCAL_CHECKPOINTS.as_uri())
    if checkpoints:
        conf.set_string("execution.checkpointing.storage", "filesystem")
        conf.set_string("execution.checkpointing.dir", checkpoints)
        conf.set_string("execution.checkpointing.savepoint-dir", checkpoints)
    if config.from_savepoint:
        conf.set_string("execution.state-recovery.path", config.from_savepoint)
    conf.set_string("pipeline.name", config.job_name)
    if config.jobmanager is None:
        env = StreamExecutionEnvironment.get_execution_environment(conf)
    else:
        env = _remote(host, int(port), conf)
    env.set_parallelism(config.parallelism)
    return env


def _remote(host: str, port: int, conf: Configuration) -> StreamExecutionEnvironment:
    """An environment that submits to a running cluster. Outside `flink run`, Java's
    getExecutionEnvironment(conf) always makes a local one (execution.target is not read), and PyFlink does
    not wrap createRemoteEnvironment: it is called through the gateway."""
    from pyflink.java_gateway import get_gateway  # type: ignore[import-untyped]

    # the connector ships with the job; flink-python must be in the cluster's lib/ (infra/flink/flink.sh)
    ship = [Path(u.removeprefix("file://")) for u in (conf.get_string("pipeline.jars", "") or "").split(";") if u]
    gateway = get_gateway()
    jars = gateway.new_array(gateway.jvm.String, len(ship))
    for i, jar in enumerate(ship):
        jars[i] = str(jar)
    j_env = gateway.jvm.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment.createRemoteEnvironment(
        host, port, conf._j_configuration, jars
    )
    return StreamExecutionEnvironment(j_env)


def collect(config: FlinkJobConfig) -> Iterator[Emitted]:
    """Run over a file on the local mini-cluster; the outputs come back to this process."""
    if config.input is None:
        raise FlinkJobError("collect needs an input file")
    env = environment(config, with_kafka=False)
    out = pipeline(env, config, None)
    with out.execute_and_collect(config.job_name) as results:
        yield from results


def submit(config: FlinkJobConfig, settings: KafkaSettings) -> Any:
    """Build the job with Kafka sinks (and the Kafka source unless config.input) and submit it; returns
    the JobClient (wait for it, or stop it with a savepoint)."""
    env = environment(config, with_kafka=True)
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.exec.source.idle-timeout", f"{int(config.idle_timeout_s * 1000)} ms")
    if config.input is None:
        t_env.execute_sql(kafka.source_ddl(settings, config.group, config.bounded, config.idle_timeout_s))
    out = pipeline(env, config, t_env)
    statements = t_env.create_statement_set()
    row_type = Types.ROW_NAMED(["k", "v"], [Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.PRIMITIVE_ARRAY(Types.BYTE())])
    schema = Schema.new_builder().column("k", "BYTES").column("v", "BYTES").build()
    for table, (_, kind) in kafka.SINKS.items():
        t_env.execute_sql(kafka.sink_ddl(table, settings, f"{config.group}", exactly_once=True))
        part = out.filter(lambda e, kind=kind: e[0] == kind).map(
            lambda e: Row(e[1].encode(), e[2].encode()), output_type=row_type
        )
        statements.add_insert(table, t_env.from_data_stream(part, schema))
    statements.attach_as_datastream()
    return env.execute_async(config.job_name)


def stop_with_savepoint(client: Any, directory: str) -> str:
    """Stop a running job with a savepoint (sources stop, no end-of-input), return the savepoint's path.
    PyFlink 2.2's JobClient.stop_with_savepoint calls a Java signature that no longer exists."""
    from pyflink.java_gateway import get_gateway  # type: ignore[import-untyped]

    fmt = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
    path: str = client._j_job_client.stopWithSavepoint(False, directory, fmt).get()
    return path
