"""Reference tables from files, as ref.* events: the same path as the compacted reference topics.

    GeoJSON  FeatureCollection; a feature's properties say its table: camera_id (Point; an optional `fov`
             property holds a GeoJSON Polygon), zone_id + kind (Polygon/MultiPolygon), area_id + level.
    CSV      one table per file, named by `table` or by a header: plate (hotlist), camera_id (cameras).
    YAML     {table: hotlist|cameras|zones|admin_areas, records: [...]} with the contract's field names.

Event ids hash the content, so reloading an unchanged file is a duplicate (dropped by the core) and a
changed row is a new reference version. `as_of` is the event time of the change: hotlist reads are judged
against the entry version in force at their time (as-of join in rules.core.reference).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rules.context.errors import ContextError
from schemas import (
    AdminAreaEvent,
    AdminAreaRecord,
    CameraEvent,
    CameraRecord,
    EventBase,
    GeoPoint,
    HotlistEntry,
    HotlistEvent,
    ZoneEvent,
    ZoneRecord,
)

TABLES: dict[str, tuple[type[Any], type[Any], str]] = {
    "hotlist": (HotlistEntry, HotlistEvent, "plate"),
    "cameras": (CameraRecord, CameraEvent, "camera_id"),
    "zones": (ZoneRecord, ZoneEvent, "zone_id"),
    "admin_areas": (AdminAreaRecord, AdminAreaEvent, "area_id"),
}


def _event(table: str, record: dict[str, Any], as_of: datetime, source: str, where: str) -> EventBase:
    model, event_cls, key = TABLES[table]
    try:
        rec = model.model_validate(record)
    except ValidationError as e:
        raise ContextError(f"{where}: {table} record: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}") from None
    body = rec.model_dump_json().encode()
    digest = hashlib.blake2b(body, digest_size=6).hexdigest()
    event: EventBase = event_cls(id=f"ref-{table}-{getattr(rec, key)}-{digest}", source=source, time=as_of, data=rec)
    return event


def _geojson(path: Path, as_of: datetime) -> list[EventBase]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("type") != "FeatureCollection":
        raise ContextError(f"{path}: a GeoJSON FeatureCollection expected")
    out = []
    for i, feat in enumerate(doc["features"]):
        props = dict(feat.get("properties") or {})
        geom = feat.get("geometry")
        where = f"{path}: feature {i}"
        if "camera_id" in props:
            if not geom or geom.get("type") != "Point":
                raise ContextError(f"{where}: a camera needs a Point geometry")
            lon, lat = geom["coordinates"][:2]
            props["location"] = GeoPoint(lat=lat, lon=lon).model_dump()
            out.append(_event("cameras", props, as_of, str(path.name), where))
        elif "zone_id" in props:
            out.append(_event("zones", {**props, "geometry": geom}, as_of, str(path.name), where))
        elif "area_id" in props:
            out.append(_event("admin_areas", {**props, "geometry": geom}, as_of, str(path.name), where))
        else:
            raise ContextError(f"{where}: properties need camera_id, zone_id or area_id")
    return out


def _csv_row(table: str, row: dict[str, str]) -> dict[str, Any]:
    rec: dict[str, Any] = {k: v for k, v in row.items() if v not in ("", None)}
    if table == "cameras":
        rec["location"] = {"lat": float(rec.pop("lat")), "lon": float(rec.pop("lon"))}
    return rec


def _csv(path: Path, as_of: datetime, table: str | None) -> list[EventBase]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        table = table or ("hotlist" if "plate" in header else "cameras" if "camera_id" in header else None)
        if table not in ("hotlist", "cameras"):
            raise ContextError(f"{path}: CSV tables are hotlist (plate,...) or cameras (camera_id,lat,lon,...)")
        out = []
        for n, row in enumerate(reader, 2):
            try:
                rec = _csv_row(table, row)
            except (KeyError, ValueError) as e:
                raise ContextError(f"{path}: line {n}: {e}") from None
            out.append(_event(table, rec, as_of, path.name, f"{path}: line {n}"))
        return out


def _yaml(path: Path, as_of: datetime) -> list[EventBase]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("table") not in TABLES or not isinstance(doc.get("records"), list):
        raise ContextError(f"{path}: expected {{table: {'|'.join(TABLES)}, records: [...]}}")
    table = doc["table"]
    return [_event(table, r, as_of, path.name, f"{path}: record {i}") for i, r in enumerate(doc["records"])]


def load_reference_file(path: Path | str, as_of: datetime, table: str | None = None) -> list[EventBase]:
    path = Path(path)
    try:
        if path.suffix in (".geojson", ".json"):
            return _geojson(path, as_of)
        if path.suffix == ".csv":
            return _csv(path, as_of, table)
        if path.suffix in (".yaml", ".yml"):
            return _yaml(path, as_of)
    except (OSError, json.JSONDecodeError, yaml.YAMLError) as e:
        raise ContextError(f"{path}: {e}") from None
    raise ContextError(f"{path}: unknown reference file type (.geojson, .csv, .yaml)")


def load_reference_files(paths: Iterable[Path | str], as_of: datetime) -> list[EventBase]:
    return [ev for p in paths for ev in load_reference_file(p, as_of)]
