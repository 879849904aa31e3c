"""The map's base layers as GeoJSON (lon, lat), from the city's own reference tables: admin areas, zones,
cameras (and their fields of view), warning devices; roads from the city's roads.geojson when `--roads` names
one (an empty collection otherwise: the UI then draws no road layer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streams.console.state import Board

LAYERS = ("admin", "zones", "cameras", "roads", "devices")


def _fc(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _feature(geometry: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def layer(board: Board, name: str) -> dict[str, Any] | None:
    """The layer's FeatureCollection (call under the board's lock), None for an unknown name."""
    if name == "admin":
        return _fc([_feature(a["geometry"], {k: v for k, v in a.items() if k != "geometry"})
                    for a in board.layers["admin"].values()])  # fmt: skip
    if name == "zones":
        return _fc([_feature(z["geometry"], {k: v for k, v in z.items() if k != "geometry"})
                    for z in board.layers["zones"].values()])  # fmt: skip
    if name == "cameras":
        out = []
        for cam in board.layers["cameras"].values():
            loc = cam["location"]
            props = {k: v for k, v in cam.items() if k not in ("location", "fov")}
            out.append(
                _feature({"type": "Point", "coordinates": [loc["lon"], loc["lat"]]}, {**props, "kind": cam.get("kind")})
            )
            if cam.get("fov"):
                out.append(_feature(cam["fov"], {"camera_id": cam["camera_id"], "kind": "fov"}))
        return _fc(out)
    if name == "roads":
        return _fc(list(board.roads))
    if name == "devices":
        return _fc(list(board.devices))
    return None


def load_devices(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return list(doc.get("features", []))
