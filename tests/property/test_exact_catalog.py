"""The whole catalog on a short simulated stream: the embedded runner against the brute-force reference of
docs/semantics.md, on the stream sorted, as the simulator delivered it (a few events 1-20 s late, a few
copies), shuffled within max_out_of_orderness, and with times cut to 10 s (many ties) sorted and shuffled.

Reference data (zones, cameras, admin areas, the hotlist at the start) come first in every order, as a
compacted topic or a reference file would (docs/semantics.md, section 9).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import orjson
import pytest

from rules.loader import load_rules
from streams.sim import SimConfig, generate
from streams.sim.generator import SimResult
from tests.property.reference import (
    Result,
    consumer_view,
    diff_final,
    diff_histories,
    histories,
    records_from_lines,
    run_reference,
)
from tests.property.test_exact_kinds import run_engine, unexpected_letters
from tests.support import some

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "rules" / "catalog"
CITY = ROOT / "streams" / "sim" / "cities" / "alatau"
START = datetime.fromisoformat("2026-11-22T21:00:00+05:00")  # over 22:00, when the night rules start
BOUND = 30.0  # the catalog's max_out_of_orderness


@lru_cache(maxsize=8)
def simulated(seed: int, hours: float, scale: float) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """(reference lines, event lines as delivered) of a simulated stream."""
    lines = list(generate(SimConfig(CITY, hours, seed, START, rate_scale=scale), SimResult()))
    refs = tuple(line for line in lines if orjson.loads(line)["type"].startswith("ref."))
    events = tuple(line for line in lines if not orjson.loads(line)["type"].startswith("ref."))
    return refs, events


def _key(line: bytes) -> tuple[str, str]:
    body = orjson.loads(line)
    return (body["time"], body["id"])  # RFC 3339 in UTC with "Z": sorts as the instants do


def _ts(line: bytes) -> float:
    return datetime.fromisoformat(orjson.loads(line)["time"].replace("Z", "+00:00")).timestamp()


def sort_canonical(lines: Sequence[bytes]) -> list[bytes]:
    """Canonical order, each id once (the first copy)."""
    seen: dict[str, bytes] = {}
    for line in lines:
        seen.setdefault(orjson.loads(line)["id"], line)
    return sorted(seen.values(), key=lambda line: (_ts(line), orjson.loads(line)["id"]))


def shuffle_within(lines: Sequence[bytes], bound: float, seed: int) -> list[bytes]:
    """Each event delayed by [0, bound] seconds: none arrives after an event more than `bound` newer."""
    rng = random.Random(seed)
    keyed = [(_ts(line) + rng.uniform(0, bound), rng.random(), line) for line in lines]
    return [line for _, _, line in sorted(keyed)]


def coarse(lines: Sequence[bytes], step: int = 10) -> list[bytes]:
    """Times cut to `step` seconds (a minute-resolution source, say): equal times everywhere."""
    out = []
    for line in lines:
        body = orjson.loads(line)
        t = datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
        cut = datetime.fromtimestamp(int(t.timestamp()) // step * step, tz=t.tzinfo)
        body["time"] = cut.isoformat().replace("+00:00", "Z")
        out.append(orjson.dumps(body))
    return out


def reference(refs: Sequence[bytes], events: Sequence[bytes]) -> Result:
    return run_reference(load_rules([CATALOG]), records_from_lines([*refs, *events]))


def assert_sorted_equal(expected: Result, refs: Sequence[bytes], events: Sequence[bytes]) -> None:
    updates, letters = run_engine(load_rules([CATALOG]), [*refs, *sort_canonical(events)])
    problems = unexpected_letters(letters, set()) + diff_histories(expected.versions, histories(updates))
    assert not problems, f"sorted: {len(problems)} problems, the first 10:\n" + "\n".join(problems[:10])


def assert_final_equal(expected: Result, refs: Sequence[bytes], events: Sequence[bytes], how: str) -> None:
    updates, letters = run_engine(load_rules([CATALOG]), [*refs, *events])
    seen = Counter(orjson.loads(line)["id"] for line in events)
    problems = unexpected_letters(letters, {eid for eid, n in seen.items() if n > 1})
    problems += diff_final(expected.final, consumer_view(updates))
    assert not problems, f"{how}: {len(problems)} problems, the first 10:\n" + "\n".join(problems[:10])


def _check_stream(seed: int, hours: float, scale: float) -> None:
    refs, delivered = simulated(seed, hours, scale)
    expected = reference(refs, delivered)
    assert expected.final, "the simulated stream raises no incident at all: the test would prove nothing"
    assert_sorted_equal(expected, refs, delivered)
    assert_final_equal(expected, refs, delivered, "as delivered")
    assert_final_equal(expected, refs, shuffle_within(sort_canonical(delivered), BOUND, seed), "shuffled")
    ties = coarse(sort_canonical(delivered))
    expected = reference(refs, ties)
    assert_sorted_equal(expected, refs, ties)
    assert_final_equal(expected, refs, shuffle_within(ties, BOUND, seed + 1), "10 s times, shuffled")


def test_catalog_on_two_simulated_hours() -> None:
    _check_stream(seed=3, hours=2.0, scale=0.05)


@pytest.mark.slow
@pytest.mark.parametrize("seed", some([1, 2, 5]))
def test_catalog_on_six_simulated_hours(seed: int) -> None:
    _check_stream(seed=seed, hours=6.0, scale=0.2)
