"""The city under the map: its timezone, roads and district outlines from a city directory (city.yaml,
roads.geojson, districts.geojson, as streams/sim/cities/<city>/ holds them). Read once, drawn offline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from jobs.archive.errors import ArchiveError

Line = list[tuple[float, float]]  # (lat, lon) points


@dataclass(frozen=True)
class CityBase:
    name: str = ""
    timezone: str = "UTC"
    roads: list[tuple[str, Line]] = field(default_factory=list)  # (road class, line)
    districts: list[tuple[str, list[Line]]] = field(default_factory=list)  # (name, rings)


def _read_geojson(path: Path) -> list[dict[str, Any]]:
    try:
        features: list[dict[str, Any]] = orjson.loads(path.read_bytes())["features"]
        return features
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise ArchiveError(f"{path}: not a GeoJSON FeatureCollection ({e})") from None


def _ring(coords: list[list[float]]) -> Line:
    return [(float(p[1]), float(p[0])) for p in coords]  # GeoJSON is (lon, lat)


def load_city(directory: Path) -> CityBase:
    """The city's timezone (city.yaml), roads (roads.geojson, when the city has them) and districts."""
    spec_path = directory / "city.yaml"
    try:
        spec = yaml.safe_load(spec_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ArchiveError(f"{spec_path}: {e}") from None
    roads: list[tuple[str, Line]] = []
    road_file = directory / "roads.geojson"
    if road_file.exists():
        for feat in _read_geojson(road_file):
            geom = feat.get("geometry") or {}
            klass = str((feat.get("properties") or {}).get("class", "street"))
            if geom.get("type") == "LineString":
                roads.append((klass, _ring(geom["coordinates"])))
            elif geom.get("type") == "MultiLineString":
                roads += [(klass, _ring(line)) for line in geom["coordinates"]]
    districts: list[tuple[str, list[Line]]] = []
    district_file = directory / str(spec.get("districts", "districts.geojson"))
    if district_file.exists():
        for feat in _read_geojson(district_file):
            geom = feat.get("geometry") or {}
            name = str((feat.get("properties") or {}).get("name", ""))
            polys = [geom["coordinates"]] if geom.get("type") == "Polygon" else geom.get("coordinates", [])
            districts.append((name, [_ring(poly[0]) for poly in polys]))
    return CityBase(str(spec.get("name", directory.name)), str(spec.get("timezone", "UTC")), roads, districts)
