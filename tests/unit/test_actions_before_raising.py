"""Actions that name an incident before it is raised (docs/semantics.md, section 5): several keep their own
canonical order whatever order they arrive in, through the rollbacks that late ones cause. Both streams
below were found by the property tests (tests/property/test_exact_kinds.py, `dispatch`) and minimised."""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pytest

from rules.loader import load_rules
from schemas import Incident
from streams.embedded import EmbeddedRunner

RULE = """\
id: p.calls
title: p.calls
category: test
select:
  call:
    type: call.112
correlate:
  kind: match
incident:
  title: '{call.data.category} at {call.data.address}'
  key: '{call.data.category}'
  merge_window: 1s
  location: first
  priority:
    base: 3
"""
SETTINGS = "timezone: Asia/Almaty\nmax_out_of_orderness: 10s\nupdate_every: 0s\n"


def _call(eid: str, sec: int, category: str) -> dict[str, object]:
    data = {"call_id": eid, "category": category, "address": "Abai 1"}
    return {"id": eid, "type": "call.112", "source": "test", "time": f"2026-01-05T12:00:0{sec}Z", "data": data}


def _close(eid: str, sec: int, incident: str) -> dict[str, object]:
    data = {"incident_id": incident, "action": "close"}
    return {"id": eid, "type": "dispatch.action", "source": "test", "time": f"2026-01-05T12:00:0{sec}Z", "data": data}


def _arrive(eid: str, sec: int, incident: str) -> dict[str, object]:
    data = {"unit_id": "u1", "unit_type": "police", "status": "on_scene", "assigned_incident": incident}
    return {
        "id": eid,
        "type": "unit.gps",
        "source": "test",
        "time": f"2026-01-05T12:00:0{sec}Z",
        "data": data,
        "location": {"lat": 43.2389, "lon": 76.9455},
    }


def _run(tmp_path: Path, events: list[dict[str, object]], settings: str = SETTINGS) -> dict[str, Incident]:
    root = tmp_path / "rules"
    root.mkdir(exist_ok=True)
    (root / "ruleset.yaml").write_text(settings)
    (root / "calls.yaml").write_text(RULE)
    got: list[Incident] = []
    EmbeddedRunner(load_rules([root])).run([orjson.dumps(e) for e in events], got.append)
    latest: dict[str, Incident] = {}
    for u in got:
        if u.id not in latest or u.version > latest[u.id].version:
            latest[u.id] = u
    return latest


def _view(latest: dict[str, Incident]) -> dict[str, tuple[str, str, list[str], list[str]]]:
    """What a consumer keeps: the last version of each incident, a retracted one removed."""
    return {
        i: (u.status.value, u.updated_time.isoformat(), list(u.event_ids), [a.unit_id for a in u.arrivals])
        for i, u in latest.items()
        if u.status.value != "retracted"
    }


def _sorted(events: list[dict[str, object]]) -> list[dict[str, object]]:
    return sorted(events, key=lambda e: (str(e["time"]), str(e["id"])))


def _gas_incident(tmp_path: Path, events: list[dict[str, object]]) -> str:
    """The id of the incident that the gas call raises (it hashes the opening evidence)."""
    latest = _run(tmp_path, [e for e in events if e["type"] == "call.112"])
    return next(i for i, u in latest.items() if u.title.startswith("gas "))


@pytest.mark.parametrize(
    "arrival",
    [
        # a late close (12:00:05) of an incident raised at 12:00:05, after an arrive of 12:00:04 that came
        # before the raising: the close must still come after the arrival
        ["7", "close", "w", "arrive", "9"],
        # the arrival comes last, after the raising, and rolls the rule back twice
        ["7", "close", "w", "9", "arrive"],
    ],
)
def test_waiting_actions_apply_in_canonical_order_through_rollbacks(tmp_path: Path, arrival: list[str]) -> None:
    calls = [_call("7", 5, "fire"), _call("w", 5, "gas"), _call("9", 4, "fire")]
    gas = _gas_incident(tmp_path, calls)
    by_name = {
        "7": calls[0],
        "w": calls[1],
        "9": calls[2],
        "close": _close("act-1", 5, gas),  # canonically before `w` (ids "act-1" < "w" at 12:00:05)
        "arrive": _arrive("act-2", 4, gas),
    }
    events = [by_name[n] for n in arrival]
    expected = _view(_run(tmp_path, _sorted(events)))
    assert expected[gas][0] == "closed" and expected[gas][3] == ["u1"]  # arrived, then closed at the raising
    assert _view(_run(tmp_path, events)) == expected


TIED_ORDERS = [list(order) for order in itertools.permutations(["close", "1b", "4"])]


@pytest.mark.parametrize("order", [*TIED_ORDERS, ["close", "1b", "close", "4"], ["4", "close", "1b", "4"]])
def test_a_close_at_the_raisings_time_but_after_it_lets_a_tied_call_in_first(tmp_path: Path, order: list[str]) -> None:
    """A close at the raising's time but canonically after both calls of that time (ids "1b" < "4" < "act-0"):
    the second call joins, then the close applies, as on the sorted stream, in any arrival order of the three,
    duplicates included. Applied right at the raising, a close that came first used to shut the incident
    before "4", which then opened a second one (found by the `dispatch` property test, with no
    out-of-orderness allowed)."""
    settings = SETTINGS.replace("10s", "0s")
    earlier = [_call(i, 0, "fire") for i in ("0", "1", "2")]  # an incident of 12:00:00 whose timers are pending
    tied = {"1b": _call("1b", 1, "gas"), "4": _call("4", 1, "gas")}
    calls = _run(tmp_path, _sorted([*earlier, *tied.values()]), settings)
    (second,) = [i for i, u in calls.items() if "1b" in u.event_ids]
    by_name = {**tied, "close": _close("act-0", 1, second)}
    expected = _view(_run(tmp_path, _sorted([*earlier, *by_name.values()]), settings))
    assert expected[second][0] == "closed" and expected[second][2] == ["1b", "4"]
    assert len(expected) == 2
    assert _view(_run(tmp_path, [*earlier, *(by_name[n] for n in order)], settings)) == expected
