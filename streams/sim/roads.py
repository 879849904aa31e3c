"""The city's road network: a grid of avenues and streets, crossings as nodes, one edge per block.

Generated from city.yaml alone (the street lines, which of them are arterial, which are one-way), so the
stored roads.geojson is a pure function of the config; `build_roads` makes it, `RoadGraph` routes on it
(Dijkstra by travel time, standard library heapq: the graph has ~150 nodes).
"""

from __future__ import annotations

import heapq
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rules.geo import distance_m

ARTERIAL_SUFFIXES = (" ave", " blvd")


@dataclass(frozen=True)
class Road:
    """One block of one street, between two neighbouring crossings; a one-way road runs from `a` to `b`."""

    road_id: str
    name: str
    road_class: str  # arterial | street
    speed_kmh: float
    oneway: bool
    a: str  # node ids
    b: str
    coords: tuple[tuple[float, float], tuple[float, float]]  # ((lat, lon) of a, (lat, lon) of b)
    length_m: float


@dataclass(frozen=True)
class Hop:
    """One way to drive one road: from node `u` to node `v`."""

    road: Road
    u: str
    v: str
    seconds: float  # at the speed limit


def _crossing_id(i: int, j: int) -> str:
    return f"x{i:02d}-{j:02d}"


def build_roads(cfg: dict[str, Any]) -> list[Road]:
    """The network of city.yaml's `streets` and `roads` sections: avenues (constant latitude, south to
    north) cross streets (constant longitude, west to east); each block between two crossings is a road."""
    avenues = cfg["streets"]["avenues"]
    streets = cfg["streets"]["streets"]
    rc = cfg.get("roads", {})
    speeds = {"arterial": float(rc.get("arterial_kmh", 60)), "street": float(rc.get("street_kmh", 40))}
    oneway: dict[str, str] = dict(rc.get("oneway", {}))  # name -> direction of travel (north/south/east/west)
    roads: list[Road] = []

    def add(
        name: str, u: tuple[int, int], v: tuple[int, int], pu: tuple[float, float], pv: tuple[float, float]
    ) -> None:
        klass = "arterial" if name.endswith(ARTERIAL_SUFFIXES) else "street"
        way = oneway.get(name)
        if way in ("south", "west"):  # built south-to-north and west-to-east: turn it round
            u, v, pu, pv = v, u, pv, pu
        roads.append(
            Road(
                road_id=f"r{len(roads) + 1:03d}",
                name=name,
                road_class=klass,
                speed_kmh=speeds[klass],
                oneway=way is not None,
                a=_crossing_id(*u),
                b=_crossing_id(*v),
                coords=(pu, pv),
                length_m=round(distance_m(pu[0], pu[1], pv[0], pv[1]), 1),
            )
        )

    for i, ave in enumerate(avenues):
        lat = float(ave["lat"])
        for j in range(len(streets) - 1):
            add(ave["name"], (i, j), (i, j + 1), (lat, float(streets[j]["lon"])), (lat, float(streets[j + 1]["lon"])))
    for j, st in enumerate(streets):
        lon = float(st["lon"])
        for i in range(len(avenues) - 1):
            add(st["name"], (i, j), (i + 1, j), (float(avenues[i]["lat"]), lon), (float(avenues[i + 1]["lat"]), lon))
    return roads


def roads_geojson(roads: list[Road]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "id": r.road_id,
                    "name": r.name,
                    "class": r.road_class,
                    "speed_kmh": r.speed_kmh,
                    "oneway": r.oneway,
                    "from": r.a,
                    "to": r.b,
                },
                "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in r.coords]},
            }
            for r in roads
        ],
    }


def dump_roads(roads: list[Road]) -> str:
    """The stored file's text: one feature a line, so a diff of the network reads block by block."""
    doc = roads_geojson(roads)
    feats = ",\n".join(json.dumps(f, separators=(",", ":")) for f in doc["features"])
    return '{"type":"FeatureCollection","features":[\n' + feats + "\n]}\n"


def load_roads(path: Path) -> list[Road]:
    with path.open(encoding="utf-8") as fh:
        features: list[dict[str, Any]] = json.load(fh)["features"]
    roads = []
    for f in features:
        p = f["properties"]
        (lon1, lat1), (lon2, lat2) = f["geometry"]["coordinates"]
        roads.append(
            Road(
                p["id"],
                p["name"],
                p["class"],
                float(p["speed_kmh"]),
                bool(p["oneway"]),
                p["from"],
                p["to"],
                ((lat1, lon1), (lat2, lon2)),
                round(distance_m(lat1, lon1, lat2, lon2), 1),
            )
        )
    return roads


