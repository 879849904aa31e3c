"""The core compiled with mypyc (rules/native.py) is the same source: the same incidents, and never stale."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rules import native

ROOT = Path(__file__).resolve().parents[2]
CAN_BUILD = importlib.util.find_spec("mypyc") is not None and shutil.which(os.environ.get("CC", "cc")) is not None


def _run(code: str, native_on: bool) -> str:
    env = {**os.environ, "SAQSHY_NATIVE": "1" if native_on else "0"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=600
    )
    return done.stdout


@pytest.mark.skipif(os.environ.get("SAQSHY_NATIVE") == "0", reason="the source core asked for (SAQSHY_NATIVE=0)")
@pytest.mark.skipif(not CAN_BUILD, reason="no mypyc or no C compiler here: the core runs as source")
def test_make_install_built_the_core_and_it_is_what_runs() -> None:
    import rules.core.engine  # noqa: F401

    assert native.mode() == "compiled", f"`make install` should have built it (saqshy native build): {native.mode()}"
    assert native.active()


def test_source_is_loaded_when_asked_for_whatever_is_built() -> None:
    out = _run("import rules.core.engine as e, rules.native as n; print(e.__file__, n.active(), n.mode())", False)
    path, active, mode = out.split(maxsplit=2)
    assert path.endswith("rules/core/engine.py") and active == "False" and mode.startswith("source (SAQSHY_NATIVE=0")


def test_a_source_changed_since_the_build_runs_as_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAQSHY_NATIVE", raising=False)
    hashes = {m: native.digest(native.source_path(m)) for m in native.MODULES}
    manifest = tmp_path / "_native.json"
    monkeypatch.setattr(native, "MANIFEST", manifest)
    assert native._compiled_ok() == "not built (make native)"
    manifest.write_text(json.dumps({"python": sys.implementation.cache_tag, "modules": hashes}))
    assert native._compiled_ok() is None
    stale = {**hashes, "rules.core.rule": "0"}
    manifest.write_text(json.dumps({"python": sys.implementation.cache_tag, "modules": stale}))
    assert native._compiled_ok() == "rules.core.rule changed since the build (make native)"
    manifest.write_text(json.dumps({"python": "cpython-0", "modules": hashes}))
    assert "built for cpython-0" in (native._compiled_ok() or "")


@pytest.mark.skipif(not (ROOT / "rules" / "_native.json").exists(), reason="the native core is not built here")
def test_compiled_and_source_give_the_same_incidents_on_a_shuffled_city_day(tmp_path: Path) -> None:
    """Two simulated hours of the city, every catalog rule, delivered out of order (rewinds, late drops, ties):
    the compiled core writes the source core's update stream byte for byte."""
    sim = tmp_path / "sim.jsonl"
    saqshy = [sys.executable, "-m", "saqshy"]
    subprocess.run(
        [*saqshy, "simulate", "--city", "streams/sim/cities/alatau", "--hours", "2", "--seed", "11", "--out", str(sim),
         "--truth", str(tmp_path / "truth.jsonl")],
        cwd=ROOT, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    lines = sim.read_bytes().splitlines(keepends=True)
    rng = random.Random(5)
    for i in range(0, len(lines) - 40, 7):  # local swaps: most within the allowed lateness, some beyond it
        j = i + rng.randrange(40)
        lines[i], lines[j] = lines[j], lines[i]
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_bytes(b"".join(lines))
    outs = {}
    for native_on in (True, False):
        out = tmp_path / f"incidents-{native_on}.jsonl"
        dlq = tmp_path / f"dlq-{native_on}.jsonl"
        env = {**os.environ, "SAQSHY_NATIVE": "1" if native_on else "0"}
        subprocess.run(
            [*saqshy, "replay", "--rules", "rules/catalog", "--input", str(shuffled), "--out", str(out),
             "--dlq", str(dlq), "--no-progress"],
            cwd=ROOT, env=env, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        outs[native_on] = (out.read_bytes(), dlq.read_bytes() if dlq.exists() else b"")
    assert outs[True][0].count(b"\n") > 20, "the day should raise incidents"
    assert outs[True] == outs[False]


def test_the_rule_set_and_a_core_snapshot_survive_pickling(tmp_path: Path) -> None:
    """The Flink job pickles the compiled rule set (cloudpickle) and its keyed state: whatever of the core is
    compiled must round-trip (mypyc's frozen dataclasses, for one, do not unpickle)."""
    import pickle

    import cloudpickle

    from rules.core.engine import Correlator
    from rules.loader import load_rules
    from tests.support import CATALOG

    ruleset = pickle.loads(cloudpickle.dumps(load_rules([CATALOG])))
    core = Correlator(ruleset)
    assert pickle.loads(pickle.dumps(core.snapshot(), protocol=5)) == core.snapshot()
