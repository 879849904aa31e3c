"""Cars on the road graph and the ANPR reads they make.

Every car is somewhere: it starts a trip where its last one ended, no earlier than that trip's arrival
plus a stop, and drives the fastest route at 70-115% of each road's limit. A camera reads the cars that
drive its block, at the moment they pass it. So two reads of one plate are always a drive apart (the
clones planted by scenarios.anpr_cloned_plate are the exception, and in the truth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streams.sim.city import Camera, City
from streams.sim.context import SimContext
from streams.sim.scenarios import confuse_plate


@dataclass(frozen=True)
class Pass:
    """A camera on a route: seconds after departure at the speed limits, the direction, the limit."""

    cam: int
    t_s: float
    direction: str
    limit_kmh: float


class RouteTable:
    """For every pair of crossings: the fastest route's duration and the ANPR cameras it passes."""

    def __init__(self, city: City, cams: list[Camera]) -> None:
        g = city.graph
        self.nodes = g.node_ids
        on_road: dict[str, list[int]] = {}
        for k, c in enumerate(cams):
            if c.road_id is not None:
                on_road.setdefault(c.road_id, []).append(k)
        n = len(self.nodes)
        self.seconds = np.zeros((n, n))
        self.passes: list[list[tuple[Pass, ...]]] = []
        for i, src in enumerate(self.nodes):
            dist, _ = g.tree(src)
            row: list[tuple[Pass, ...]] = []
            for j, dst in enumerate(self.nodes):
                self.seconds[i, j] = dist[dst]
                t, seen = 0.0, []
                for hop in g.route(src, dst):
                    mps = hop.road.speed_kmh / 3.6
                    for k in on_road.get(hop.road.road_id, ()):
                        cam = cams[k]
                        from_node = cam.along_m if hop.u == cam.node else hop.road.length_m - cam.along_m
                        way = "departing" if hop.u == cam.node else "approaching"
                        seen.append(Pass(k, t + from_node / mps, way, hop.road.speed_kmh))
                    t += hop.seconds
                row.append(tuple(sorted(seen, key=lambda p: p.t_s)))
            self.passes.append(row)
        self.mean_passes = float(np.mean([len(p) for row in self.passes for p in row]))


class Traffic:
    """The fleet's cars: where each one is and when it is free to drive again."""

    def __init__(self, ctx: SimContext, npr: np.random.Generator, fleet: list[str], cams: list[Camera]) -> None:
        self.ctx, self.npr, self.fleet, self.cams = ctx, npr, fleet, cams
        self.table = RouteTable(ctx.city, cams)
        n = len(self.table.nodes)
        self.at = npr.integers(0, n, len(fleet))
        self.free_at = np.full(len(fleet), -np.inf)
        self.trips = 0

    def hour(self, h0: float, h1: float, reads_per_s: float) -> None:
        """Trips starting in [h0, h1), enough of them for about `reads_per_s` reads a second."""
        ctx, npr, table = self.ctx, self.npr, self.table
        n = int(npr.poisson(max(reads_per_s, 0.0) * (h1 - h0) / table.mean_passes))
        ts = np.sort(npr.uniform(h0, h1, n)).tolist()
        # Commuters (the first half of the fleet) drive 70% of the trips; the rest of the fleet now and then.
        commuters = max(1, len(self.fleet) // 2)
        regular = npr.random(n) < 0.7
        picks = np.where(regular, npr.integers(0, commuters, (3, n)), npr.integers(0, len(self.fleet), (3, n)))
        dest = npr.integers(0, len(table.nodes), n).tolist()
        pace = np.clip(npr.normal(0.95, 0.08, n), 0.7, 1.15).tolist()
        stop = npr.lognormal(np.log(900), 0.8, n).tolist()  # parked between trips, median 15 min
        conf = np.clip(npr.normal(0.9, 0.05, n), 0.45, 0.995).tolist()
        at, free_at = self.at, self.free_at
        for i in range(n):
            t = ts[i]
            veh = next((int(v) for v in picks[:, i] if free_at[v] <= t), -1)
            if veh < 0:  # three busy cars drawn: the trip is not made
                continue
            o, d = int(at[veh]), dest[i]
            f = pace[i]
            at[veh] = d
            free_at[veh] = t + table.seconds[o, d] / f + stop[i]
            self.trips += 1
            plate = self.fleet[veh]
            for p in table.passes[o][d]:
                read, c = plate, conf[i]
                if ctx.rng.random() < 0.03:
                    read, c = confuse_plate(plate, ctx.rng), c - 0.12
                ctx.anpr(
                    t + p.t_s / f,
                    self.cams[p.cam],
                    read,
                    c,
                    direction=p.direction,
                    speed_kmh=round(max(3.0, p.limit_kmh * f + ctx.rng.gauss(0, 2)), 1),
                    lane=ctx.rng.randint(1, 3),
                    vehicle_class="bus" if veh % 41 == 0 else "car",
                )
