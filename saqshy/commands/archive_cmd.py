"""`saqshy archive`: the archiver service, Kafka -> ClickHouse."""

from __future__ import annotations

import signal
import sys

import click


@click.command("archive")
@click.option("--archive", "dsn", envvar="SAQSHY_ARCHIVE", default="chdb://build/archive", show_default=True)
@click.option("--database", default="saqshy", show_default=True)
@click.option("--bootstrap", envvar="SAQSHY_KAFKA_BOOTSTRAP_SERVERS", help="Kafka bootstrap servers [settings].")
@click.option("--group", default="saqshy-archive", show_default=True, help="Consumer group id.")
@click.option("--batch", default=50_000, show_default=True, help="Rows per insert.")
@click.option("--max-buffered", default=500_000, show_default=True, help="Rows kept while ClickHouse is down.")
@click.option("--flush-interval", default=2.0, show_default=True, help="Seconds between inserts when quiet.")
@click.option("--stop-after", type=float, default=None, help="Stop after this many seconds.")
@click.option("--until-idle", type=float, default=None, help="Stop once caught up and idle this many seconds.")
def archive(
    dsn: str,
    database: str,
    bootstrap: str | None,
    group: str,
    batch: int,
    max_buffered: int,
    flush_interval: float,
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
    from streams.kafka.settings import KafkaSettings

    try:
        server = parse_dsn(dsn).is_server
        client = connect(dsn)
        migrate(client, database, server=server)
        client.close()
        settings = KafkaSettings.from_env(bootstrap_servers=bootstrap)
        writer = ArchiveWriter(lambda: connect(dsn), database, batch_size=batch, max_buffered=max_buffered)
        archiver = KafkaArchiver(settings, writer, group_id=group, flush_interval_s=flush_interval)
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
