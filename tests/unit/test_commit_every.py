"""The confluent worker's commit pacing: commits never take more than a third of the loop."""

from __future__ import annotations

import pytest

from streams.kafka.worker import commit_every


def test_cheap_commits_keep_the_configured_interval() -> None:
    assert commit_every(0.025, 0.008, backlog=False) == 0.025


def test_slow_commits_stretch_the_interval_to_twice_their_cost() -> None:
    # a loaded broker: 40 ms commits every 25 ms would block the worker more than all the time it has
    assert commit_every(0.025, 0.040, backlog=False) == pytest.approx(0.080)
    busy = 0.040 / (commit_every(0.025, 0.040, backlog=False) + 0.040)
    assert busy <= 1 / 3 + 1e-9


def test_a_backlog_commits_four_times_less_often() -> None:
    assert commit_every(0.025, 0.008, backlog=True) == pytest.approx(0.100)
    assert commit_every(0.025, 0.040, backlog=True) == pytest.approx(0.320)
