"""Options several commands share, written once so their names, defaults and help stay the same."""

from __future__ import annotations

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
