"""The ClickHouse archive: schema migrations, the writer (embedded and Kafka), access control.

Importing this package does not import clickhouse_connect; the submodules do, when a job runs.
"""

from jobs.archive.errors import ArchiveError, ArchiveUnavailable, MigrationError

__all__ = ["ArchiveError", "ArchiveUnavailable", "MigrationError"]
