"""Archive what the embedded runner saw and decided: `saqshy replay --archive chdb://PATH`.

The events file is read once more after the replay (the runner's numbers stay those of the core alone);
lines the runner rejected are rejected here too and are in its dead letters, so they are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from jobs.archive.dsn import DEFAULT_DATABASE, connect, parse_dsn, redact_dsn
from jobs.archive.migrate import migrate
from jobs.archive.writer import ArchiveWriter
from rules.privacy import PrivacySettings
from rules.records import RecordDecodeError, decode_record
from schemas import Incident
from streams.embedded import open_lines


@dataclass
class ArchiveReport:
    dsn: str  # as it may be shown: a password masked
    events: int
    incidents: int
    skipped_lines: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def archive_replay(
    dsn: str,
    events_path: Path,
    incidents: Iterable[Incident],
    *,
    database: str = DEFAULT_DATABASE,
    privacy: PrivacySettings | None = None,
    batch_size: int = 100_000,
) -> ArchiveReport:
    started = time.perf_counter()
    client = connect(dsn)
    migrate(client, database, server=parse_dsn(dsn).is_server)
    writer = ArchiveWriter(lambda: client, database, privacy=privacy, batch_size=batch_size, max_buffered=batch_size)
    skipped = 0
    with open_lines(events_path) as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                writer.add_event(decode_record(line))
            except RecordDecodeError:
                skipped += 1
                continue
            if writer.due:
                writer.flush(wait=True, deadline_s=300)
    for inc in incidents:
        writer.add_incident(inc)
    writer.close()
    return ArchiveReport(
        redact_dsn(dsn), writer.stats.events, writer.stats.incidents, skipped, time.perf_counter() - started
    )
