"""`saqshy produce` delivers a backlog in slices of event time (streams/kafka/produce.py, order_slice): each
slice is on the broker before the next is sent, so the topics' logs never drift apart by more than a slice and a
worker's event-time merge does not see a quiet topic's events minutes late. The chaos suite's network scenario is
the end-to-end check (a slowed link, no late dead letters, every version equal); this one counts the barriers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from rules.loader import load_rules
from schemas.topics import EVENT_TOPICS
from streams.kafka.produce import EventProducer
from streams.partitioning import plan_for
from tests.kafka.helpers import isolated, read_topic
from tests.support import CATALOG

pytestmark = pytest.mark.kafka

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def _call(i: int, at: timedelta) -> bytes:
    return orjson.dumps(
        {
            "id": f"call-{i}",
            "type": "call.112",
            "source": "cad",
            "time": (T0 + at).isoformat(),
            "location": {"lat": 43.24, "lon": 76.95},
            "data": {"call_id": f"c-{i}", "category": "crime"},
        }
    )


@pytest.mark.parametrize(("order_slice", "barriers"), [(30.0, 7), (None, 0)])
def test_a_backlog_goes_out_in_slices_of_event_time(
    kafka_bootstrap: str, order_slice: float | None, barriers: int
) -> None:
    settings = isolated(kafka_bootstrap, partitions=1)
    lines = [_call(i, timedelta(seconds=10 * i)) for i in range(30)]  # 0..290 s: slices begin at 0, 40, 80 .. 280 s
    producer = EventProducer(settings, plan_for(load_rules([CATALOG]), "single"), order_slice=order_slice)
    stats = producer.run(lines)
    assert stats.lines == 30 and stats.failed == 0
    assert producer.barriers == barriers
    assert len(read_topic(settings, EVENT_TOPICS["call.112"])) == 30
