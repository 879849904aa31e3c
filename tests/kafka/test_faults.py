"""Bad input never stops the worker and is never lost: each reject reaches the dead-letter topic with its
original bytes, where it came from and why; the good events around it still make their incident."""

from __future__ import annotations

import orjson
import pytest
from confluent_kafka import Producer

from schemas import DeadLetter, Incident
from schemas.topics import DEAD_LETTERS, EVENT_TOPICS, INCIDENTS
from streams.dlq import redact
from streams.kafka.topics import UNSORTED
from tests.golden.harness import CATALOG, scenarios
from tests.kafka.helpers import isolated, produce, read_topic, run_bounded

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("engine", ["faust", "confluent"])
def test_bad_messages_go_to_the_dead_letter_topic_with_their_position(kafka_bootstrap: str, engine: str) -> None:
    settings = isolated(kafka_bootstrap, partitions=1)
    calls = settings.topic(EVENT_TOPICS["call.112"])
    call = orjson.loads(next(l for l in scenarios()[1].lines if b'"call.112"' in l))
    bad = {
        "decode": b"\xff\xfe{not json",
        "validate": orjson.dumps({**call, "id": "bad-1", "data": {"category": 7}}),
        "unknown_type": orjson.dumps({**call, "id": "bad-2", "type": "call.999"}),
        "oversize": orjson.dumps({**call, "id": "bad-3", "data": {**call["data"], "note": "x" * (2 << 20)}}),
    }
    producer = Producer(settings.producer_config())
    for raw in bad.values():
        producer.produce(calls, raw)
    producer.produce(settings.topic(UNSORTED), b'{"half a line')
    assert producer.flush(30) == 0
    # the golden fire scenario after the garbage: it must still be found
    fire = next(s for s in scenarios() if s.name == "fire_camera_and_calls")
    produce(settings, [CATALOG], fire.lines)
    run_bounded(settings, [CATALOG], engine=engine)

    letters = [DeadLetter.model_validate_json(v) for v in read_topic(settings, DEAD_LETTERS)]
    by_stage = {d.stage.value: d for d in letters if d.source.topic == calls}
    assert sorted(by_stage) == ["decode", "oversize", "unknown_type", "validate"]
    unsorted = [d for d in letters if d.source.topic == settings.topic(UNSORTED)]
    assert [(d.stage.value, d.original) for d in unsorted] == [("decode", '{"half a line')]
    for stage, raw in bad.items():
        letter = by_stage[stage]
        assert letter.source.topic == calls and letter.source.partition == 0 and letter.source.offset is not None
        assert letter.reason
        expected = raw[:4096] if stage == "oversize" else raw
        assert letter.original_bytes() == redact(expected)  # whole, but for the caller's phone (pseudonymised)
    assert "2097" in by_stage["oversize"].reason or "bytes" in by_stage["oversize"].reason
    assert "call.999" in by_stage["unknown_type"].reason
    assert call["data"]["phone"] not in by_stage["unknown_type"].original
    incidents = {Incident.model_validate_json(v).rule_id for v in read_topic(settings, INCIDENTS)}
    assert "fire.camera_and_call" in incidents
