"""Window and absence semantics of the core against brute-force references (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.core.engine import Correlator
from rules.loader import RuleSet
from tests.support import drive, event, ruleset_from

THRESHOLD = """\
id: p.threshold
title: t
category: test
select:
  call: {{type: call.112}}
correlate:
  kind: threshold
  count: {k}
  window: {w}s
incident:
  title: t
  priority: 3
"""

ABSENCE = """\
id: p.absence
title: a
category: test
select:
  press: {{type: sos.press}}
  arrival: {{type: unit.gps}}
correlate:
  kind: absence
  after: press
  expect: arrival
  timeout: {t}s
incident:
  title: a
  key: "{{press.id}}"
  priority: 2
"""

_CACHE: dict[str, RuleSet] = {}


def _ruleset(text: str) -> RuleSet:
    if text not in _CACHE:
        _CACHE[text] = ruleset_from(Path(tempfile.mkdtemp()), text)
    return _CACHE[text]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    times=st.lists(st.integers(0, 3600), min_size=1, max_size=40, unique=True),
    k=st.integers(1, 5),
    w=st.integers(1, 900),
)
def test_threshold_count_matches_brute_force(times: list[int], k: int, w: int) -> None:
    rs = _ruleset(THRESHOLD.format(k=k, w=w))
    times = sorted(times)
    core = Correlator(rs)
    drive(core, [event("call.112", t, {"call_id": f"c{t}", "category": "crime"}, eid=f"c{t}") for t in times])
    expected = sum(1 for i, t in enumerate(times) if sum(1 for u in times[: i + 1] if u >= t - w) >= k)
    assert core.matches().get("p.threshold", 0) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    presses=st.lists(st.integers(0, 3000), min_size=1, max_size=15, unique=True),
    arrivals=st.lists(st.integers(0, 3600), max_size=15, unique=True),
    timeout=st.integers(1, 900),
    jitter=st.lists(st.floats(0, 29.0), min_size=30, max_size=30),
)
def test_absence_matches_brute_force_under_bounded_disorder(
    presses: list[int], arrivals: list[int], timeout: int, jitter: list[float]
) -> None:
    rs = _ruleset(ABSENCE.format(t=timeout))
    evs = [event("sos.press", p + 0.5, {"device_id": f"d{p}"}, eid=f"p{p}") for p in presses]
    evs += [
        event("unit.gps", a, {"unit_id": "u", "unit_type": "police", "status": "on_scene"}, eid=f"a{a}")
        for a in arrivals
    ]
    # deliver in the order of time + jitter (< 30 s): disorder bounded by the watermark's 30 s
    order = sorted(range(len(evs)), key=lambda i: (evs[i].time.timestamp() + jitter[i % len(jitter)], i))
    updates = drive(Correlator(rs), [evs[i] for i in order], ooo=30)
    fired = {u.key for u in updates}
    expected = {f"p{p}" for p in presses if not any(p + 0.5 <= a <= p + 0.5 + timeout for a in arrivals)}
    assert fired == expected
