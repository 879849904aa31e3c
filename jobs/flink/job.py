"""The Flink job: source -> router -> keyBy(plan key) -> Correlate -> sinks, its environment and running it.
Reference records leave the router on a side output and reach Correlate as a broadcast stream.

Sources: a bounded file of event lines (FileSource, one reader, read in order like the embedded runner) or
the Kafka event and reference topics (jobs.flink.kafka). Event times are judged by the time guard
(docs/semantics.md, 8) before anything reads them for a watermark: a file's lines by GuardLines (the file's
own stream is the clock, as in the embedded runner), Kafka records against the wall clock by the router, and
by the source's watermark expression, which ignores a record further ahead of the clock than max_future.
Sinks: Kafka (exactly-once) or, for a local run over a file, the client collects the outputs. The job runs on
the local mini-cluster, or on a cluster given its JobManager's REST address. Python runs in thread mode
(inside the TaskManager JVM, pemja): process mode costs a round trip per record to a Python worker (~600
records/s against ~14k/s here; docs/architecture.md, Flink).
"""

from __future__ import annotations

import os
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pyflink.common import Configuration, Row, Types, WatermarkStrategy  # type: ignore[import-untyped]
from pyflink.common.watermark_strategy import TimestampAssigner  # type: ignore[import-untyped]
from pyflink.datastream import (  # type: ignore[import-untyped]
    DataStream,
    KeyedProcessFunction,
    OutputTag,
    ProcessFunction,
    RuntimeContext,
    StreamExecutionEnvironment,
)
from pyflink.datastream.connectors.file_system import FileSource, StreamFormat  # type: ignore[import-untyped]
from pyflink.datastream.state import ValueStateDescriptor  # type: ignore[import-untyped]
from pyflink.table import Schema, StreamTableEnvironment  # type: ignore[import-untyped]

from infra import resource
from jobs.flink import kafka
from jobs.flink.keyed import END_OF_TIME, SNAPSHOT_EVERY
from jobs.flink.operator import OUTPUT_TYPE, REFERENCE_STATE, REFERENCE_TYPE, UNITS_STATE, Correlate, Emitted
from jobs.flink.routing import NO_TIME, REJECTED, Line, LineGuard, Routed, event_time_ms, route
from rules.loader import load_rules
from rules.model import RuleSetSettings
from schemas import DeadLetter
from streams.embedded import ContextOptions
from streams.kafka.produce import OBSERVED_HEADER, REPLICA_HEADER
from streams.kafka.settings import KafkaSettings
from streams.partitioning import Mode, PartitionPlan, plan_for

ROOT = Path(__file__).resolve().parents[2]
# where `infra/flink/flink.sh fetch` puts the connector (inside the installed infra package), or a folder of one's own
CONNECTOR_LIB = Path(os.environ.get("SAQSHY_FLINK_CONNECTOR_LIB") or resource("flink", "target", "lib"))
LOCAL_CHECKPOINTS = Path("build") / "flink" / "checkpoints"  # under the working directory, for local runs
KEYED_TYPE = Types.TUPLE(
    [
        Types.STRING(),  # key
        Types.BOOLEAN(),  # replica
        Types.LONG(),  # event time, ms
        Types.STRING(),  # source
        Types.LONG(),  # line or offset
        Types.PRIMITIVE_ARRAY(Types.BYTE()),  # raw
        Types.LONG(),  # reference records before it (a file's order)
    ]
)
REFERENCE_TAG = OutputTag("reference", REFERENCE_TYPE)
GUARDED_TYPE = Types.TUPLE([Types.LONG(), Types.STRING(), Types.STRING()])  # line, text, dead letter ("": none)


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
    context: ContextOptions | None = None  # enrichment and public alerts, as `saqshy worker` (rules.context)


# --- the pipeline ----------------------------------------------------------------------------------
class GuardLines(KeyedProcessFunction):  # type: ignore[misc]
    """A file's lines through the time guard (routing.LineGuard, the file's own stream as the clock), before
    the timestamp assigner and the router: (line number, text, "") to route, or (line, text, dead letter).
    One key, as the file has one reader; the guard (held lines, the stream's newest time, the line count) is
    in keyed state, so a restored job goes on where the checkpoint was, and a timer at the end of time decides
    the lines it still holds before the end of input reaches the keys."""

    def __init__(self, settings: RuleSetSettings, source: str):
        self.settings = settings
        self.source = source

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = runtime_context.get_state(ValueStateDescriptor("guard", Types.PICKLED_BYTE_ARRAY()))
        self.guard: LineGuard | None = None

    def _guard(self, ctx: Any) -> LineGuard:
        if self.guard is None:
            self.guard = LineGuard(self.settings)
            data = self.state.value()
            if data is None:
                ctx.timer_service().register_event_time_timer(END_OF_TIME)
            else:
                self.guard.restore(orjson.loads(data))
        return self.guard

    def process_element(self, value: str, ctx: Any) -> Iterator[Any]:
        guard = self._guard(ctx)
        guard.lines += 1
        out = guard.admit(value.encode(), self.source, guard.lines)
        self.state.update(orjson.dumps(guard.to_builtins()))
        yield from _guarded(out)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        guard = self._guard(ctx)
        out = guard.flush()
        self.state.update(orjson.dumps(guard.to_builtins()))
        yield from _guarded(out)


