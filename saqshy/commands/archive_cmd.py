"""`saqshy archive`: the archiver service, Kafka -> ClickHouse."""

from __future__ import annotations

import signal
import sys

import click

from jobs.archive.settings import ArchiveSettings
from saqshy.settings import BOOTSTRAP, archive_options, archive_settings, setting, setting_help
from streams.kafka.settings import KafkaSettings


@click.command("archive")
@archive_options
@click.option(
    "--bootstrap",
    type=BOOTSTRAP,
    default=None,
    help=setting_help(KafkaSettings, "bootstrap_servers", "Kafka bootstrap.servers, HOST:PORT[,HOST:PORT...]."),
)
@setting(ArchiveSettings, "group", "--group")
@setting(ArchiveSettings, "batch", "--batch", type=click.IntRange(min=1))
@setting(ArchiveSettings, "max_buffered", "--max-buffered", type=click.IntRange(min=1))
@setting(ArchiveSettings, "flush_interval", "--flush-interval", type=click.FloatRange(min=0, min_open=True))
@setting(ArchiveSettings, "metrics_port", "--metrics-port", type=click.IntRange(1, 65535))
@click.option(
    "--stop-after", type=click.FloatRange(min=0), default=None, help="Stop after this many seconds [default: never]."
)
@click.option(
    "--until-idle",
    type=click.FloatRange(min=0),
    default=None,
    help="Stop once caught up and idle this many seconds [default: never].",
)
def archive(
    dsn: str | None,
    database: str | None,
    bootstrap: str | None,
    group: str | None,
    batch: int | None,
    max_buffered: int | None,
    flush_interval: float | None,
    metrics_port: int | None,
    stop_after: float | None,
    until_idle: float | None,
) -> None:
    """Consume the event and incident topics and archive them; offsets are committed after each insert."""
    import orjson

    from jobs.archive import ArchiveError
    from jobs.archive.consumer import KafkaArchiver
    from jobs.archive.dsn import connect, parse_dsn
    from jobs.archive.migrate import migrate
    from jobs.archive.writer import ArchiveWriter
    from saqshy.kafka_access import check_access

    cfg = archive_settings(
        dsn,
        database,
        group=group,
        batch=batch,
        max_buffered=max_buffered,
        flush_interval=flush_interval,
        metrics_port=metrics_port,
    )
    settings = KafkaSettings.from_env(bootstrap_servers=bootstrap)
    check_access(settings)  # a wrong password or an untrusted certificate fails here, at once
    url = cfg.url
    try:
        server = parse_dsn(url).is_server
        client = connect(url)
        migrate(client, cfg.database, server=server)
        client.close()
        writer = ArchiveWriter(lambda: connect(url), cfg.database, batch_size=cfg.batch, max_buffered=cfg.max_buffered)
        archiver = KafkaArchiver(
            settings, writer, group_id=cfg.group, flush_interval_s=cfg.flush_interval, metrics_port=cfg.metrics_port
        )
    except ArchiveError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    signal.signal(signal.SIGTERM, lambda *_: archiver.stop())
    signal.signal(signal.SIGINT, lambda *_: archiver.stop())
    stats = archiver.run(stop_after_s=stop_after, idle_exit_s=until_idle)
    if writer.buffered:
        click.echo(f"archive: {writer.buffered} rows not archived (not committed; read again on restart)", err=True)
    else:
        writer.close()
    click.echo(orjson.dumps({"archive": stats.as_dict(), "writer": writer.stats.as_dict()}).decode())
