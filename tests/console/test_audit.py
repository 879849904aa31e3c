"""The audit log through ClickHouse (chDB): the console's writer appends rows, `saqshy audit` reads them back by
user, incident and time range. Each side in its own process (chDB opens one path per process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two chDB processes: half a minute on a busy machine
ROOT = Path(__file__).resolve().parents[2]

WRITE = """
import sys
from datetime import UTC, datetime, timedelta
from jobs.archive.audit import clickhouse_sink
from streams.console.audit import AuditLog
times = iter([datetime(2026, 11, 21, 19, m, tzinfo=UTC) for m in range(10)])
log = AuditLog([clickhouse_sink(sys.argv[1], "saqshy")], clock=lambda: next(times))
log.append("medeu", "operator", "login", client="127.0.0.1")
log.append("medeu", "operator", "ack", "inc-1", detail="console-abc")
log.append("eve", "", "login", outcome="failed")
log.append("supervisor", "supervisor", "view_phone", "inc-1")
log.append("medeu", "operator", "close", "inc-2", detail="console-def false alarm")
log.close()
assert log.errors == 0, log.errors
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_audit_rows_are_appended_and_queried(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'audit'}"
    w = _run("-c", WRITE, dsn)
    assert w.returncode == 0, w.stderr
    r = _run("-m", "saqshy", "audit", "--archive", dsn, "--json", "--user", "medeu",
             "--since", "2026-11-21T19:01:00Z")  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["action"], x["incident_id"]) for x in rows] == [("ack", "inc-1"), ("close", "inc-2")]
    assert rows[0]["time"] == "2026-11-21T19:01:00Z" and rows[0]["detail"] == "console-abc"
    r = _run("-m", "saqshy", "audit", "--archive", dsn, "--incident", "inc-1", "--until", "2026-11-21T19:03:00Z")
    assert r.returncode == 0, r.stderr
    assert "medeu (operator)  ack inc-1  ok  console-abc" in r.stdout and "view_phone" not in r.stdout
    assert "1 rows" in r.stderr
