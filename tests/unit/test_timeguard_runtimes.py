"""The time guard in the runtimes: one event dated 2099 in the middle of a simulated day changes nothing but
its own dead letter (embedded runner, live partition with and without a clock, across a snapshot)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from rules.loader import RuleSet, load_rules
from schemas import DeadLetter, Incident
from streams.dlq import MemoryDeadLetters
from streams.embedded import EmbeddedRunner
from streams.live import Output, PartitionRuntime
from streams.sim import SimConfig, simulate
from tests.support import CATALOG

CITY = Path(__file__).resolve().parents[2] / "streams" / "sim" / "cities" / "alatau"
START = datetime(2026, 3, 10, 6, tzinfo=UTC)
BAD_ID = "bad-clock-2099"


@pytest.fixture
def ruleset() -> RuleSet:
    return load_rules([CATALOG])


def fresh() -> RuleSet:
    """A rule set of its own: a loaded one carries the reference tables its runtime applies."""
    return load_rules([CATALOG])


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    out = tmp_path_factory.mktemp("sim") / "events.jsonl"
    simulate(SimConfig(CITY, 1.0, 3, START, rate_scale=0.3), out, out.with_suffix(".truth"))
    return [line for line in out.read_bytes().splitlines() if line.strip()]


def with_2099(lines: list[bytes]) -> tuple[list[bytes], int]:
    """The stream with a copy of a call from its middle, dated 2099, right after it."""
    at = next(i for i in range(len(lines) // 2, len(lines)) if b'"call.112"' in lines[i])
    doc = orjson.loads(lines[at])
    doc["id"], doc["time"] = BAD_ID, "2099-01-01T00:00:00Z"
    return [*lines[: at + 1], orjson.dumps(doc), *lines[at + 1 :]], at + 2


def updates(incidents: list[Incident]) -> list[dict[str, Any]]:
    return [u.model_dump(mode="json") for u in incidents]


def differences(got: list[Incident], expected: list[Incident]) -> list[str]:
    out = [f"{len(got)} updates, expected {len(expected)}"] if len(got) != len(expected) else []
    for a, b in zip(updates(got), updates(expected), strict=False):
        if a != b:
            out.append(f"{a['id']} v{a['version']}: " + str({k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}))
    return out


def embedded(ruleset: RuleSet, lines: list[bytes]) -> tuple[list[Incident], list[DeadLetter]]:
    dead = MemoryDeadLetters()
    out: list[Incident] = []
    EmbeddedRunner(ruleset, dead, source_name="sim").run(lines, out.append)
    return out, dead.letters


def test_a_2099_event_in_the_middle_of_a_day_changes_nothing_else(ruleset: RuleSet, lines: list[bytes]) -> None:
    clean, clean_dead = embedded(ruleset, lines)
    bad_lines, bad_line = with_2099(lines)
    got, dead = embedded(fresh(), bad_lines)
    assert len(clean) > 20
    assert differences(got, clean) == []  # the same incidents, the same versions, in the same order
    future = [d for d in dead if d.stage.value == "future"]
    assert [(d.event_id, d.source.line) for d in future] == [(BAD_ID, bad_line)]
    assert future[0].reason.endswith("300 later events were more than 300.0s before it")
    assert Counter(d.stage.value for d in dead if d not in future) == Counter(d.stage.value for d in clean_dead)


def test_live_partition_with_a_clock_rejects_it_at_once(ruleset: RuleSet, lines: list[bytes]) -> None:
    bad_lines, _ = with_2099(lines)
    now = [START.timestamp()]

    def clock() -> float:
        return now[0]

    runtime = PartitionRuntime(ruleset, clock=clock)
    out: list[Incident] = []
    letters: list[DeadLetter] = []
    for offset, raw in enumerate(bad_lines):
        t = orjson.loads(raw).get("time", "")
        if t and not t.startswith("2099"):
            now[0] = max(now[0], datetime.fromisoformat(t).timestamp() + 2)  # the wall clock runs with the stream
        result = runtime.feed(raw, "events", 3, offset)
        out += result.incidents
        letters += result.dead_letters
        if orjson.loads(raw).get("id") == BAD_ID:
            assert [(d.stage.value, d.event_id, d.source.offset) for d in result.dead_letters] == [
                ("future", BAD_ID, offset)
            ]
            assert result.dead_letters[0].reason.endswith("ahead of the runtime's clock, more than max_future (300.0s)")
    out += runtime.finish().incidents
    assert runtime.guard is not None and not runtime.guard.held
    assert differences(out, embedded(fresh(), lines)[0]) == []
    old = orjson.loads(lines[-1])
    old["id"], old["time"] = "a-month-old", "2026-02-10T06:00:00Z"
    stale = runtime.feed(orjson.dumps(old), "events", 3, len(bad_lines))
    assert [d.stage.value for d in stale.dead_letters] == ["stale"]


def _drive(runtime: PartitionRuntime, lines: list[bytes], first: int = 0) -> Output:
    out = Output()
    for offset, raw in enumerate(lines, first):
        result = runtime.feed(raw, "events", 0, offset)
        out.incidents += result.incidents
        out.dead_letters += result.dead_letters
    return out


def test_live_partition_keeps_held_events_across_a_snapshot(ruleset: RuleSet, lines: list[bytes]) -> None:
    bad_lines, bad_line = with_2099(lines)
    whole = PartitionRuntime(ruleset)  # no clock: the partition's stream is the reference
    expected = _drive(whole, bad_lines)
    end = whole.finish()
    expected.incidents += end.incidents
    expected.dead_letters += end.dead_letters

    cut = bad_line + 10  # the 2099 event is held here
    first = PartitionRuntime(fresh())
    got = _drive(first, bad_lines[:cut])
    assert first.guard is not None and [h.eid for h in first.guard.held] == [BAD_ID]
    data = first.snapshot({"events:0": cut})
    assert orjson.loads(data)["guard"]["held"][0][1] == BAD_ID

    second = PartitionRuntime(fresh())
    assert second.restore(data) == {"events:0": cut}
    assert second.guard is not None and second.guard.newest == first.guard.newest
    second = second.with_rules(fresh())  # a rule reload keeps them too
    more = _drive(second, bad_lines[cut:], cut)
    end = second.finish()
    got.incidents += more.incidents + end.incidents
    got.dead_letters += more.dead_letters + end.dead_letters
    assert differences(got.incidents, expected.incidents) == []
    assert [(d.stage, d.event_id) for d in got.dead_letters] == [(d.stage, d.event_id) for d in expected.dead_letters]
    assert [d.event_id for d in expected.dead_letters if d.stage.value == "future"] == [BAD_ID]


def test_a_snapshot_from_before_the_guard_restores(ruleset: RuleSet, lines: list[bytes]) -> None:
    runtime = PartitionRuntime(ruleset)
    _drive(runtime, lines[:200])
    doc = orjson.loads(runtime.snapshot({}))
    del doc["guard"]
    restored = PartitionRuntime(fresh())
    restored.restore(orjson.dumps(doc))
    assert restored.high == runtime.high and restored.guard is not None and restored.guard.newest == float("-inf")


def test_without_the_guard_the_2099_event_blinds_the_stream(ruleset: RuleSet, lines: list[bytes]) -> None:
    """What the guard prevents: the Flink job turns it off in the keyed core, having judged times before."""
    bad_lines, bad_line = with_2099(lines)
    runtime = PartitionRuntime(ruleset, guard=False)
    letters = _drive(runtime, bad_lines).dead_letters
    late = [d for d in letters if d.stage.value == "late" and d.source.offset > bad_line]
    assert len(late) > 0.3 * (len(bad_lines) - bad_line - 1)  # those that a rule selects
