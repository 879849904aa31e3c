"""Dedup keeps an event id as long as a rule that selects its type can still use it, not as long as the
longest rule of the set: a 24-hour window on accident records must not keep a day of every other id."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from rules.core.engine import Correlator
from rules.loader import load_rules
from streams.dlq import MemoryDeadLetters
from streams.embedded import EmbeddedRunner
from tests.support import catalog_subset

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _line(eid: str, etype: str, t: datetime, data: Mapping[str, object]) -> bytes:
    doc = {
        "id": eid,
        "type": etype,
        "source": f"test/{etype}",
        "time": t.isoformat().replace("+00:00", "Z"),
        "location": {"lat": 43.24, "lon": 76.9},
        "data": data,
    }
    return orjson.dumps(doc)


def test_ids_are_kept_per_type_as_long_as_a_rule_of_that_type_can_use_them(tmp_path: Path) -> None:
    root = catalog_subset(tmp_path, ["traffic/road_accident_cluster.yaml", "calls/mass_incident.yaml"])
    runner = EmbeddedRunner(load_rules([root]), MemoryDeadLetters())
    core = runner.core
    assert isinstance(core, Correlator)
    accident = {"record_id": "r-1", "severity": "property_damage", "road": "Abai Avenue"}
    lines = [_line("acc-1", "accident.record", T0, accident)]
    for i in range(240):  # a call every 30 s for two hours
        call = {"call_id": f"c{i}", "category": "medical"}
        lines.append(_line(f"call-{i}", "call.112", T0 + timedelta(seconds=30 * i), call))
    for n, line in enumerate(lines, 1):
        runner.feed(line, n)
    kept = set(core._seen)
    assert "acc-1" in kept  # the 24-hour window can still use it
    call_reach = core._dedup_of["call.112"]
    assert call_reach < 3600 < core._dedup_of["accident.record"]
    newest = T0 + timedelta(seconds=30 * 239)
    for i in range(240):
        age = (newest - (T0 + timedelta(seconds=30 * i))).total_seconds()
        if age > call_reach + 300 + 30:  # past its horizon by more than a sweep (and the watermark's lag)
            assert f"call-{i}" not in kept
        elif age < call_reach - 60:
            assert f"call-{i}" in kept
    # a copy of a call inside its horizon is still a duplicate
    before = core.stats.duplicates
    runner.feed(lines[-1], len(lines) + 1)
    assert core.stats.duplicates == before + 1
    # and the ids survive a snapshot with their horizons
    data = core.snapshot()
    again = EmbeddedRunner(load_rules([root]), MemoryDeadLetters())
    assert isinstance(again.core, Correlator)
    again.core.restore(data)
    assert sorted(again.core.seen_entries()) == sorted(core.seen_entries())
