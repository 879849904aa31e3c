"""Connect to the archive: `chdb://PATH` (embedded chDB, the default) or `http(s)://host:8123` (a server).

The same clickhouse-connect client API serves both, so every job runs unchanged on a laptop and on a cluster.
clickhouse-connect reads `chdb://a/b` as host `a`, database `b`; ours is always a filesystem path
(`chdb://build/demo/archive` relative, `chdb:///var/lib/saqshy` absolute, `chdb://:memory:` in memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from jobs.archive.errors import ArchiveError, ArchiveUnavailable

if TYPE_CHECKING:  # the driver is imported by connect(), so that parsing and settings do not pay for it
    from clickhouse_connect.driver.client import Client

DEFAULT_DSN = "chdb://build/archive"
DEFAULT_DATABASE = "saqshy"
_MEMORY = {"", ":memory:", "memory"}


@dataclass(frozen=True)
class Dsn:
    url: str
    embedded: bool
    path: str | None  # chDB directory; None for in-memory or a server

    @property
    def is_server(self) -> bool:
        return not self.embedded


def parse_dsn(url: str) -> Dsn:
    if url.startswith("chdb://"):
        rest = url[len("chdb://") :].split("?", 1)[0]
        return Dsn(url, True, None if rest in _MEMORY else rest)
    parsed = urlparse(url)
    if parsed.scheme in {"http", "https"} and parsed.hostname:
        return Dsn(url, False, None)
    raise ArchiveError(f"archive DSN {redact_dsn(url)!r}: expected chdb://PATH or http(s)://host:port")


_SECRET_PARAMS = {"password", "secret", "token", "access_token", "key"}


def redact_dsn(url: str) -> str:
    """The DSN as it may be shown (messages, logs, reports): a password in it, or in its query, masked."""
    try:
        parsed = urlparse(url)
        netloc = parsed.netloc
        if parsed.password is not None:
            user = parsed.username or ""
            host = netloc.rsplit("@", 1)[1]
            netloc = f"{user}:***@{host}"
        query = parsed.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
        return urlunparse(parsed._replace(netloc=netloc, query=query))
    except ValueError:
        return "<unparseable DSN>"


def connect(url: str, **settings: object) -> Client:
    """A client for the DSN; a server that does not answer raises ArchiveUnavailable (callers retry)."""
    import clickhouse_connect

    dsn = parse_dsn(url)
    try:
        if dsn.embedded:
            kwargs: dict[str, object] = {"interface": "chdb", "tz_mode": "aware"}
            if dsn.path is not None:
                kwargs["path"] = dsn.path
            return clickhouse_connect.get_client(**kwargs, settings=settings or None)  # type: ignore[arg-type]
        return clickhouse_connect.get_client(dsn=url, tz_mode="aware", settings=settings or None)
    except Exception as exc:  # the driver raises OperationalError, ProgrammingError, OSError...
        raise ArchiveUnavailable(f"cannot open the archive at {redact_dsn(url)}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