def _guarded(out: list[tuple[Line, DeadLetter | None]]) -> Iterator[tuple[int, str, str]]:
    for (_, line, raw), letter in out:
        yield line, raw.decode(), "" if letter is None else letter.model_dump_json(exclude_none=True)


class RouteLines(ProcessFunction):  # type: ignore[misc]
    """Guarded file lines (line, text, dead letter) -> keyed tuples, reference records (and observed unit fixes)
    to the side output. One reader, so the count of reference records before a line is a count (since the job
    started)."""

    def __init__(self, plan: PartitionPlan, source: str):
        self.plan = plan
        self.source = source
        self.references = 0

    def process_element(self, value: tuple[int, str, str], ctx: Any) -> Iterator[Any]:
        line, text, letter = value
        if letter:  # the time guard's
            yield REJECTED, False, NO_TIME, self.source, line, letter.encode(), 0
            return
        raw = text.encode()
        r = route(raw, self.plan, self.source, line)
        yield from _routed(r, raw, self.source, line, self.references)
        self.references += r.reference


class RouteRecords(ProcessFunction):  # type: ignore[misc]
    """Kafka rows (raw, topic, partition, offset, ts, headers) -> keyed tuples, reference records to the
    side output; replicas and observed copies written by a spatial producer are dropped, the router makes its
    own. With `guard`, event times are judged first: against this machine's clock (so nothing is held), and for
    `stale` against the newest time this router accepted."""

    def __init__(self, plan: PartitionPlan, guard: RuleSetSettings | None = None):
        self.plan = plan
        self.settings = guard
        self.guard: LineGuard | None = None

    def process_element(self, row: Row, ctx: Any) -> Iterator[Any]:
        raw, topic, partition, offset, _, headers = row
        if headers and (headers.get(REPLICA_HEADER) == b"1" or headers.get(OBSERVED_HEADER) == b"1"):
            return  # a spatial producer's copy: the router makes its own
        source = f"{topic}:{partition}"
        raw = raw or b""
        if self.settings is not None:
            if self.guard is None:
                self.guard = LineGuard(self.settings, time.time)
            [(_, letter)] = self.guard.admit(raw, source, offset)  # with a clock, the verdict on this one
            if letter is not None:
                letter_raw = letter.model_dump_json(exclude_none=True).encode()
                yield REJECTED, False, NO_TIME, source, offset, letter_raw, 0
                return
        yield from _routed(route(raw, self.plan, source, offset), raw, source, offset, 0)


def _routed(r: Routed, raw: bytes, source: str, offset: int, needs: int) -> Iterator[Any]:
    if r.rejected is not None:
        letter = r.rejected.model_dump_json(exclude_none=True).encode()
        yield REJECTED, False, r.ts_ms, source, offset, letter, 0
    elif r.reference or r.observed:
        yield REFERENCE_TAG, raw  # the broadcast: reference records and observed unit fixes, in one order
    for t in r.targets:
        yield t.key, t.replica, r.ts_ms, source, offset, raw, needs


class LineTime(TimestampAssigner):  # type: ignore[misc]
    def extract_timestamp(self, value: tuple[int, str, str], record_timestamp: int) -> int:
        return NO_TIME if value[2] else event_time_ms(value[1].encode())


