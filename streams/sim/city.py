"""A simulated city loaded from a directory: city.yaml, districts.geojson, zones.geojson.

Cameras, SOS buttons and unit rosters are generated from the seed in city.yaml, so the same directory
always gives the same city (and the same camera ids across runs and seeds of the simulation).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.prepared import prep

from rules.geo import distance_m, metres_per_degree
from schemas import AdminPath, CameraOwner, UnitType, ZoneKind
from streams.sim.roads import Road, RoadGraph, build_roads, load_roads

# the cities shipped with the package, by name (`saqshy simulate --city alatau`)
CITIES = Path(__file__).resolve().parent / "cities"


@dataclass(frozen=True)
class Street:
    name: str
    axis: str  # "lat": an east-west avenue at constant latitude; "lon": a north-south street
    value: float


@dataclass(frozen=True)
class Zone:
    zone_id: str
    name: str
    kind: ZoneKind
    geometry: dict[str, Any]
    shape: BaseGeometry


@dataclass(frozen=True)
class District:
    area_id: str
    name: str
    geometry: dict[str, Any]
    shape: BaseGeometry


@dataclass(frozen=True)
class Camera:
    camera_id: str
    lat: float
    lon: float
    owner: CameraOwner
    anpr: bool
    analytics: tuple[str, ...]
    road: str
    zone_id: str | None = None
    zone_kind: ZoneKind | None = None
    # ANPR cameras sit on one road block, `along_m` metres from its end `node`, reading cars on that block
    road_id: str | None = None
    node: str | None = None
    along_m: float = 0.0


@dataclass(frozen=True)
class Base:
    base_id: str
    kind: UnitType
    name: str
    lat: float
    lon: float
    units: int


@dataclass(frozen=True)
class SosButton:
    device_id: str
    lat: float
    lon: float
    name: str


# Analytics an overview camera runs, by the kind of zone it watches (None: a street camera).
_ANALYTICS: dict[ZoneKind | None, tuple[str, ...]] = {
    ZoneKind.MASS_GATHERING: ("person", "crowd", "abandoned_object", "fight", "fall"),
    ZoneKind.TRANSPORT_HUB: ("person", "vehicle", "crowd", "abandoned_object", "fight"),
    ZoneKind.CRITICAL_INFRASTRUCTURE: ("person", "vehicle", "intrusion", "line_crossing", "fire", "smoke"),
    ZoneKind.SCHOOL: ("person", "fight", "fall", "intrusion", "smoke"),
    ZoneKind.MARKET: ("person", "crowd", "fight", "fire", "smoke", "abandoned_object"),
    ZoneKind.PARK: ("person", "fall", "fight", "fire", "smoke"),
    None: ("person", "vehicle", "stationary_vehicle", "fire", "smoke", "fight", "fall", "crowd"),
}


@dataclass
class City:
    name: str
    timezone: str
    population: int
    bbox: tuple[float, float, float, float]  # min_lat, min_lon, max_lat, max_lon
    admin: AdminPath
    districts: list[District]
    zones: list[Zone]
    streets: list[Street]
    bases: list[Base]
    cameras: list[Camera] = field(default_factory=list)
    sos_buttons: list[SosButton] = field(default_factory=list)
    roads: list[Road] = field(default_factory=list)
    graph: RoadGraph = field(default_factory=lambda: RoadGraph([]))

    @property
    def m_per_deg_lat(self) -> float:
        """Metres per degree of latitude at the city's middle (WGS84): for the street layout."""
        return metres_per_degree((self.bbox[0] + self.bbox[2]) / 2)[0]

    @property
    def m_per_deg_lon(self) -> float:
        return metres_per_degree((self.bbox[0] + self.bbox[2]) / 2)[1]

    def distance_m(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        """The rules' distance (WGS84), so that what a scenario plants within a radius is within it."""
        return distance_m(lat1, lon1, lat2, lon2)

    def offset(self, lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
        """The point north_m and east_m away: the inverse of distance_m's flat projection (at the middle
        latitude of the two points), so distance_m gives back hypot(north_m, east_m) to well under 1 cm."""
        mid = lat + north_m / (2 * metres_per_degree(lat)[0])
        north, east = metres_per_degree(mid)
        return lat + north_m / north, lon + east_m / east

    def clamp(self, lat: float, lon: float) -> tuple[float, float]:
        return (min(max(lat, self.bbox[0]), self.bbox[2]), min(max(lon, self.bbox[1]), self.bbox[3]))

    def district_of(self, lat: float, lon: float) -> District | None:
        p = Point(lon, lat)
        for d in self.districts:
            if d.shape.covers(p):
                return d
        return None

    def admin_of(self, lat: float, lon: float) -> AdminPath:
        d = self.district_of(lat, lon)
        return self.admin.model_copy(update={"district": d.name if d else None})

    def zone_of(self, lat: float, lon: float) -> Zone | None:
        p = Point(lon, lat)
        for z in self.zones:
            if z.shape.covers(p):
                return z
        return None

    def nearest_street(self, lat: float, lon: float) -> tuple[Street, float]:
        """The closest street to a point and the distance to it in metres."""
        best: tuple[Street, float] | None = None
        for s in self.streets:
            d = abs(lat - s.value) * self.m_per_deg_lat if s.axis == "lat" else abs(lon - s.value) * self.m_per_deg_lon
            if best is None or d < best[1]:
                best = (s, d)
        assert best is not None
        return best

    def address(self, lat: float, lon: float) -> str:
        """A caller-style address: the nearest street and a house number from the distance along it."""
        street, _ = self.nearest_street(lat, lon)
        if street.axis == "lat":
            along, side = (lon - self.bbox[1]) * self.m_per_deg_lon, lat > street.value
        else:
            along, side = (lat - self.bbox[0]) * self.m_per_deg_lat, lon > street.value
        number = 2 * int(along // 40) + (2 if side else 1)  # even numbers on one side, odd on the other
        return f"{street.name} {number}"

    def snap_to_street(self, lat: float, lon: float) -> tuple[float, float]:
        street, _ = self.nearest_street(lat, lon)
        return (street.value, lon) if street.axis == "lat" else (lat, street.value)


def _load_geojson(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        features: list[dict[str, Any]] = json.load(fh)["features"]
    return features


def load_city(directory: str | Path) -> City:
    root = Path(directory)
    with (root / "city.yaml").open(encoding="utf-8") as fh:
        cfg: dict[str, Any] = yaml.safe_load(fh)
    b = cfg["bbox"]
    districts = [
        District(f["properties"]["area_id"], f["properties"]["name"], f["geometry"], shape(f["geometry"]))
        for f in _load_geojson(root / cfg["districts"])
    ]
    zones = [
        Zone(
            f["properties"]["zone_id"],
            f["properties"]["name"],
            ZoneKind(f["properties"]["kind"]),
            f["geometry"],
            shape(f["geometry"]),
        )
        for f in _load_geojson(root / cfg["zones"])
    ]
    streets = [Street(s["name"], "lat", float(s["lat"])) for s in cfg["streets"]["avenues"]]
    streets += [Street(s["name"], "lon", float(s["lon"])) for s in cfg["streets"]["streets"]]
    bases = [
        Base(x["base_id"], UnitType(x["kind"]), x["name"], float(x["lat"]), float(x["lon"]), int(x["units"]))
        for x in cfg["bases"]
    ]
    city = City(
        name=cfg["name"],
        timezone=cfg["timezone"],
        population=int(cfg.get("population", 2_000_000)),
        bbox=(b["min_lat"], b["min_lon"], b["max_lat"], b["max_lon"]),
        admin=AdminPath(**cfg["admin"]),
        districts=districts,
        zones=zones,
        streets=streets,
        bases=bases,
    )
    roads_file = root / cfg.get("roads_file", "roads.geojson")
    city.roads = load_roads(roads_file) if roads_file.exists() else build_roads(cfg)
    city.graph = RoadGraph(city.roads)
    rng = random.Random(int(cfg["seed"]))
    city.cameras = _make_cameras(city, rng, cfg["cameras"])
    city.sos_buttons = _make_sos_buttons(city, rng, int(cfg.get("sos_buttons", 12)))
    return city


def _point_in(zone: Zone, rng: random.Random) -> tuple[float, float]:
    minx, miny, maxx, maxy = zone.shape.bounds
    shrunk = prep(zone.shape.buffer(-(maxx - minx) * 0.1))
    while True:
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shrunk.contains(Point(lon, lat)):
            return round(lat, 6), round(lon, 6)


def _make_cameras(city: City, rng: random.Random, cfg: dict[str, Any]) -> list[Camera]:
    avenues = [s for s in city.streets if s.axis == "lat"]
    cross = [s for s in city.streets if s.axis == "lon"]
    crossings = [(a, c) for a in avenues for c in cross]
    cams: list[Camera] = []
    for i, (a, c) in enumerate(rng.sample(crossings, int(cfg["anpr"])), start=1):
        rng.uniform(-60, 60)  # was a north offset off the road; drawn still so the other cameras stay put
        east = rng.uniform(-60, 60)
        block, node, signed = _avenue_block(city, a, c, east)
        lat, lon = city.offset(a.value, c.value, 0.0, signed)
        along = abs(signed)
        owner = CameraOwner.POLICE if rng.random() < 0.6 else CameraOwner.MUNICIPAL
        cams.append(
            Camera(
                f"anpr-{i:03d}",
                round(lat, 6),
                round(lon, 6),
                owner,
                True,
                ("anpr",),
                f"{a.name} / {c.name}",
                road_id=block.road_id,
                node=node,
                along_m=along,
            )
        )
    n = 0
    for zone in city.zones:
        for _ in range(int(cfg["per_zone"])):
            n += 1
            lat, lon = _point_in(zone, rng)
            owner = rng.choice([CameraOwner.POLICE, CameraOwner.MUNICIPAL, CameraOwner.PRIVATE])
            road = city.nearest_street(lat, lon)[0].name
            cams.append(
                Camera(
                    f"cam-{n:03d}",
                    lat,
                    lon,
                    owner,
                    False,
                    _ANALYTICS[zone.kind],
                    road,
                    zone.zone_id,
                    zone.kind,
                )
            )
    while n < int(cfg["per_zone"]) * len(city.zones) + int(cfg["street"]):
        lat, lon = city.snap_to_street(rng.uniform(city.bbox[0], city.bbox[2]), rng.uniform(city.bbox[1], city.bbox[3]))
        if city.zone_of(lat, lon) is not None:
            continue
        n += 1
        owner = rng.choices([CameraOwner.POLICE, CameraOwner.MUNICIPAL, CameraOwner.PRIVATE], [3, 5, 2])[0]
        road = city.nearest_street(lat, lon)[0].name
        cams.append(Camera(f"cam-{n:03d}", round(lat, 6), round(lon, 6), owner, False, _ANALYTICS[None], road))
    return cams


def _avenue_block(city: City, avenue: Street, cross: Street, east: float) -> tuple[Road, str, float]:
    """The avenue's block next to the crossing on the side `east` points to (the other side at the city's
    edge), and the camera's signed east offset on it: 25-60 m from the crossing."""
    node = next(n for n, p in city.graph.nodes.items() if p == (avenue.value, cross.value))
    blocks = [r for r in city.roads if r.name == avenue.name and node in (r.a, r.b)]
    want_east = east >= 0

    def goes_east(r: Road) -> bool:
        other = r.coords[1] if r.a == node else r.coords[0]
        return other[1] > cross.value

    block = next((r for r in blocks if goes_east(r) == want_east), blocks[0])
    along = max(abs(east), 25.0)
    return block, node, along if goes_east(block) else -along


def _make_sos_buttons(city: City, rng: random.Random, count: int) -> list[SosButton]:
    public = [z for z in city.zones if z.kind not in (ZoneKind.CRITICAL_INFRASTRUCTURE,)]
    buttons = []
    for i in range(count):
        zone = public[i % len(public)]
        lat, lon = _point_in(zone, rng)
        buttons.append(SosButton(f"sos-{i + 1:02d}", lat, lon, f"SOS pillar, {zone.name}"))
    return buttons
