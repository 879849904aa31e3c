"""Logging, configured once for every command by `saqshy` itself (saqshy/cli.py), never by a command.

Two formats on stderr: `text` for people at a terminal and `json` (one object a line) for log shippers. The
long-running services (worker, archive, detect, flink) default to INFO and JSON; the one-shot commands to
WARNING and text, so `rules lint` or `replay` print only their own output. `--log-level`/`--log-format` (or
SAQSHY_LOG_LEVEL / SAQSHY_LOG_FORMAT) override both. librdkafka's lines come through the `saqshy.librdkafka`
logger (streams/kafka/settings.py), so they take the same format.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

import orjson

Format = Literal["text", "json"]
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS: tuple[Format, ...] = ("text", "json")
LEVEL_ENV = "SAQSHY_LOG_LEVEL"
FORMAT_ENV = "SAQSHY_LOG_FORMAT"
# Commands that run until stopped: operators collect their logs, so every start/assignment/abort line counts.
SERVICES = frozenset({"worker", "archive", "detect", "flink"})
# LogRecord's own attributes: anything else on a record was passed through `extra=` and goes into the JSON.
_RECORD_KEYS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601 with ms), level, logger, msg, the `extra=` fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_KEYS and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


TEXT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")

# Client libraries that log every retry: with the broker away aiokafka logged ~1,450 lines a second, librdkafka a
# reconnect line per connection and try, Faust a livelock warning per partition a few times a second
# (tests/chaos/test_stop_offline.py, test_network.py), burying the worker's own lines.
CHATTY = ("aiokafka", "kafka", "saqshy.librdkafka", "faust", "mode")
REPEAT_WINDOW_S = 10.0
REPEAT_BURST = 3


class RepeatFilter(logging.Filter):
    """A client library's line that repeats (the same logger, level and message pattern) passes REPEAT_BURST
    times in a window of REPEAT_WINDOW_S; the rest of that window is counted, and the first such line after it
    says how many were left out. The project's own lines always pass."""

    def __init__(self, window_s: float = REPEAT_WINDOW_S, burst: int = REPEAT_BURST) -> None:
        super().__init__()
        self.window_s, self.burst = window_s, burst
        self._seen: dict[tuple[str, int, str], list[float]] = {}  # key -> [window start, passed, left out]

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if not any(name == c or name.startswith(c + ".") for c in CHATTY):
            return True
        key = (name, record.levelno, _pattern(record))
        seen = self._seen.get(key)
        now = record.created
        if seen is None or now - seen[0] >= self.window_s:
            left_out = int(seen[2]) if seen is not None else 0
            self._seen[key] = [now, 1, 0]
            if left_out:
                record.msg = f"{record.getMessage()} ({left_out} more like it left out in {self.window_s:g} s)"
                record.args = None
            if len(self._seen) > 10_000:  # patterns with ids in them must not grow this without bound
                self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.window_s}
            return True
        if seen[1] < self.burst:
            seen[1] += 1
            return True
        seen[2] += 1
        return False


def _pattern(record: logging.LogRecord) -> str:
    """What makes two lines the same: the format string when it says something of its own (aiokafka's "Unable
    connect to node with id %s: %s"), else the line's first two words. confluent-kafka logs every librdkafka line
    as "%s [%s] %s" (facility, client, text): those are told apart by facility and client, "FAIL [saqshy#consumer-2]",
    so a storm of one kind never hides a line of another."""
    template = str(record.msg)
    if record.args and not template.startswith("%"):
        return template
    return " ".join(record.getMessage().split(" ", 2)[:2])


def defaults(command: str | None) -> tuple[str, Format]:
    """The level and format a command logs at when neither option nor environment says otherwise."""
    return ("INFO", "json") if command in SERVICES else ("WARNING", "text")


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time of the record (a test runner may swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler.__init__ assigns it
        pass


def configure(level: str, fmt: Format, stream: TextIO | None = None) -> logging.Handler:
    """Install the one Saqshy handler on the root logger (replacing an earlier one of ours, leaving other
    handlers such as a test runner's alone) on `stream`, or on stderr as it is at each record."""
    if level.upper() not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TEXT)
    handler.addFilter(RepeatFilter())
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


_MARK = "_saqshy_handler"
