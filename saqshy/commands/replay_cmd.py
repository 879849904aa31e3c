"""`saqshy replay`: run the embedded runner over an events file and write incidents."""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from rules.alerts import AlertError, load_alert_policy, load_warning_devices, to_cap_xml
from rules.context import ContextError, EnricherSettings
from rules.context.files import load_reference_files
from rules.context.roster import load_roster
from rules.errors import RuleSetError
from rules.loader import load_rules
from rules.privacy import PrivacySettings
from saqshy.commands.options import aware_time, rules_option
from saqshy.settings import DSN
from schemas import Incident, PublicAlert
from streams.dlq import FileDeadLetters
from streams.embedded import ContextOptions, EmbeddedRunner, ReplaySummary, open_lines
from streams.sim.dispatch import DispatchSim, percentile
from streams.sim.truth import write_truth


def _check_time(value: str) -> str:
    aware_time(value)
    return value


@click.command("replay")
@rules_option
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Events file (.jsonl or .jsonl.gz), one event a line.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Incident updates as JSON lines (default: none).",
)
@click.option(
    "--dlq",
    "dlq_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Dead letters (default: INPUT.dlq.jsonl).",
)
@click.option("--latest-only", is_flag=True, help="Write only the last version of each incident.")
@click.option(
    "--context/--no-context",
    "with_context",
    default=True,
    show_default=True,
    help="Enrich incidents (admin path, cameras, history, units) and decide public alerts.",
)
@click.option(
    "--reference",
    "reference_paths",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Reference table files (.geojson/.csv/.yaml) loaded before the stream; repeatable.",
)
@click.option(
    "--reference-as-of",
    default="1970-01-01T00:00:00Z",
    show_default=True,
    callback=lambda ctx, param, value: _check_time(value),
    help="Event time of --reference (ISO 8601 with an offset).",
)
@click.option(
    "--alert-policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Public alert policy YAML [default: the built-in rules/alerts/default_policy.yaml].",
)
@click.option(
    "--warning-devices",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="GeoJSON of information boards and loudspeakers (alert channels).",
)
@click.option(
    "--roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Units roster (.csv/.yaml): only listed units are recommended [default: units known from GPS].",
)
@click.option("--alerts-out", type=click.Path(dir_okay=False, path_type=Path), help="Public alerts as JSON lines.")
@click.option("--cap-dir", type=click.Path(file_okay=False, path_type=Path), help="One CAP 1.2 XML file per alert.")
@click.option("--max-out-of-orderness", type=float, default=None, help="Seconds; overrides ruleset.yaml.")
@click.option("--no-progress", is_flag=True, help="No progress bar (there is none when stderr is not a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option(
    "--archive",
    "archive_dsn",
    type=DSN,
    default=None,
    help="Also archive the events and every incident version to ClickHouse: chdb://PATH or http(s)://host:8123.",
)
@click.option(
    "--dispatch-sim",
    type=int,
    default=None,
    metavar="SEED",
    help="Simulated dispatchers in the loop: they ack, assign and close the incidents (streams/sim/dispatch.py).",
)
@click.option(
    "--dispatch-truth",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --dispatch-sim: write the planted dispatcher misses (dispatch.unacknowledged) as ground truth.",
)
def replay(
    rule_paths: tuple[Path, ...],
    input_path: Path,
    out_path: Path | None,
    dlq_path: Path | None,
    latest_only: bool,
    with_context: bool,
    reference_paths: tuple[Path, ...],
    reference_as_of: str,
    alert_policy: Path | None,
    warning_devices: Path | None,
    roster: Path | None,
    alerts_out: Path | None,
    cap_dir: Path | None,
    max_out_of_orderness: float | None,
    no_progress: bool,
    as_json: bool,
    archive_dsn: str | None,
    dispatch_sim: int | None = None,
    dispatch_truth: Path | None = None,
) -> None:
    """Correlate an events file (JSON lines, .gz ok) in process with the rules, like the live jobs do."""
    try:
        ruleset = load_rules(rule_paths)
    except RuleSetError as exc:
        for err in exc.errors:
            click.echo(str(err), err=True)
        sys.exit(1)
    dlq_path = dlq_path or input_path.with_name(input_path.name.removesuffix(".gz") + ".dlq.jsonl")
    dead = FileDeadLetters(dlq_path)
    try:
        context = build_context(with_context, reference_paths, reference_as_of, alert_policy, warning_devices, roster)
    except (ContextError, AlertError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    runner = EmbeddedRunner(
        ruleset, dead, source_name=str(input_path), max_out_of_orderness=max_out_of_orderness, context=context
    )
    alerts_fh: IO[bytes] | None = alerts_out.open("wb") if alerts_out else None
    if cap_dir is not None:
        cap_dir.mkdir(parents=True, exist_ok=True)

    def alert_sink(alert: PublicAlert) -> None:
        if alerts_fh is not None:
            alerts_fh.write(alert.model_dump_json(exclude_none=True).encode() + b"\n")
        if cap_dir is not None:
            (cap_dir / f"{alert.id}.xml").write_bytes(to_cap_xml(alert))

    runner.alert_sink = alert_sink
    out: IO[bytes] | None = out_path.open("wb") if out_path and not latest_only else None

    versions: list[Incident] = []

    def sink(inc: Incident) -> None:
        if archive_dsn:
            versions.append(inc)
        if out is not None:
            out.write(inc.model_dump_json(exclude_none=True).encode() + b"\n")

    console = Console(stderr=True)
    cad = DispatchSim(dispatch_sim) if dispatch_sim is not None else None
    try:
        if cad is not None:
            plain = sink

            def sink(inc: Incident) -> None:
                cad.on_incident(inc)
                plain(inc)

            summary = runner.run(cad.lines(_lines(input_path)), sink)
        elif no_progress or not console.is_terminal:
            summary = runner.run(_lines(input_path), sink)
        else:
            summary = _with_progress(runner, input_path, sink, console)
    finally:
        if out is not None:
            out.close()
        if alerts_fh is not None:
            alerts_fh.close()
    if out_path and latest_only:
        with out_path.open("wb") as fh:
            for inc in sorted(summary.incidents.values(), key=lambda i: (i.first_time, i.id)):
                fh.write(inc.model_dump_json(exclude_none=True).encode() + b"\n")
    if archive_dsn:
        _archive(archive_dsn, input_path, versions)
    if as_json:
        click.echo(orjson.dumps(summary_dict(summary, runner)).decode())
    else:
        print_summary(summary, runner, Console(), dlq_path if dead.count else None)
    if cad is not None:
        if dispatch_truth is not None:
            write_truth(dispatch_truth, cad.truth)
        if not as_json:
            print_dispatch(cad, summary, Console())


def build_context(
    enabled: bool,
    reference_paths: tuple[Path, ...],
    as_of: str,
    policy_path: Path | None,
    devices_path: Path | None,
    roster_path: Path | None = None,
) -> ContextOptions | None:
    if not enabled:
        return None
    when = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("--reference-as-of needs an offset (e.g. Z)")
    devices = load_warning_devices(devices_path) if devices_path else []
    policy = load_alert_policy(policy_path, devices) if policy_path else load_alert_policy(devices=devices)
    roster = load_roster(roster_path) if roster_path else None
    settings = EnricherSettings(privacy=PrivacySettings.from_env(), roster=roster)
    return ContextOptions(tuple(load_reference_files(reference_paths, when)), settings, policy)


def _archive(dsn: str, input_path: Path, versions: list[Incident]) -> None:
    from jobs.archive import ArchiveError
    from jobs.archive.replay import archive_replay

    try:
        report = archive_replay(dsn, input_path, versions)
    except ArchiveError as exc:
        click.echo(f"archive: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"archived {report.events:,} events and {report.incidents:,} incident versions to {report.dsn} "
        f"in {report.seconds:.1f} s",
        err=True,
    )


def _lines(path: Path) -> Iterator[bytes]:
    with open_lines(path) as fh:
        yield from fh


def _with_progress(runner: EmbeddedRunner, path: Path, sink: object, console: Console) -> ReplaySummary:
    size = path.stat().st_size
    columns = (TextColumn("replay"), BarColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress, path.open("rb") as raw:
        task = progress.add_task("replay", total=size)
        # For .gz the bar follows the compressed bytes read, which is what the file size measures.
        fh: IO[bytes] = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw  # type: ignore[assignment]

        def lines() -> Iterator[bytes]:
            for n, line in enumerate(fh, 1):
                if n % 5000 == 0:
                    progress.update(task, completed=raw.tell())
                yield line

        return runner.run(lines(), sink)  # type: ignore[arg-type]


def summary_dict(summary: ReplaySummary, runner: EmbeddedRunner) -> dict[str, object]:
    return {
        "lines": summary.lines,
        "events": summary.events,
        "duplicates": summary.duplicates,
        "rejected": dict(summary.rejected),
        "incidents": len(summary.incidents),
        "updates": summary.updates,
        "by_rule": {
            r: {str(p): n for p, n in sorted(c.items())} for r, c in sorted(summary.by_rule_priority().items())
        },
        "seconds": round(summary.seconds, 3),
        "events_per_s": round(summary.rate),
        "overflow": runner.core.overflow(),
        "alerts": len(summary.alerts),
    }


def print_summary(summary: ReplaySummary, runner: EmbeddedRunner, console: Console, dlq: Path | None) -> None:
    head = Table(show_header=False, title="replay")
    head.add_row("lines read", f"{summary.lines:,}")
    head.add_row("events accepted", f"{summary.events:,}")
    head.add_row("duplicates (same id) ignored", f"{summary.duplicates:,}")
    head.add_row("rejected", f"{sum(summary.rejected.values()):,}" + (f"  -> {dlq}" if dlq else ""))
    head.add_row("incidents / updates", f"{len(summary.incidents):,} / {summary.updates:,}")
    head.add_row("rate", f"{summary.rate:,.0f} events/s in {summary.seconds:.1f} s")
    overflow = runner.core.overflow()
    if overflow:
        head.add_row("state limits hit", ", ".join(f"{k}: {v}" for k, v in overflow.items()))
    console.print(head)
    if summary.rejected:
        t = Table("stage", "count", title="rejected by stage")
        for stage, n in summary.rejected.most_common():
            t.add_row(stage, f"{n:,}")
        console.print(t)
        r = Table("reason", "count", title="top reasons")
        for reason, n in summary.reasons.most_common(8):
            r.add_row(reason, f"{n:,}")
        console.print(r)
    by_rule = summary.by_rule_priority()
    if by_rule:
        t = Table("rule", "P1", "P2", "P3", "P4", "P5", "total", title="incidents by rule and priority")
        for rule_id in sorted(by_rule):
            c = by_rule[rule_id]
            t.add_row(rule_id, *(str(c.get(p, "")) for p in range(1, 6)), str(sum(c.values())))
        console.print(t)
    else:
        console.print("no incidents")


def print_dispatch(cad: DispatchSim, summary: ReplaySummary, console: Console) -> None:
    """The simulated dispatchers' loop: acknowledgement delays, and the engine's time to arrive."""
    arrive = [i.time_to_arrive_s for i in summary.incidents.values() if i.time_to_arrive_s is not None]

    def fmt(values: list[float], q: float) -> str:
        v = percentile(values, q)
        return "-" if v is None else f"{v:.0f}"

    t = Table("", "n", "p50 s", "p90 s", title="dispatch loop (--dispatch-sim)")
    t.add_row("acknowledged after detection", str(len(cad.ack_s)), fmt(cad.ack_s, 0.5), fmt(cad.ack_s, 0.9))
    t.add_row("first unit on scene after first evidence", str(len(arrive)), fmt(arrive, 0.5), fmt(arrive, 0.9))
    console.print(t)
    console.print(f"dispatch actions sent: {cad.actions:,}; planted misses (no ack in 3 min): {len(cad.truth)}")
