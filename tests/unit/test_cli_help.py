"""Every command of `saqshy`, the lazily loaded ones included, documents every option and argument, and its
--help says nothing secret."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from saqshy.cli import COMMANDS, main


def walk(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{' '.join((*path, name))} is listed but does not load"
            yield from walk(sub, (*path, name))


ALL = list(walk(main, ("saqshy",)))


def test_the_walk_reaches_the_lazy_commands() -> None:
    names = {path[1] for path, _ in ALL if len(path) > 1}
    assert names == set(COMMANDS)
    assert ("saqshy", "flink", "run") in {path for path, _ in ALL}  # a lazily loaded group's subcommand
    assert len(ALL) > 30


@pytest.mark.parametrize("path,command", ALL, ids=[" ".join(p) for p, _ in ALL])
def test_every_option_has_help(path: tuple[str, ...], command: click.Command) -> None:
    missing = [
        "/".join(p.opts + p.secondary_opts)
        for p in command.params
        if isinstance(p, click.Option) and not (p.help or "").strip()
    ]
    assert not missing, f"{' '.join(path)}: options without help: {', '.join(missing)}"


@pytest.mark.parametrize("path,command", ALL, ids=[" ".join(p) for p, _ in ALL])
def test_every_command_says_what_it_does_and_what_its_arguments_are(
    path: tuple[str, ...], command: click.Command
) -> None:
    text = command.help or ""
    assert text.strip(), f"{' '.join(path)} has no help"
    for arg in (p for p in command.params if isinstance(p, click.Argument)):
        name = (arg.metavar or arg.name or "").upper()
        assert name in text, f"{' '.join(path)}: its help does not explain its argument {name}"


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=[" ".join(p) for p, _ in ALL])
def test_help_runs_and_shows_no_secret(path: tuple[str, ...]) -> None:
    env = {
        "SAQSHY_KAFKA_SASL_PASSWORD": "kafka-pw-0xSECRET",
        "SAQSHY_ARCHIVE": "http://u:archive-pw-0xSECRET@h:8123",
        "SAQSHY_PSEUDONYM_SECRET": "pseudonym-0xSECRET-0123456789",
    }
    result = CliRunner().invoke(main, [*path[1:], "--help"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "0xSECRET" not in result.output