def pipeline(env: StreamExecutionEnvironment, config: FlinkJobConfig, t_env: StreamTableEnvironment | None) -> Any:
    """The job's graph up to the outputs: a DataStream of (kind, key, value)."""
    ruleset = load_rules(list(config.rules))
    plan = plan_for(ruleset, config.partitioning, config.cell_m)
    if config.input is not None:
        # One reader and one router, in file order. PyFlink adds operators of its own here (the timestamp
        # assigner's, the side output's, the key's) that take the environment's parallelism: make it 1
        # while they are built, so that nothing reorders the lines before the keyed operator.
        env.set_parallelism(1)
        path = config.input.resolve()
        src = FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(path)).build()
        lines = env.from_source(src, WatermarkStrategy.no_watermarks(), "events").uid("events")
        source = f"file:{config.input.name}"
        guarded = (
            lines.key_by(lambda _: 0, key_type=Types.INT())
            .process(GuardLines(ruleset.settings, source), GUARDED_TYPE)
            .uid("time-guard")
        )
        guarded._j_data_stream.getTransformation().getInputs().get(0).setUid("time-guard-key")
        if plan.mode == "spatial":  # timers of idle cells need the file's event time, on both outputs
            strategy = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(LineTime())
            guarded = guarded.assign_timestamps_and_watermarks(strategy).uid("event-time")
        keyed = guarded.process(RouteLines(plan, source), KEYED_TYPE).uid("route")
        references = keyed.get_side_output(REFERENCE_TAG)  # one router: one channel, the file's order
        ordered = True
    else:
        assert t_env is not None
        rows: DataStream = t_env.to_data_stream(t_env.sql_query(f"SELECT {kafka.COLUMNS} FROM {kafka.SOURCE_TABLE}"))
        routed = rows.process(RouteRecords(plan, ruleset.settings), KEYED_TYPE).uid("route")
        ref_rows = t_env.to_data_stream(t_env.sql_query(f"SELECT {kafka.COLUMNS} FROM {kafka.REFERENCE_TABLE}"))
        ref_routed = ref_rows.process(RouteRecords(plan), KEYED_TYPE).set_parallelism(1).uid("route-reference")
        keyed = routed.union(ref_routed)  # a reference record that does not decode: its dead letter
        # one task sends the broadcast, so every Correlate instance gets the records in the same order
        # (their indexes in broadcast state must agree: keys move between instances on a rescale)
        references = (
            ref_routed.get_side_output(REFERENCE_TAG)
            .union(routed.get_side_output(REFERENCE_TAG))
            .map(lambda raw: raw, output_type=REFERENCE_TYPE)
            .set_parallelism(1)
            .name("reference")
            .uid("reference")
        )
        ordered = False
    rules = tuple(str(p.resolve()) for p in config.rules)
    by_key = keyed.key_by(lambda v: v[0], key_type=Types.STRING())
    # PyFlink puts the key in front with a Python operator of its own, which KeyedStream.uid cannot name
    by_key._j_data_stream.getTransformation().getInputs().get(0).setUid("key")
    env.set_parallelism(config.parallelism)
    return (
        by_key.connect(references.broadcast(REFERENCE_STATE, UNITS_STATE))
        .process(Correlate(rules, ordered, config.context, config.snapshot_every), output_type=OUTPUT_TYPE)
        .name("correlate")
        .uid("correlate")
    )


# --- the environment -------------------------------------------------------------------------------
EMBEDDED_INIT = Path(__file__).resolve().parent / "embedded_init"


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
        # embedded_init/sitecustomize.py preloads google-re2 there, single-threaded (see its docstring).
        paths = [str(EMBEDDED_INIT), sysconfig.get_paths()["purelib"], str(ROOT), os.environ.get("PYTHONPATH", "")]
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
    checkpoints = config.checkpoint_dir or (None if config.jobmanager else LOCAL_CHECKPOINTS.resolve().as_uri())
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
    idle_s = 0.0 if config.bounded else config.idle_timeout_s
    t_env.get_config().set("table.exec.source.idle-timeout", f"{int(idle_s * 1000)} ms")
    if config.input is None:
        max_future = load_rules(list(config.rules)).settings.max_future
        for reference in (False, True):
            t_env.execute_sql(kafka.source_ddl(settings, config.group, config.bounded, idle_s, reference, max_future))
    out = pipeline(env, config, t_env)
    statements = t_env.create_statement_set()
    row_type = Types.ROW_NAMED(["k", "v"], [Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.PRIMITIVE_ARRAY(Types.BYTE())])
    schema = Schema.new_builder().column("k", "BYTES").column("v", "BYTES").build()
    for table, (_, kind) in kafka.SINKS.items():
        t_env.execute_sql(kafka.sink_ddl(table, settings, f"{config.group}", exactly_once=True))
        part = (
            out.filter(lambda e, kind=kind: e[0] == kind)
            .uid(f"{table}-filter")
            .map(lambda e, table=table: Row(e[1].encode(), kafka.sink_value(table, e[2])), output_type=row_type)
            .uid(f"{table}-row")
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
