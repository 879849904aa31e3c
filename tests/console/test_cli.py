"""`saqshy console` and `saqshy console user add` on the command line (no server started)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from saqshy.cli import main
from streams.console.users import load_users, verify

ROOT = Path(__file__).resolve().parents[2]


def test_console_needs_one_source_and_a_users_file(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text("")
    users = str(ROOT / "infra/console/users.demo.yaml")
    r = CliRunner().invoke(main, ["console", "--users", users])
    assert r.exit_code == 2 and "exactly one of --replay FILE or --bootstrap" in r.output
    r = CliRunner().invoke(main, ["console", "--replay", str(events), "--bootstrap", "h:1", "--users", users])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["console", "--replay", str(events)])
    assert r.exit_code == 2 and "--users FILE is required" in r.output
    r = CliRunner().invoke(main, ["console", "--replay", str(events), "--users", users, "--session-ttl", "soon"])
    assert r.exit_code == 2


def test_user_add_writes_a_loadable_file_and_the_demo_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    args = ["console", "user", "add", "--users", str(path), "--name", "medeu", "--role", "operator",
            "--scope", "Kazakhstan/Alatau/Alatau/Medeu district", "--password", "s3cret-pass"]  # fmt: skip
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    users = load_users(path)
    assert users["medeu"].scopes == [["Kazakhstan", "Alatau", "Alatau", "Medeu district"]]
    assert verify(users["medeu"], "s3cret-pass") and not verify(users["medeu"], "wrong")
    demo = load_users(ROOT / "infra/console/users.demo.yaml")
    assert {u.role for u in demo.values()} == {"supervisor", "operator", "analyst", "admin"}
    districts = {u.scopes[0][-1] for u in demo.values() if u.role == "operator"}
    assert len(districts) == 2
