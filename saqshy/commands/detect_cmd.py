"""`saqshy detect`: run one camera's video detector worker and publish its events to Kafka or a JSONL file."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from detectors.capture import is_stream
from detectors.config import load_config
from detectors.errors import DetectorError
from detectors.model import load_detector
from detectors.pipeline import run
from detectors.publish import DetectorKafkaSettings, JsonlSink, KafkaSink, Sink
from saqshy.settings import BOOTSTRAP, setting_help

START_EXAMPLE = "2026-11-22T10:00:00+05:00"
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC)


def _aware(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """--start: an ISO 8601 time with its UTC offset, in a range where a clip's event times (and their local
    times at the camera's offset) exist."""
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time, e.g. {START_EXAMPLE}") from None
    if dt.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs an explicit UTC offset, e.g. {START_EXAMPLE}")
    try:
        in_range = EARLIEST <= dt.astimezone(UTC) < LATEST
    except OverflowError:  # e.g. 0001-01-01T00:00+05:00 has no UTC instant
        in_range = False
    if not in_range:
        raise click.BadParameter(f"{value!r} is out of range: a time from 1970 to 2999, e.g. {START_EXAMPLE}")
    return dt


def _source(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("is empty: give a video file or an rtsp://, http(s)://, rtmp://, udp:// or tcp:// URL")
    return value


def _out(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value in {"kafka", "-"}:
        return value
    if not value.strip():
        raise click.BadParameter("is empty: 'kafka', '-' (stdout) or a JSONL file path")
    path = Path(value)
    if path.is_dir():
        raise click.BadParameter(f"{value!r} is a directory: 'kafka', '-' (stdout) or a JSONL file path")
    if path.exists() and not path.is_file():
        raise click.BadParameter(f"{value!r} is not a regular file")
    return value


@click.command("detect")
@click.option("--camera", "camera_id", default=None, help="Camera id; must match camera.id of the config if given.")
@click.option(
    "--source",
    required=True,
    callback=_source,
    help="A video file, or an rtsp:// / http(s):// / rtmp:// / udp:// / tcp:// stream URL.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="Camera YAML (see detectors/examples/).",
)
@click.option(
    "--out",
    default="kafka",
    show_default=True,
    callback=_out,
    help="'kafka', or a JSONL file path ('-' for stdout).",
)
@click.option(
    "--bootstrap",
    type=BOOTSTRAP,
    default=None,
    help=setting_help(DetectorKafkaSettings, "bootstrap_servers", "Kafka bootstrap.servers, HOST:PORT[,HOST:PORT...]."),
)
@click.option(
    "--start",
    default=None,
    callback=_aware,
    help="Event time of a file's first frame (ISO 8601 with offset) [default: now]; streams carry the wall clock.",
)
@click.option("--no-gating", is_flag=True, help="Run the detector on every sampled frame (no motion gating).")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Stop after this many sampled frames.")
@click.option(
    "--metrics-port", type=click.IntRange(1, 65535), default=None, help="Serve Prometheus metrics on this port."
)
@click.option("-v", "--verbose", is_flag=True, help="Also DEBUG lines (as `saqshy --log-level DEBUG detect`).")
def detect(
    camera_id: str | None,
    source: str,
    config_path: Path,
    out: str,
    bootstrap: str | None,
    start: datetime | None,
    no_gating: bool,
    max_frames: int | None,
    metrics_port: int | None,
    verbose: bool,
) -> None:
    """Run a video detector worker on one camera: capture, motion gating, ONNX detection, tracking,
    zone analytics and camera health, published as video.detection events."""
    if verbose:  # logging itself is set up once by `saqshy` (saqshy/logs.py): INFO, JSON lines by default
        logging.getLogger().setLevel(logging.DEBUG)
    try:
        if start is not None and is_stream(source):
            raise click.UsageError("--start applies to video files only: a stream's events carry the wall clock")
        cfg = load_config(config_path)
        if camera_id is not None and camera_id != cfg.camera_id:
            raise click.UsageError(
                f"--camera {camera_id!r} does not match camera.id {cfg.camera_id!r} in {config_path}"
            )
        detector = load_detector(cfg.model)
        sink: Sink
        if out == "kafka":
            from saqshy.kafka_access import check_access

            kafka = DetectorKafkaSettings.from_env(bootstrap_servers=bootstrap)
            check_access(kafka)  # a wrong password or an untrusted certificate fails here, before any frame
            sink = KafkaSink(kafka)
        elif out == "-":
            sink = JsonlSink(sys.stdout)
        else:
            sink = JsonlSink(Path(out))
        metrics = None
        if metrics_port is not None:
            from detectors.metrics import DetectorMetrics

            metrics = DetectorMetrics(cfg.camera_id, is_stream(source), metrics_port)
        t0 = time.perf_counter()
        try:
            stats = run(
                cfg, source, detector, sink, start=start, gating=not no_gating, max_frames=max_frames, metrics=metrics
            )
        finally:
            sink.close()
    except DetectorError as exc:
        raise click.ClickException(str(exc)) from exc
    elapsed = time.perf_counter() - t0
    summary = {
        "camera": cfg.camera_id,
        "frames": stats.frames,
        "inferences": stats.inferences,
        "infer_ms": round(stats.infer_ms, 2),
        "events": stats.events,
        "by_analytic": stats.by_analytic,
        "stream_losses": stats.lost,
        "seconds": round(elapsed, 2),
        "fps": round(stats.frames / elapsed, 1) if elapsed > 0 else None,
    }
    click.echo(json.dumps(summary), err=True)
