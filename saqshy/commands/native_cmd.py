"""`saqshy native build|clean|status`: the core's hot modules (rules.native.MODULES) compiled with mypyc.

`build` writes a `.so` beside each module, mypyc's shared library (rules/_compiled__mypyc) and
`rules/_native.json` (the SHA-256 of every source compiled), which `rules.native` checks at import: a source
changed since the build runs as source until the next build. It needs mypy (the dev extra) and a C compiler;
without them it says so and fails, and the core runs as Python source: the same results, slower.
`make install` runs it.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import sys
import time
from pathlib import Path

import click

from rules import native


def _artifacts() -> list[Path]:
    """Every extension module under rules/: all are this build's (one of a module since dropped included)."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return [p for p in (native.ROOT / "rules").rglob("*") if p.is_file() and p.name.endswith(suffixes)]


def _clean() -> None:
    native.MANIFEST.unlink(missing_ok=True)
    for path in _artifacts():
        path.unlink()


@click.group("native")
def native_group() -> None:
    """The core compiled with mypyc (the same source, faster), or not."""


@native_group.command("build")
def build() -> None:
    """Compile the core's hot modules in place (about a minute)."""
    try:
        from mypyc.build import mypycify
        from setuptools import Distribution
        from setuptools.command.build_ext import build_ext
    except ImportError as exc:
        raise click.ClickException(f"cannot build the native core ({exc}): install the dev extra") from None
    _clean()
    started = time.perf_counter()
    root = native.ROOT
    sources = {m: native.source_path(m) for m in native.MODULES}
    hashes = {m: native.digest(p) for m, p in sources.items()}  # what is compiled, read before compiling
    cwd = Path.cwd()
    os.chdir(root)  # mypyc names modules by their path from here
    try:
        extensions = mypycify(
            [str(p.relative_to(root)) for p in sources.values()],
            opt_level="3",
            group_name=native.GROUP,
            target_dir=str(root / "build" / "native"),
        )
        # A bare Distribution: never reads pyproject.toml (whose metadata an older setuptools rejects).
        cmd = build_ext(Distribution({"name": "saqshy-native", "ext_modules": extensions}))
        cmd.inplace = True
        cmd.build_temp = str(root / "build" / "native" / "temp")
        cmd.parallel = os.cpu_count() or 1
        cmd.ensure_finalized()
        cmd.run()
    except (SystemExit, Exception) as exc:  # mypy's type errors end in SystemExit, a compiler's in CompileError
        _clean()
        raise click.ClickException(f"native core not built, the core runs as Python source: {exc}") from None
    finally:
        os.chdir(cwd)
    manifest = {"python": sys.implementation.cache_tag, "modules": hashes}
    native.MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    click.echo(f"native: {len(hashes)} modules compiled in {time.perf_counter() - started:.0f} s", err=True)


@native_group.command("clean")
def clean() -> None:
    """Remove what a build wrote: the core runs as Python source."""
    _clean()


@native_group.command("status")
def status() -> None:
    """Say whether this process would run the compiled core, and why not."""
    click.echo(native.mode())
