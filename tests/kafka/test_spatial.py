"""Spatial partitioning through a real broker: a fire incident whose camera and call lie in different grid
cells (so on different partitions) is still found exactly once, the same as the embedded runner finds it."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from rules.loader import load_rules
from saqshy.commands.kafka_cmd import live_context
from schemas import Incident
from schemas.topics import INCIDENTS
from streams.embedded import EmbeddedRunner
from streams.kafka.produce import EventProducer
from streams.partitioning import METRES_PER_DEGREE, plan_for
from tests.golden.harness import scenarios
from tests.kafka.helpers import isolated, read_topic, run_bounded
from tests.support import TEST_SCALE, catalog_subset, city_hour

pytestmark = pytest.mark.kafka


def _straddle(lines: list[bytes], cell_m: float) -> list[bytes]:
    """Shift the scenario north so the camera (v-1) and the first call (c-1) lie either side of a cell row border."""
    docs = [orjson.loads(line) for line in lines]
    lat = {d["id"]: d["location"]["lat"] for d in docs if d.get("location")}
    mid = (lat["v-1"] + lat["c-1"]) / 2
    border = (int(mid * METRES_PER_DEGREE / cell_m) + 1) * cell_m / METRES_PER_DEGREE
    for d in docs:
        if d.get("location"):
            d["location"]["lat"] += border - mid
    return [orjson.dumps(d) for d in docs]


def _check(kafka_bootstrap: str, tmp_path: Path, keep: set[str] | None, engine: str = "confluent") -> None:
    root = catalog_subset(tmp_path, ["fire"])
    ruleset = load_rules([root])
    plan = plan_for(ruleset, "spatial")
    fire = next(s for s in scenarios() if s.name == "fire_camera_and_calls")
    lines = _straddle(fire.lines, plan.cell_m)
    if keep is not None:
        lines = [line for line in lines if orjson.loads(line)["id"] in keep]
    docs = {orjson.loads(line)["id"]: orjson.loads(line) for line in lines}
    keys = {eid: plan.key(d["location"]["lat"], d["location"]["lon"], eid) for eid, d in docs.items()}
    assert keys["v-1"] != keys["c-1"], "the scenario must straddle two cells"

    settings = isolated(kafka_bootstrap, partitions=4)
    producer = EventProducer(settings, plan)
    stats = producer.run(lines)
    assert stats.replicas > 0
    run_bounded(settings, [root], mode="spatial", engine=engine)
    got = [Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS)]

    expected: list[Incident] = []
    EmbeddedRunner(load_rules([root])).run(lines, expected.append)
    assert expected and {u.rule_id for u in expected} == {"fire.camera_and_call"}
    assert sorted((u.id, u.version, tuple(u.event_ids)) for u in got) == sorted(
        (u.id, u.version, tuple(u.event_ids)) for u in expected
    )


@pytest.mark.parametrize("engine", ["faust", "confluent"])
def test_a_match_across_a_cell_border_is_found_once(kafka_bootstrap: str, tmp_path: Path, engine: str) -> None:
    """The camera in one cell, the call in the next: the anchor's partition raises the incident, once."""
    _check(kafka_bootstrap, tmp_path, {"v-1", "v-2", "c-1", "c-2"}, engine)


def test_later_matches_merge_into_one_incident_across_cells(kafka_bootstrap: str, tmp_path: Path) -> None:
    """The second camera and call lie in the other cell: its partition keeps a shadow of the incident, so
    they merge into it, and the owner emits the new versions."""
    _check(kafka_bootstrap, tmp_path, None)


@pytest.mark.parametrize("engine", ["confluent", "faust"])
def test_spatial_partitions_enrich_as_the_embedded_runner(kafka_bootstrap: str, tmp_path: Path, engine: str) -> None:
    """An hour of the simulated city on four spatial partitions with enrichment: the same updates, whole, as the
    embedded runner, nearest units included: unit fixes reach every partition (observed copies), and units are
    judged as of each version's time however far the partitions' timers lag."""
    if engine == "faust" and TEST_SCALE < 1:  # a minute on Faust; its header reading is tested below, fast
        pytest.skip("runs in full only (make test-full)")
    root, lines = city_hour(tmp_path)
    context = live_context(True, None, None, None)
    expected: list[Incident] = []
    EmbeddedRunner(load_rules([root]), context=context).run(lines, expected.append)
    assert any(u.context and u.context.units for u in expected)

    settings = isolated(kafka_bootstrap, partitions=4)
    stats = EventProducer(settings, plan_for(load_rules([root]), "spatial")).run(lines)
    assert stats.observed > 0
    run_bounded(settings, [root], mode="spatial", engine=engine, context=context)
    got = [Incident.model_validate_json(v) for v in read_topic(settings, INCIDENTS)]
    assert sorted(u.model_dump_json() for u in got) == sorted(u.model_dump_json() for u in expected)


def test_the_faust_engine_reads_a_copys_role_from_its_headers() -> None:
    """What the Faust engine hands its partition runtime for each header (the confluent worker's test is the
    broker test above, run in every tier)."""
    from streams.kafka.faust_worker import _roles

    assert _roles(None) == (False, False)
    assert _roles([("ce_id", b"x")]) == (False, False)
    assert _roles([("saqshy-replica", b"1")]) == (True, False)
    assert _roles({"saqshy-observed": b"1"}) == (False, True)
    assert _roles([("saqshy-observed", b"0")]) == (False, False)
