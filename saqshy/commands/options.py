"""Options several commands share, written once so their names, defaults and help stay the same."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from rules.loader import CATALOG

rules_option = click.option(
    "--rules",
    "rule_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    default=[CATALOG],
    show_default="the packaged catalog (rules/catalog)",
    help="Rule files or directories of rule files (repeatable).",
)


def aware_time(value: str) -> datetime:
    """An ISO 8601 time with an offset (Z or +hh:mm) from the command line, or a click error saying which."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time, e.g. 2026-11-22T00:00:00Z") from None
    if when.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs an offset, e.g. 2026-11-22T00:00:00Z")
    return when
