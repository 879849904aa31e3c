"""SQL over the crime-map aggregates (map_hourly / map_daily): counts per H3 cell and time bucket."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from clickhouse_connect.driver.client import Client

from jobs.archive.errors import ArchiveError

Bucket = Literal["hour", "day"]
LAYERS = ("incident", "call.112", "accident.record", "sos.press")
RESOLUTIONS = (6, 7, 8, 9)


@dataclass(frozen=True)
class MapQuery:
    start: datetime  # inclusive, aware UTC
    end: datetime  # exclusive
    layer: str = "incident"
    categories: tuple[str, ...] = ()
    region: str | None = None  # matches any admin level: republic, region, city or district
    resolution: int = 8
    bucket: Bucket = "day"

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ArchiveError("map times must be timezone-aware")
        if self.end <= self.start:
            raise ArchiveError(f"empty time range: {self.start.isoformat()} .. {self.end.isoformat()}")
        if self.layer not in LAYERS:
            raise ArchiveError(f"layer {self.layer!r}: one of {', '.join(LAYERS)}")
        if self.resolution not in RESOLUTIONS:
            raise ArchiveError(f"resolution {self.resolution}: the archive aggregates {RESOLUTIONS}")


@dataclass
class Cell:
    cell: int
    boundary: list[tuple[float, float]]  # (lat, lon) vertices
    counts: dict[str, int] = field(default_factory=dict)  # bucket label -> count

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class MapData:
    query: MapQuery
    buckets: list[str]
    cells: list[Cell]
    areas: list[tuple[str, list[list[tuple[float, float]]]]]  # (name, rings of (lat, lon)) for context
    by_category: dict[str, int]
    # Forecast layer: outlines of the cells a forecast flags, drawn above the heat (label, (lat, lon) ring).
    flagged: list[tuple[str, list[tuple[float, float]]]] = field(default_factory=list)
    flagged_label: str = ""

    @property
    def total(self) -> int:
        """Distinct ids: an incident that moved is in two cells but counts once here."""
        return sum(self.by_category.values())


def day_range(start: date, end: date) -> tuple[datetime, datetime]:
    """Dates as given on the command line: --from inclusive, --to inclusive (whole days, UTC)."""
    s = datetime(start.year, start.month, start.day, tzinfo=UTC)
    e = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    return s, e


def _where(q: MapQuery, time_col: str) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"layer": q.layer, "res": q.resolution}
    conds = ["layer = {layer:String}", "resolution = {res:UInt8}"]
    if q.bucket == "hour":
        conds.append(f"{time_col} >= {{start:DateTime}} AND {time_col} < {{end:DateTime}}")
        params |= {"start": q.start.replace(tzinfo=None), "end": q.end.replace(tzinfo=None)}
    else:
        conds.append(f"{time_col} >= {{start:Date}} AND {time_col} < {{end:Date}}")
        params |= {"start": q.start.date(), "end": (q.end - timedelta(microseconds=1)).date() + timedelta(days=1)}
    if q.categories:
        conds.append("category IN {cats:Array(String)}")
        params["cats"] = list(q.categories)
    if q.region:
        conds.append("(district = {region:String} OR city = {region:String} OR region = {region:String})")
        params["region"] = q.region
    return " AND ".join(conds), params


def cell_counts_sql(q: MapQuery, db: str) -> tuple[str, dict[str, Any]]:
    table, col = ("map_hourly", "hour") if q.bucket == "hour" else ("map_daily", "day")
    where, params = _where(q, col)
    label = "formatDateTime(hour, '%Y-%m-%d %H:00')" if q.bucket == "hour" else "toString(day)"
    sql = (
        f"SELECT {label} AS bucket, cell, uniqExactMerge(ids) AS n FROM {db}.{table} "
        f"WHERE {where} GROUP BY bucket, cell ORDER BY bucket, cell"
    )
    return sql, params


def fetch(client: Client, q: MapQuery, db: str = "saqshy") -> MapData:
    sql, params = cell_counts_sql(q, db)
    rows = client.query(sql, parameters=params).result_rows
    cells: dict[int, Cell] = {}
    for bucket, cell, n in rows:
        c = cells.get(cell)
        if c is None:
            c = cells[cell] = Cell(int(cell), [])
        c.counts[str(bucket)] = int(n)
    if cells:
        bounds = client.query(
            "SELECT c, h3ToGeoBoundary(c) FROM (SELECT arrayJoin({cells:Array(UInt64)}) AS c)",
            parameters={"cells": list(cells)},
        ).result_rows
        for c, ring in bounds:
            cells[int(c)].boundary = [(float(p[0]), float(p[1])) for p in ring]
    table, col = ("map_hourly", "hour") if q.bucket == "hour" else ("map_daily", "day")
    where, params = _where(q, col)
    by_cat = client.query(
        f"SELECT category, uniqExactMerge(ids) FROM {db}.{table} WHERE {where} GROUP BY category ORDER BY 2 DESC",
        parameters=params,
    ).result_rows
    counts = {str(cat): int(n) for cat, n in by_cat}
    return MapData(q, buckets(q), sorted(cells.values(), key=lambda c: c.cell), areas(client, db), counts)


def buckets(q: MapQuery) -> list[str]:
    out: list[str] = []
    if q.bucket == "hour":
        t = q.start.replace(minute=0, second=0, microsecond=0)
        while t < q.end:
            out.append(t.strftime("%Y-%m-%d %H:00"))
            t += timedelta(hours=1)
    else:
        d = q.start.date()
        while datetime(d.year, d.month, d.day, tzinfo=UTC) < q.end:
            out.append(d.isoformat())
            d += timedelta(days=1)
    return out


def areas(client: Client, db: str) -> list[tuple[str, list[list[tuple[float, float]]]]]:
    """District (else city) outlines from the reference data: the offline base layer of the map."""
    import orjson

    rows = client.query(
        f"SELECT name, level, geometry FROM {db}.ref_admin_areas FINAL WHERE deleted = 0 AND geometry != '' "
        "ORDER BY level = 'district' DESC, name"
    ).result_rows
    levels = {str(r[1]) for r in rows}
    wanted = "district" if "district" in levels else "city"
    out: list[tuple[str, list[list[tuple[float, float]]]]] = []
    for name, level, geometry in rows:
        if level != wanted:
            continue
        geo = orjson.loads(geometry)
        polys = [geo["coordinates"]] if geo.get("type") == "Polygon" else geo.get("coordinates", [])
        rings = [[(float(lat), float(lon)) for lon, lat in poly[0]] for poly in polys]
        out.append((str(name), rings))
    return out


def archive_time_range(client: Client, db: str, layer: str) -> tuple[date, date] | None:
    row = client.query(
        f"SELECT min(day), max(day), count() FROM {db}.map_daily WHERE layer = {{layer:String}}",
        parameters={"layer": layer},
    ).result_rows[0]
    return None if not row[2] else (row[0], row[1])
