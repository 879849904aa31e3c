"""The archive's settings (schemas.settings): where ClickHouse is and how the archiver feeds it.

SAQSHY_ARCHIVE is the DSN, as it always was; the rest are SAQSHY_ARCHIVE_*, or the [archive] section of the
settings file. A server DSN may carry a password (`http://user:password@host:8123`): the DSN is a secret, shown
only with the password masked (`shown`).
"""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from jobs.archive.dsn import DEFAULT_DATABASE, DEFAULT_DSN, parse_dsn, redact_dsn
from jobs.archive.errors import ArchiveError
from schemas.settings import ServiceSettings


def check_dsn(url: str) -> str:
    """The DSN if it is chdb://PATH or http(s)://host[:port]; ValueError (the password masked) if not."""
    try:
        parse_dsn(url)
    except ArchiveError as exc:
        raise ValueError(str(exc)) from None
    return url


class ArchiveSettings(ServiceSettings):
    """The ClickHouse archive (every command that reads or writes it) and the archiver service."""

    model_config = SettingsConfigDict(env_prefix="SAQSHY_ARCHIVE_")
    file_section: ClassVar[tuple[str, ...]] = ("archive",)
    env_aliases: ClassVar[dict[str, str]] = {"dsn": "SAQSHY_ARCHIVE"}
    title: ClassVar[str] = "archive settings"

    dsn: SecretStr = Field(
        SecretStr(DEFAULT_DSN),
        description="chdb://PATH (embedded chDB) or http(s)://[user:password@]host:8123 (a server); a password in "
        "it is never shown.",
    )
    database: str = Field(DEFAULT_DATABASE, min_length=1, description="ClickHouse database of the archive tables.")
    group: str = Field("saqshy-archive", min_length=1, description="Kafka consumer group of the archiver.")
    batch: int = Field(50_000, ge=1, description="Rows per insert (archiver).")
    max_buffered: int = Field(500_000, ge=1, description="Rows the archiver keeps while ClickHouse is down.")
    flush_interval: float = Field(2.0, gt=0, description="Seconds between the archiver's inserts when quiet.")
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Serve the archiver's Prometheus metrics on this port."
    )

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: SecretStr) -> SecretStr:
        check_dsn(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _buffer_holds_a_batch(self) -> Self:
        if self.max_buffered < self.batch:
            raise ValueError(f"max_buffered ({self.max_buffered}) must hold at least one batch ({self.batch})")
        return self

    @property
    def url(self) -> str:
        """The DSN itself, for the client (the one place its password is read)."""
        return self.dsn.get_secret_value()

    @property
    def shown(self) -> str:
        """The DSN as it may be shown: a password masked."""
        return redact_dsn(self.url)
