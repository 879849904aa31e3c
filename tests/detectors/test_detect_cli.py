"""Every value of `saqshy detect` that can be wrong gives one `Error: ...` line saying what was expected, never a
traceback: exit 2 for a bad command line, 1 for an input that fails at run time (as tests/unit/test_cli_errors.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from saqshy.cli import main
from tests.detectors.conftest import EXAMPLES, MODEL, PETS, need

CONFIG = str(EXAMPLES / "pets2009_walkway.yaml")
CLIP = str(PETS)

# (arguments after `detect`, exit code, text the message must contain); {tmp} is the test's directory
CASES: list[tuple[list[str], int, str]] = [
    (["--start", "yesterday"], 2, "'yesterday' is not an ISO 8601 time, e.g. 2026-11-22T10:00:00+05:00"),
    (["--start", "2026-11-22T10:00:00"], 2, "needs an explicit UTC offset, e.g. 2026-11-22T10:00:00+05:00"),
    (["--start", "2026-11-22T10:00:00+25:00"], 2, "is not an ISO 8601 time"),
    (["--start", "0001-01-01T00:00:00+05:00"], 2, "out of range: a time from 1970 to 2999"),
    (["--start", "9999-12-31T23:59:59-05:00"], 2, "out of range: a time from 1970 to 2999"),
    (["--max-frames", "0"], 2, "'--max-frames'"),
    (["--max-frames", "ten"], 2, "'--max-frames'"),
    (["--out", "{tmp}"], 2, "is a directory: 'kafka', '-' (stdout) or a JSONL file path"),
    (["--out", ""], 2, "'--out': is empty"),
    (["--source", ""], 2, "'--source': is empty"),
    (["--source", "{tmp}/none.avi"], 1, "none.avi': does not exist"),
    (["--source", "{tmp}"], 1, "is not a file"),
    (["--source", "rtps://cam/1"], 1, "stream URLs start with rtsp, rtsps, http, https, rtmp, udp or tcp"),
    (["--source", "rtsp://u:pw@cam/1", "--start", "2026-11-22T10:00:00+05:00"], 2, "--start applies to video files"),
    (["--camera", "cam-other"], 2, "does not match camera.id 'cam-campus-walkway'"),
    (["--config", "{tmp}/typo.yaml"], 1, "typo.yaml:6:3: model.score_treshold: unknown key 'score_treshold'"),
    (["--bootstrap", "localhost"], 2, "'localhost' is not HOST:PORT"),
]


@pytest.mark.parametrize(("args", "code", "expected"), CASES, ids=[" ".join(c[0])[:50] for c in CASES])
def test_bad_values_say_what_is_expected(args: list[str], code: int, expected: str, tmp_path: Path) -> None:
    need(PETS, MODEL)
    (tmp_path / "typo.yaml").write_text(
        f"camera:\n  id: c\n  location: {{lat: 1, lon: 2}}\nmodel:\n  path: {MODEL}\n  score_treshold: 0.4\n"
    )
    given = [a.replace("{tmp}", str(tmp_path)) for a in args]
    base = ["detect", "--config", CONFIG, "--source", CLIP, "--max-frames", "1", "--out", str(tmp_path / "o.jsonl")]
    result = CliRunner().invoke(main, base + given)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and result.output.strip().splitlines()[-1].startswith("Error: ")
    assert expected in result.output, result.output
