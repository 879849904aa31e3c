"""The workers keep the reference records bounded (rules.core.reference.ReferenceLog): many updates of the same
cameras and zones on the reference topics leave one record per key, and the incidents are the embedded runner's."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.kafka.worker import Worker, WorkerConfig
from streams.live import Output
from tests.golden.harness import CATALOG, scenarios
from tests.kafka.helpers import embedded_versions, isolated, produce
from tests.kafka_broker import unique

pytestmark = pytest.mark.kafka

UPDATES = 300  # per table: many versions of a few keys


def _updates() -> list[bytes]:
    """Camera and zone updates before the stream, times rising, the last of each key a deletion for one zone."""
    lines = []
    for n in range(UPDATES):
        at = f"2026-03-10T07:{n // 60:02d}:{n % 60:02d}Z"
        camera = {"camera_id": f"cam-{n % 4}", "location": {"lat": 43.26, "lon": 76.95 + n / 1e5}, "name": f"v{n}"}
        ring = [[76.9, 43.2], [76.91 + n / 1e5, 43.2], [76.91, 43.21], [76.9, 43.2]]
        zone = {
            "zone_id": f"z-{n % 2}",
            "name": f"v{n}",
            "kind": "school",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
        lines.append({"id": f"cam-u{n}", "type": "ref.camera", "source": "ref", "time": at, "data": camera})
        lines.append({"id": f"zone-u{n}", "type": "ref.zone", "source": "ref", "time": at, "data": zone})
    lines[-1]["deleted"] = True
    return [orjson.dumps(line) for line in lines]


def test_many_updates_of_few_keys_keep_one_record_per_key(kafka_bootstrap: str, tmp_path: Path) -> None:
    scenario = next(s for s in scenarios() if s.name == "anpr_route_disorder")  # an as-of hotlist lookup
    lines = [*_updates(), *scenario.lines]
    settings = isolated(kafka_bootstrap, partitions=1)
    produce(settings, [CATALOG], lines)
    outputs: list[Output] = []
    config = WorkerConfig(rules=(CATALOG,), group=unique("g"), bounded=True)
    worker = Worker(config, settings, outputs.append)
    worker.run(stop_after=120)

    assert len(worker.reference) == 4 + 2 + 1  # cameras, zones (one a deletion), the hotlist entry
    assert worker.metrics.reference_records._value.get() == 7
    got = [(u.id, u.version) for out in outputs for u in out.incidents]
    assert sorted(got) == sorted(embedded_versions([CATALOG], lines)) and got
