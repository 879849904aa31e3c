"""The core's hot modules compiled to C by mypyc, when built (`make native`), or their Python source.

The compiled modules are the same source files compiled ahead of time: one semantics, two speeds. mypyc puts
a `.so` beside each `.py`, and Python's import system prefers an extension module to source, so a `.so` built
from an older source would silently run old code. `rules/__init__.py` therefore calls `select()` before any
core module loads: the build wrote the SHA-256 of every source it compiled to `rules/_native.json`, and unless
every listed source still has that hash (and `SAQSHY_NATIVE` is not `0`), a finder loads all of them from
source. All or none: compiled modules call each other directly, so a stale one cannot be swapped out alone.
Standard library only: this module runs before anything else of the package.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = Path(__file__).with_name("_native.json")
GROUP = "rules._compiled"  # mypyc's shared library: rules/_compiled__mypyc.<abi>.so
# Measured hot (tests/bench/core.py under py-spy); each is mypy-strict clean, which mypyc requires.
MODULES: tuple[str, ...] = (
    "rules.core.engine",
    "rules.core.rule",
    "rules.core.buffer",
    "rules.core.book",
    "rules.core.journal",
    "rules.core.timers",
    "rules.core.router",
    "rules.core.match",
    "rules.core.reference",
    "rules.core.plates",
    "rules.core.kinds",
    "rules.core.kinds.base",
    "rules.core.kinds.absence",
    "rules.core.kinds.cooccur",
    "rules.core.kinds.lookup",
    "rules.core.kinds.match",
    "rules.core.kinds.sequence",
    "rules.core.kinds.threshold",
    "rules.geo",
)

_state: dict[str, str] = {"mode": "source", "why": "not selected yet"}


def source_path(module: str) -> Path:
    base = ROOT.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _compiled_ok() -> str | None:
    """None when every module's compiled form matches its source; else why not."""
    if os.environ.get("SAQSHY_NATIVE", "1") == "0":
        return "SAQSHY_NATIVE=0"
    try:
        manifest = json.loads(MANIFEST.read_text())
    except FileNotFoundError:
        return "not built (make native)"
    except (OSError, ValueError) as exc:
        return f"unreadable {MANIFEST.name}: {exc}"
    if manifest.get("python") != sys.implementation.cache_tag:
        return f"built for {manifest.get('python')}, running {sys.implementation.cache_tag}"
    hashes = manifest.get("modules", {})
    for module in MODULES:
        built = hashes.get(module)
        if built is None:
            return f"{module} not built"
        if built != digest(source_path(module)):
            return f"{module} changed since the build (make native)"
    return None


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Loads the compiled modules' Python source even where their `.so` lies beside it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        src = source_path(fullname)
        locations = [str(src.parent)] if src.name == "__init__.py" else None
        return importlib.util.spec_from_file_location(fullname, src, submodule_search_locations=locations)


def select() -> None:
    """Decide once, before the first core import: compiled when current, else source (and say why)."""
    if _state["why"] != "not selected yet":
        return
    why = _compiled_ok()
    if why is None:
        _state.update(mode="compiled", why="")
        return
    _state.update(mode="source", why=why)
    if not any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder())


def mode() -> str:
    """'compiled' or 'source (why)': what this process runs, for logs and benchmarks."""
    if _state["mode"] != "compiled":
        return f"source ({_state['why']})"
    if "rules.core.engine" in sys.modules and not active():
        return "source (the build's .so files are missing: make native)"
    return "compiled"


def active() -> bool:
    """True when the core actually loaded from its compiled modules."""
    engine = sys.modules.get("rules.core.engine")
    return engine is not None and (engine.__file__ or "").endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
