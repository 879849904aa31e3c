"""The partition key of the event topics: part of their contract, like the schemas (infra/topics.yaml: event
topics are co-partitioned, the same key and the same partitioner). Every producer of events (`saqshy produce`,
the console, the detectors) keys them this way, so partition p of every event topic holds the events of the
same cells and one correlator per partition sees them all. streams/partitioning.py derives the plan from the
rules (the replication radius; which rule sets a spatial plan can run).

  single   one key for everything.
  spatial  the key is a grid cell at least as wide as the replication radius; each event is also copied,
           marked as a replica (header saqshy-replica: 1), into every neighbouring cell within that radius;
           unit GPS fixes are also copied, marked as observed (header saqshy-observed: 1), to every other
           partition, for the enricher alone (the nearest free unit may be anywhere in the city).

The partition of a key is Kafka's default partitioner (murmur2 of the key bytes, as the Java client, librdkafka's
`murmur2_random` and aiokafka compute it): `key_partition`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Mode = Literal["single", "spatial"]
METRES_PER_DEGREE = 111_320.0
SINGLE_KEY = b"all"
REPLICA_HEADER = "saqshy-replica"
OBSERVED_HEADER = "saqshy-observed"
# Event types that a spatial plan copies to every partition as observed: the unit board's fixes.
OBSERVED_TYPES = frozenset({"unit.gps"})
PARTITIONER = "murmur2_random"  # librdkafka's name for the Java client's default (keyed: murmur2)


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    mode: Mode
    cell_m: float = 0.0
    radius_m: float = 0.0  # replication radius: the largest within + merge radius of the rules

    def _row(self, lat: float) -> int:
        return math.floor(lat * METRES_PER_DEGREE / self.cell_m)

    def _col(self, row: int, lon: float) -> int:
        # columns are as wide in metres as rows are tall, at the row's middle latitude
        dlat = self.cell_m / METRES_PER_DEGREE
        dlon = dlat / max(math.cos(math.radians((row + 0.5) * dlat)), 1e-6)
        return math.floor(lon / dlon)

    def cell(self, lat: float, lon: float) -> tuple[int, int]:
        row = self._row(lat)
        return row, self._col(row, lon)

    def key(self, lat: float | None, lon: float | None, fallback: str) -> bytes:
        """The partition key of an event; events without a location spread by `fallback` (their id)."""
        if self.mode == "single":
            return SINGLE_KEY
        if lat is None or lon is None:
            return fallback.encode()
        row, col = self.cell(lat, lon)
        return f"{row}:{col}".encode()

    def replica_keys(self, lat: float | None, lon: float | None) -> list[bytes]:
        """Keys of the neighbouring cells within radius_m of the point (not its own cell)."""
        if self.mode == "single" or lat is None or lon is None or self.radius_m <= 0:
            return []
        own = self.cell(lat, lon)
        # the circle's bounding box (1% wider for the curvature), cell by cell
        dlat = self.radius_m * 1.01 / METRES_PER_DEGREE
        dlon = dlat / max(math.cos(math.radians(abs(lat) + dlat)), 1e-6)
        cells = {
            (row, col)
            for row in range(self._row(lat - dlat), self._row(lat + dlat) + 1)
            for col in range(self._col(row, lon - dlon), self._col(row, lon + dlon) + 1)
        }
        cells.discard(own)
        return [f"{r}:{c}".encode() for r, c in sorted(cells)]


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils.murmur2), as an unsigned 32-bit value."""
    m = 0x5BD1E995
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    whole = len(data) // 4 * 4
    for i in range(0, whole, 4):
        k = (int.from_bytes(data[i : i + 4], "little") * m) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    rest = data[whole:]
    if len(rest) >= 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if rest:
        h = ((h ^ rest[0]) * m) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


def key_partition(key: bytes, partitions: int) -> int:
    """The partition of a keyed record under Kafka's default partitioner."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