@dataclass
class RoadGraph:
    roads: list[Road]
    nodes: dict[str, tuple[float, float]] = field(default_factory=dict)
    out: dict[str, list[Hop]] = field(default_factory=dict)
    _trees: dict[str, tuple[dict[str, float], dict[str, Hop]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for r in self.roads:
            self.nodes.setdefault(r.a, r.coords[0])
            self.nodes.setdefault(r.b, r.coords[1])
            secs = r.length_m / (r.speed_kmh / 3.6)
            self.out.setdefault(r.a, []).append(Hop(r, r.a, r.b, secs))
            if not r.oneway:
                self.out.setdefault(r.b, []).append(Hop(r, r.b, r.a, secs))
        self.node_ids = sorted(self.nodes)

    def tree(self, src: str) -> tuple[dict[str, float], dict[str, Hop]]:
        """Dijkstra from `src` by travel time at the speed limits: seconds to each node, and the last hop."""
        if src in self._trees:
            return self._trees[src]
        dist: dict[str, float] = {src: 0.0}
        prev: dict[str, Hop] = {}
        heap = [(0.0, src)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist[u]:
                continue
            for hop in self.out.get(u, []):
                nd = d + hop.seconds
                if nd < dist.get(hop.v, float("inf")):
                    dist[hop.v] = nd
                    prev[hop.v] = hop
                    heapq.heappush(heap, (nd, hop.v))
        self._trees[src] = (dist, prev)
        return dist, prev

    def route(self, src: str, dst: str) -> list[Hop]:
        """The fastest hops from src to dst ([] when src == dst); KeyError when dst cannot be reached."""
        _, prev = self.tree(src)
        hops: list[Hop] = []
        node = dst
        while node != src:
            hop = prev[node]
            hops.append(hop)
            node = hop.u
        hops.reverse()
        return hops

    def seconds(self, src: str, dst: str) -> float:
        return self.tree(src)[0][dst]

    def nearest_node(self, lat: float, lon: float) -> str:
        return min(self.node_ids, key=lambda n: distance_m(lat, lon, *self.nodes[n]))


@dataclass(frozen=True)
class Path2:
    """A drive as a polyline: points (lat, lon) and the cumulative metres at each."""

    points: list[tuple[float, float]]
    cum: list[float]

    @property
    def length_m(self) -> float:
        return self.cum[-1]

    def at(self, s: float) -> tuple[float, float, int]:
        """The point `s` metres along, and the index of the segment it is on."""
        pts, cum = self.points, self.cum
        if s <= 0 or len(pts) == 1:
            return pts[0][0], pts[0][1], 0
        for i in range(1, len(pts)):
            if s <= cum[i]:
                f = (s - cum[i - 1]) / max(cum[i] - cum[i - 1], 1e-9)
                a, b = pts[i - 1], pts[i]
                return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, i - 1
        return pts[-1][0], pts[-1][1], len(pts) - 2


def drive_path(graph: RoadGraph, start: tuple[float, float], end: tuple[float, float]) -> tuple[Path2, float]:
    """From a point to a point along the roads: to the nearest crossing, the fastest route, then off to the
    end point. Returns the polyline and its travel time at the speed limits (the legs off the grid at 30 km/h)."""
    a, b = graph.nearest_node(*start), graph.nearest_node(*end)
    pts = [start, graph.nodes[a]]
    secs = 0.0
    for hop in graph.route(a, b):
        pts.append(graph.nodes[hop.v])
        secs += hop.seconds
    pts.append(end)
    cum = [0.0]
    for p, q in itertools.pairwise(pts):
        cum.append(cum[-1] + distance_m(p[0], p[1], q[0], q[1]))
    off = cum[1] + (cum[-1] - cum[-2])
    return Path2(pts, cum), secs + off / (30 / 3.6)


def main() -> None:
    """Write roads.geojson for each shipped city from its city.yaml (after editing `streets` or `roads`)."""
    import yaml

    for city_dir in sorted((Path(__file__).resolve().parent / "cities").iterdir()):
        with (city_dir / "city.yaml").open(encoding="utf-8") as fh:
            cfg = yaml.safe_load(fh)
        (city_dir / "roads.geojson").write_text(dump_roads(build_roads(cfg)), encoding="utf-8")


if __name__ == "__main__":
    main()
