"""`saqshy detect`: run one camera's video detector worker and publish its events to Kafka or a JSONL file."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime
from pathlib import Path

import click

from detectors.config import load_config
from detectors.errors import DetectorError
from detectors.model import load_detector
from detectors.pipeline import run
from detectors.publish import DetectorKafkaSettings, JsonlSink, KafkaSink, Sink
from saqshy.settings import BOOTSTRAP, setting_help


def _aware(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time, e.g. 2026-11-22T10:00:00+05:00") from None
    if dt.tzinfo is None:
        raise click.BadParameter("needs an explicit UTC offset, e.g. 2026-11-22T10:00:00+05:00")
    return dt


@click.command("detect")
@click.option("--camera", "camera_id", default=None, help="Camera id; must match camera.id of the config if given.")
@click.option("--source", required=True, help="A video file, or an rtsp:// / http(s):// stream URL.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="Camera YAML (see detectors/examples/).",
)
@click.option("--out", default="kafka", show_default=True, help="'kafka', or a JSONL file path ('-' for stdout).")
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
    help="Event time of a file's first frame (ISO 8601 with offset) [default: now].",
)
@click.option("--no-gating", is_flag=True, help="Run the detector on every sampled frame (no motion gating).")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Stop after this many sampled frames.")
@click.option("-v", "--verbose", is_flag=True, help="Log progress (INFO) on stderr.")
def detect(
    camera_id: str | None,
    source: str,
    config_path: Path,
    out: str,
    bootstrap: str | None,
    start: datetime | None,
    no_gating: bool,
    max_frames: int | None,
    verbose: bool,
) -> None:
    """Run a video detector worker on one camera: capture, motion gating, ONNX detection, tracking,
    zone analytics and camera health, published as video.detection events."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr)
    try:
        cfg = load_config(config_path)
        if camera_id is not None and camera_id != cfg.camera_id:
            raise click.UsageError(
                f"--camera {camera_id!r} does not match camera.id {cfg.camera_id!r} in {config_path}"
            )
        detector = load_detector(cfg.model)
        sink: Sink
        if out == "kafka":
            sink = KafkaSink(DetectorKafkaSettings.from_env(bootstrap_servers=bootstrap))
        elif out == "-":
            sink = JsonlSink(sys.stdout)
        else:
            sink = JsonlSink(Path(out))
        t0 = time.perf_counter()
        try:
            stats = run(cfg, source, detector, sink, start=start, gating=not no_gating, max_frames=max_frames)
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
