"""History on real data: San Francisco Fire Department calls (../shared/data), checked against brute force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rules.context import ContextCorrelator
from rules.context.history import normalise_address
from rules.geo import distance_m
from rules.records import record_from_model
from streams.importers.sf_fire import import_sf_fire
from tests.context.support import call_rules, feed

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
SF_CALLS = SHARED / "data" / "calls" / "sf_fire_calls_for_service_dec2016.csv"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not SF_CALLS.exists(), reason=f"real data not present: {SF_CALLS}"),
]


def test_address_and_area_history_match_brute_force(tmp_path: Path) -> None:
    imported = import_sf_fire(SF_CALLS)
    events: list[Any] = sorted(imported.events, key=lambda e: (e.time, e.id))
    records: list[Any] = [record_from_model(e) for e in events]
    core = ContextCorrelator(call_rules(tmp_path))
    out = feed(core, records)
    first: dict[str, Any] = {}
    for inc in out:
        first.setdefault(inc.id, inc)
    calls = [e for e in events if e.type == "call.112"]
    assert len(first) == len(calls) > 1000

    by_event = {inc.event_ids[0]: inc for inc in first.values()}
    # brute force over plain tuples: (time, normalised address, lat, lon, incident id) of every earlier call
    seen: list[tuple[float, str | None, float, float, str]] = []
    checked_addr = checked_area = repeats = 0
    for ev in calls:
        inc = by_event[ev.id]
        assert inc.context is not None and ev.location is not None
        hist = {h.by: h for h in inc.context.history}
        t, lat, lon = ev.time.timestamp(), ev.location.lat, ev.location.lon
        recent = [p for p in seen if t - p[0] <= 30 * 86_400]  # the data spans 8 days: all of them
        addr = normalise_address(ev.data.address) if ev.data.address else None
        if addr:
            same = [p[4] for p in recent if p[1] == addr]
            assert hist["address"].count == len(same), ev.data.address
            assert hist["address"].last_ids == same[::-1][:5]
            checked_addr += 1
            repeats += bool(same)
        # a cheap box first (200 m is under 0.0025 degrees here), then the WGS84 distance of the rules
        near = [
            p
            for p in recent
            if abs(p[2] - lat) < 0.0025 and abs(p[3] - lon) < 0.0035 and distance_m(lat, lon, p[2], p[3]) <= 200
        ]
        assert hist["area"].count == len(near)
        checked_area += 1
        seen.append((t, addr, lat, lon, inc.id))
    assert checked_addr > 1000 and checked_area == len(calls)
    assert repeats > 50, "the real data has repeat addresses; the test must exercise them"
    # SF calls carry no phone numbers, so no phone history appears
    assert all(h.by != "phone" for inc in first.values() for h in inc.context.history)
