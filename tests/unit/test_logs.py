"""Logging is set up once, by `saqshy` itself: one format for the project's and librdkafka's lines, chosen by
option or environment, with defaults per kind of command (services: INFO, JSON; one-shot commands: WARNING, text)."""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from saqshy.logs import configure, defaults

ROOT = Path(__file__).resolve().parents[2]


def test_json_lines_carry_time_level_logger_extra_fields_and_the_traceback() -> None:
    out = io.StringIO()
    handler = configure("INFO", "json", stream=out)
    try:
        log = logging.getLogger("saqshy.test")
        log.info("assigned %d partitions", 3, extra={"partitions": [0, 1, 2]})
        log.debug("not at INFO")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("transaction aborted")
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (orjson.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "INFO" and first["logger"] == "saqshy.test"
    assert first["msg"] == "assigned 3 partitions" and first["partitions"] == [0, 1, 2]
    assert first["time"].endswith("+00:00")
    assert second["level"] == "ERROR" and "RuntimeError: boom" in second["exc"]


def test_configuring_again_replaces_only_our_handler() -> None:
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    try:
        a = configure("INFO", "text", stream=io.StringIO())
        b = configure("WARNING", "json", stream=io.StringIO())
        assert a not in root.handlers and b in root.handlers and other in root.handlers
        assert root.level == logging.WARNING
    finally:
        root.removeHandler(other)
        root.removeHandler(b)


def test_services_default_to_info_json_and_one_shot_commands_to_warning_text() -> None:
    assert defaults("worker") == ("INFO", "json") and defaults("detect") == ("INFO", "json")
    assert defaults("replay") == ("WARNING", "text") and defaults(None) == ("WARNING", "text")
    with pytest.raises(ValueError, match="not one of"):
        configure("LOUD", "text")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _first_librdkafka_line(*args: str, env: dict[str, str] | None = None) -> str:
    """Run `saqshy ... tail` against a port nobody listens on; return its first stderr line from librdkafka."""
    port = _closed_port()
    cmd = [sys.executable, "-m", "saqshy", *args, "tail", "--bootstrap", f"127.0.0.1:{port}", "incidents"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})}
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if str(port) in line:
                return line
        raise AssertionError("no librdkafka line about the refused connection within 20 s")
    finally:
        proc.kill()
        proc.wait()


def test_librdkafka_lines_take_the_chosen_format_from_the_option_or_the_environment() -> None:
    line = _first_librdkafka_line("--log-format", "json")
    doc = orjson.loads(line)
    assert doc["logger"] == "saqshy.librdkafka" and doc["level"] in {"WARNING", "ERROR"}
    text = _first_librdkafka_line(env={"SAQSHY_LOG_FORMAT": "text"})
    assert "saqshy.librdkafka" in text and not text.startswith("{")


def test_a_client_librarys_repeated_lines_are_thinned_and_counted_and_ours_never() -> None:
    """With the broker away aiokafka logs the same failure ~30 times a second: a few pass per window, the next
    one after the window says how many were left out; the project's own lines all pass."""
    out = io.StringIO()
    handler = configure("INFO", "text", stream=out)
    t = 1_000_000.0

    def emit(name: str, msg: str, *args: object, at: float) -> None:
        record = logging.LogRecord(name, logging.ERROR, __file__, 0, msg, args or None, None)
        record.created = at
        handler.handle(record)

    try:
        for i in range(50):  # 5 s of a flood, two patterns of one client and a line of ours
            emit("aiokafka", "Unable connect to node with id %s: %s", 1, f"closed {i}", at=t + i * 0.1)
            emit("aiokafka.consumer.fetcher", "Failed fetch messages from %s", 1, at=t + i * 0.1)
            emit("saqshy.worker", "transaction aborted: %s", f"try {i}", at=t + i * 0.1)
        emit("aiokafka", "Unable connect to node with id %s: %s", 1, "closed again", at=t + 11.0)
        # as confluent-kafka logs librdkafka's lines: one format string, facility and client as arguments
        for fac, client in (("FAIL", "saqshy#consumer-1"), ("FAIL", "saqshy#consumer-2"), ("SESSTMOUT", "c-1")):
            for i in range(5):
                emit("saqshy.librdkafka", "%s [%s] %s", fac, client, f"[thrd:main]: try {i}", at=t + 12.0)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = out.getvalue().splitlines()
    connects = [ln for ln in lines if "Unable connect" in ln]
    assert len(connects) == 4  # the burst of 3, then the one after the window with the count
    assert connects[-1].endswith("closed again (47 more like it left out in 10 s)")
    assert sum("Failed fetch" in ln for ln in lines) == 3
    assert sum("transaction aborted" in ln for ln in lines) == 50
    assert sum("FAIL [saqshy#consumer-1]" in ln for ln in lines) == 3
    assert sum("FAIL [saqshy#consumer-2]" in ln for ln in lines) == 3
    assert sum("SESSTMOUT [c-1]" in ln for ln in lines) == 3  # another kind of line is never hidden by a storm
