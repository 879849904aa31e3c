"""Bad command lines, bad settings and failing inputs give a short `Error: ...` and a non-zero exit, never a
Python traceback: 2 for a bad value (click usage errors, settings), 1 for what goes wrong at run time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from saqshy.cli import main
from tests.support import CATALOG

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("bad")
    (d / "garbage.jsonl").write_text("not json\n")
    (d / "bad.toml").write_text("[kafka]\nbootstrap = 'x:1'\n")
    (d / "broken.toml").write_text("[kafka\n")
    (d / "camera.yaml").write_text("camera: [\n")
    rules = d / "rules"
    rules.mkdir()
    (rules / "link.yaml").symlink_to(d / "absent.yaml")  # a rule file that cannot be read
    (d / "bad_rule.yaml").write_text("id: x\nversion: 1\nselect: 3\n")
    return {
        k: str(d / k) for k in ("garbage.jsonl", "bad.toml", "broken.toml", "camera.yaml", "rules", "bad_rule.yaml")
    }


# (arguments, environment, exit code, text the message must contain); {name} is a file of the fixture
CASES: list[tuple[list[str], dict[str, str], int, str]] = [
    # files and directories that are not there
    (["rules", "lint", "/no/such/rules"], {}, 2, "does not exist"),
    (["replay", "--input", "/no/such/events.jsonl"], {}, 2, "does not exist"),
    (["replay", "--input", "{garbage.jsonl}", "--rules", "/no/such/dir"], {}, 2, "'--rules'"),
    (["evaluate", "--truth", "/no/such", "--incidents", "/no/such"], {}, 2, "does not exist"),
    (["db", "migrate", "--archive", "chdb://x", "--scopes", "/no/such/scopes.yaml"], {}, 2, "does not exist"),
    # unreadable or invalid rules
    (["rules", "lint", "{rules}"], {}, 1, "cannot read"),
    (["rules", "lint", "{bad_rule.yaml}"], {}, 1, "bad_rule.yaml:"),
    (["rules", "explain", "no.such.rule", "--input", "{garbage.jsonl}", "--rules", str(CATALOG)], {}, 2, "no rule"),
    # a bad archive DSN, on the command line and in the environment
    (["db", "migrate", "--archive", "ftp://nowhere"], {}, 2, "expected chdb://PATH or http(s)://host:port"),
    (["map", "--archive", "postgres://h/db"], {}, 2, "'--archive'"),
    (["forecast", "fit", "--archive", "nowhere"], {}, 2, "'--archive'"),
    (["rules", "backtest", str(CATALOG), "--from", "2026-01-01", "--to", "2026-01-02", "--archive", "x"], {}, 2, "DSN"),
    (["db", "status"], {"SAQSHY_ARCHIVE": "ftp://nowhere"}, 2, "SAQSHY_ARCHIVE"),
    # bad bootstrap servers
    (["topics", "list", "--bootstrap", "localhost"], {}, 2, "'localhost' is not HOST:PORT"),
    (["tail", "t", "--bootstrap", "k:abc"], {}, 2, "port 'abc'"),
    (["produce", "--input", "{garbage.jsonl}", "--bootstrap", ",,"], {}, 2, "'--bootstrap'"),
    (["archive", "--bootstrap", "h:0"], {}, 2, "'--bootstrap'"),
    (["topics", "list"], {"SAQSHY_KAFKA_BOOTSTRAP_SERVERS": "kafka"}, 2, "SAQSHY_KAFKA_BOOTSTRAP_SERVERS"),
    (["topics", "list"], {"SAQSHY_KAFKA_SECURITY_PROTOCOL": "TLS"}, 2, "SAQSHY_KAFKA_SECURITY_PROTOCOL"),
    (["worker"], {"SAQSHY_WORKER_ENGINE": "kafka-streams"}, 2, "SAQSHY_WORKER_ENGINE"),
    # malformed durations, sizes, ports and times
    (["worker", "--commit-interval", "soon"], {}, 2, "'--commit-interval'"),
    (["worker", "--commit-interval", "0"], {}, 2, "'--commit-interval'"),
    (["worker", "--idle-after", "-5"], {}, 2, "'--idle-after'"),
    (["worker", "--metrics-port", "99999"], {}, 2, "'--metrics-port'"),
    (["flink", "run", "--checkpoint-interval", "5s"], {}, 2, "'--checkpoint-interval'"),
    (["flink", "run", "--parallelism", "0"], {}, 2, "'--parallelism'"),
    (["flink", "run", "--jobmanager", "jm"], {}, 2, "'--jobmanager'"),
    (["archive", "--flush-interval", "-1"], {}, 2, "'--flush-interval'"),
    (["archive", "--batch", "0"], {}, 2, "'--batch'"),
    (["archive", "--stop-after", "an hour"], {}, 2, "'--stop-after'"),
    (["map", "--from", "2026-13-01"], {}, 2, "'--from'"),
    (["simulate", "--out", "x.jsonl", "--start", "noon"], {}, 2, "not an ISO 8601 time"),
    (["replay", "--input", "{garbage.jsonl}", "--reference-as-of", "noon"], {}, 2, "'--reference-as-of'"),
    (["detect", "--source", "x", "--config", "{camera.yaml}", "--start", "tomorrow"], {}, 2, "'--start'"),
    # settings files
    (["--config", "/no/such.toml", "rules", "lint"], {}, 2, "'--config'"),
    (["--config", "{bad.toml}", "rules", "lint"], {}, 2, "[kafka] has unknown setting(s) bootstrap"),
    (["--config", "{broken.toml}", "rules", "lint"], {}, 2, "invalid TOML"),
    (["rules", "lint"], {"SAQSHY_CONFIG": "/no/such.toml"}, 2, "'--config'"),
    # inputs that fail at run time
    (["evaluate", "--truth", "{garbage.jsonl}", "--incidents", "{garbage.jsonl}"], {}, 1, "not a ground-truth line"),
    (["detect", "--source", "x", "--config", "{camera.yaml}"], {}, 1, "camera.yaml"),
    (["produce", "--input", "{garbage.jsonl}", "--topic-map", "nonsense"], {}, 1, "not TYPE=TOPIC"),
    (["schemas", "export", "{garbage.jsonl}"], {}, 2, "is a file"),
]


def _fill(value: str, files: dict[str, str]) -> str:
    for name, path in files.items():
        value = value.replace("{" + name + "}", path)
    return value


@pytest.mark.parametrize("args,env,code,expected", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_invocations_say_what_is_wrong(
    args: list[str], env: dict[str, str], code: int, expected: str, files: dict[str, str], tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, [_fill(a, files) for a in args], env={k: _fill(v, files) for k, v in env.items()})
    output = result.output
    # an exception escaping click would be a traceback for a user: CliRunner keeps it in result.exception
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, output
    assert "Traceback" not in output and "error" in output.lower(), output
    assert expected in output, output


def test_a_real_process_prints_one_error_line_and_debug_shows_the_traceback(files: dict[str, str]) -> None:
    args = [sys.executable, "-m", "saqshy", "evaluate", "--truth", files["garbage.jsonl"], "--incidents"]
    r = subprocess.run([*args, files["garbage.jsonl"]], cwd=ROOT, capture_output=True, text=True, check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"Error: {files['garbage.jsonl']}:1: not a ground-truth line "
                                             "(Invalid JSON: expected ident at line 1 column 2)"]  # fmt: skip
    debug = [sys.executable, "-m", "saqshy", "--debug", *args[3:], files["garbage.jsonl"]]
    r = subprocess.run(debug, cwd=ROOT, capture_output=True, text=True, check=False)
    assert r.returncode == 1 and "Traceback" in r.stderr and "TruthFileError" in r.stderr


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the project's errors and the system's become messages; anything else is a bug to report whole."""
    import saqshy.commands.evaluate_cmd as evaluate_cmd

    def broken(*_: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(evaluate_cmd, "read_truth", broken)
    result = CliRunner().invoke(main, ["evaluate", "--truth", __file__, "--incidents", __file__])
    assert isinstance(result.exception, KeyError)


def test_a_missing_optional_package_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from saqshy import cli

    monkeypatch.setitem(cli.COMMANDS, "ghost", ("saqshy.commands.ghost_cmd", "ghost", "needs cv2"))
    error = ModuleNotFoundError("No module named 'cv2'", name="cv2")
    monkeypatch.setattr(cli.importlib, "import_module", lambda name: (_ for _ in ()).throw(error))
    result = CliRunner().invoke(main, ["ghost"])
    assert result.exit_code == 1 and "needs the Python package 'cv2' (pip install 'saqshy[video]')" in result.output
