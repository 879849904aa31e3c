"""Helpers for tests: rule sets from YAML text, events from short descriptions, a core driver."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson

from rules.core.engine import Correlator
from rules.loader import RuleSet, load_rules
from rules.records import decode_record
from schemas import Incident, fold_latest

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
CATALOG = Path(__file__).resolve().parents[1] / "rules" / "catalog"
_T = TypeVar("_T")

# The long repeated checks (more seeds, more rounds of the same fault) run in full by default and with
# `make test-full`; `make test` runs a share of them (SAQSHY_TEST_SCALE=0.4) to keep CI within its budget.
TEST_SCALE = float(os.environ.get("SAQSHY_TEST_SCALE", "1"))


def scaled(n: int) -> int:
    """n repetitions at the session's scale, at least one."""
    return max(1, round(n * TEST_SCALE))


def some(values: Sequence[_T]) -> list[_T]:
    """The first values of a parametrization at the session's scale (at least one)."""
    return list(values[: scaled(len(values))])


def ruleset_from(tmp: Path, *rules: str, settings: str = "timezone: Asia/Almaty\n") -> RuleSet:
    """Write rule texts (dedented) into tmp and load them like a rules directory."""
    d = tmp / "rules"
    d.mkdir(exist_ok=True)
    (d / "ruleset.yaml").write_text(settings)
    for i, text in enumerate(rules):
        (d / f"rule{i}.yaml").write_text(textwrap.dedent(text))
    return load_rules([d])


def event(
    etype: str,
    at: float,
    data: dict[str, Any],
    loc: tuple[float, float] | None = None,
    eid: str | None = None,
    n: list[int] = [0],  # noqa: B006 - a counter shared on purpose, for unique default ids
) -> Any:
    """A runtime record (as the runners decode them) at T0 + `at` seconds."""
    n[0] += 1
    body: dict[str, Any] = {
        "id": eid or f"e{n[0]}",
        "type": etype,
        "source": "test",
        "time": (T0 + timedelta(seconds=at)).isoformat(),
        "data": data,
    }
    if loc is not None:
        body["location"] = {"lat": loc[0], "lon": loc[1]}
    return decode_record(orjson.dumps(body))


def drive(core: Correlator, events: Iterable[Any], ooo: float = 0.0, flush: bool = True) -> list[Incident]:
    """Feed events in the given order with the watermark trailing the highest time by `ooo`."""
    out: list[Incident] = []
    high = float("-inf")
    for ev in events:
        ts = ev.time.timestamp()
        if ts > high:
            high = ts
            out += core.on_watermark(high - ooo)
        out += core.on_event(ev)
    if flush:
        out += core.on_watermark(float("inf"))
    return out


def latest(updates: Iterable[Incident]) -> dict[str, Incident]:
    out: dict[str, Incident] = {}
    for u in updates:
        fold_latest(out, u)
    return out


SPATIAL = [  # the catalog's rules that run on spatial cells
    "fire",
    "traffic/accident_confirmed.yaml",
    "traffic/mass_casualty.yaml",
    "sos",
    "calls/mass_incident.yaml",
    "calls/gas_leak_cluster.yaml",
    "video/abandoned_object_crowded.yaml",
    "video/fall_medical.yaml",
    "video/fight_with_call.yaml",
    "video/crowd_in_zone.yaml",
    "video/night_intrusion_critical.yaml",
]


def catalog_subset(tmp: Path, parts: Iterable[str]) -> Path:
    """A rules directory with some of the catalog's rule files (dirs or files), its settings and playbooks."""
    import shutil

    root = tmp / "catalog-subset"
    root.mkdir()
    shutil.copy(CATALOG / "ruleset.yaml", root / "ruleset.yaml")
    shutil.copytree(CATALOG / "playbooks", root / "playbooks")
    for part in parts:
        src = CATALOG / part
        if src.is_dir():
            shutil.copytree(src, root / part)
        else:
            (root / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, root / part)
    return root


def city_hour(tmp_path: Path) -> tuple[Path, list[bytes]]:
    """The catalog's spatial rules and an hour of the simulated city (seed 3, as tests/flink/test_timeguard.py)."""
    from streams.sim import SimConfig, simulate
    from tests.unit.test_timeguard_runtimes import CITY, START

    root = catalog_subset(tmp_path, SPATIAL)
    sim = tmp_path / "sim.jsonl"
    simulate(SimConfig(CITY, 1.0, 3, START, rate_scale=0.3), sim, tmp_path / "truth.jsonl")
    return root, [line for line in sim.read_bytes().splitlines() if line.strip()]
