"""SQL over the crime-map aggregates (map_hourly / map_daily): counts per H3 cell, time bucket and category,
and the incidents (or events) behind each cell for the click-through list.

Totals are distinct ids per category (a category belongs to one id), so the header, the table and the PNG
agree for any set of categories; a cell's count is the ids placed in that cell (an incident that moved is in
each of its cells). Buckets are the city's local hours or days: `timezone` shifts the labels and, for days,
reads map_hourly grouped by the local date (map_daily is by UTC date).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    timezone: str = "UTC"  # the city's (city.yaml): bucket labels and days are local

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ArchiveError(f"timezone {self.timezone!r}: not an IANA timezone name (e.g. Asia/Almaty)") from None
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
    by_category: dict[tuple[str, str], int] = field(default_factory=dict)  # (bucket, category) -> count

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Item:
    """One incident (or event) behind a cell, for the list shown on click."""

    id: str
    category: str
    bucket: str
    local_time: str  # "YYYY-MM-DD HH:MM" in the query's timezone
    text: str = ""  # an incident's title (public column: phone numbers are pseudonyms)


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
    bucket_categories: dict[str, dict[str, int]] = field(default_factory=dict)  # bucket -> category -> ids
    items: dict[int, list[Item]] = field(default_factory=dict)  # cell -> newest first, at most ITEMS_PER_CELL
    roads: list[tuple[str, list[tuple[float, float]]]] = field(default_factory=list)  # (class, (lat, lon) line)

    @property
    def total(self) -> int:
        """Distinct ids: an incident that moved is in two cells but counts once here."""
        return sum(self.by_category.values())


ITEMS_PER_CELL = 50


def day_range(start: date, end: date, timezone: str = "UTC") -> tuple[datetime, datetime]:
    """Dates as given on the command line: --from inclusive, --to inclusive (whole local days of the city)."""
    tz = ZoneInfo(timezone)
    s = datetime(start.year, start.month, start.day, tzinfo=tz).astimezone(UTC)
    e = (datetime(end.year, end.month, end.day, tzinfo=tz) + timedelta(days=1)).astimezone(UTC)
    return s, e


def _source(q: MapQuery) -> tuple[str, str, str]:
    """(table, time column, bucket label expression): local days come from map_hourly unless the city is UTC."""
    if q.bucket == "day" and q.timezone == "UTC":
        return "map_daily", "day", "toString(day)"
    if q.bucket == "day":
        return "map_hourly", "hour", "toString(toDate(hour, {tz:String}))"
    return "map_hourly", "hour", "formatDateTime(hour, '%Y-%m-%d %H:00', {tz:String})"


def _where(q: MapQuery, time_col: str) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"layer": q.layer, "res": q.resolution, "tz": q.timezone}
    conds = ["layer = {layer:String}", "resolution = {res:UInt8}"]
    if time_col == "hour":
        conds.append(f"{time_col} >= {{start:DateTime}} AND {time_col} < {{end:DateTime}}")
        params |= {"start": _naive_utc(q.start), "end": _naive_utc(q.end)}
    else:
        conds.append(f"{time_col} >= {{start:Date}} AND {time_col} < {{end:Date}}")
        params |= {"start": q.start.date(), "end": (q.end - timedelta(microseconds=1)).date() + timedelta(days=1)}
    conds += _filters(q, params)
    return " AND ".join(conds), params


def _naive_utc(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def _filters(q: MapQuery, params: dict[str, Any]) -> list[str]:
    conds = []
    if q.categories:
        conds.append("category IN {cats:Array(String)}")
        params["cats"] = list(q.categories)
    if q.region:
        conds.append("(district = {region:String} OR city = {region:String} OR region = {region:String})")
        params["region"] = q.region
    return conds


def cell_counts_sql(q: MapQuery, db: str) -> tuple[str, dict[str, Any]]:
    table, col, label = _source(q)
    where, params = _where(q, col)
    sql = (
        f"SELECT {label} AS bucket, cell, category, uniqExactMerge(ids) AS n FROM {db}.{table} "
        f"WHERE {where} GROUP BY bucket, cell, category ORDER BY bucket, cell, category"
    )
    return sql, params


def fetch(client: Client, q: MapQuery, db: str = "saqshy", items: bool = False) -> MapData:
    """Counts per cell, bucket and category, the distinct totals, the base layer; with `items`, the newest
    ITEMS_PER_CELL incidents (or events) of every cell for the click-through list."""
    sql, params = cell_counts_sql(q, db)
    rows = client.query(sql, parameters=params).result_rows
    cells: dict[int, Cell] = {}
    for bucket, cell, category, n in rows:
        c = cells.get(cell)
        if c is None:
            c = cells[cell] = Cell(int(cell), [])
        c.counts[str(bucket)] = c.counts.get(str(bucket), 0) + int(n)
        c.by_category[(str(bucket), str(category))] = int(n)
    if cells:
        bounds = client.query(
            "SELECT c, h3ToGeoBoundary(c) FROM (SELECT arrayJoin({cells:Array(UInt64)}) AS c)",
            parameters={"cells": list(cells)},
        ).result_rows
        for c, ring in bounds:
            cells[int(c)].boundary = [(float(p[0]), float(p[1])) for p in ring]
    table, col, label = _source(q)
    where, params = _where(q, col)
    by_cat = client.query(
        f"SELECT category, uniqExactMerge(ids) FROM {db}.{table} WHERE {where} GROUP BY category ORDER BY 2 DESC",
        parameters=params,
    ).result_rows
    counts = {str(cat): int(n) for cat, n in by_cat}
    per_bucket: dict[str, dict[str, int]] = {}
    for bucket, cat, n in client.query(
        f"SELECT {label} AS bucket, category, uniqExactMerge(ids) FROM {db}.{table} WHERE {where} "
        "GROUP BY bucket, category ORDER BY bucket, category",
        parameters=params,
    ).result_rows:
        per_bucket.setdefault(str(bucket), {})[str(cat)] = int(n)
    data = MapData(q, buckets(q), sorted(cells.values(), key=lambda c: c.cell), areas(client, db), counts)
    data.bucket_categories = per_bucket
    if items and cells:
        data.items = cell_items(client, q, db)
    return data


def cell_items(client: Client, q: MapQuery, db: str) -> dict[int, list[Item]]:
    """What is behind each cell: incidents (every cell any version was in, as the map counts them) or events."""
    params: dict[str, Any] = {
        "res": q.resolution, "tz": q.timezone, "layer": q.layer, "limit": ITEMS_PER_CELL,
        "start": q.start.astimezone(UTC), "end": q.end.astimezone(UTC),
    }  # fmt: skip
    conds = " AND ".join(["t >= {start:DateTime64(3)} AND t < {end:DateTime64(3)}", *_filters(q, params)])
    label = (
        "formatDateTime(t, '%Y-%m-%d %H:00', {tz:String})" if q.bucket == "hour" else "toString(toDate(t, {tz:String}))"
    )
    cell = "geoToH3(assumeNotNull(lat), assumeNotNull(lon), {res:UInt8})"
    if q.layer == "incident":
        inner = (
            f"SELECT id, argMax(category, version) AS category, min(first_time) AS t, argMax(title, version) AS text, "
            f"arrayJoin(groupUniqArray({cell})) AS cell, any(region) AS region, any(city) AS city, "
            f"any(district) AS district FROM {db}.incidents FINAL WHERE lat IS NOT NULL AND lon IS NOT NULL "
            "GROUP BY id"
        )
    else:
        inner = (
            f"SELECT id, category, time AS t, '' AS text, {cell} AS cell, region, city, district "
            f"FROM {db}.events FINAL WHERE type = {{layer:String}} AND lat IS NOT NULL AND lon IS NOT NULL"
        )
    rows = client.query(
        f"SELECT cell, id, category, {label}, formatDateTime(t, '%Y-%m-%d %H:%i', {{tz:String}}), text "
        f"FROM ({inner}) WHERE {conds} ORDER BY cell, t DESC, id LIMIT {{limit:UInt32}} BY cell",
        parameters=params,
    ).result_rows
    out: dict[int, list[Item]] = {}
    for c, iid, cat, bucket, local, text in rows:
        out.setdefault(int(c), []).append(Item(str(iid), str(cat), str(bucket), str(local), str(text)))
    return out


def buckets(q: MapQuery) -> list[str]:
    tz = ZoneInfo(q.timezone)
    out: list[str] = []
    if q.bucket == "hour":
        t = q.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        while t < q.end:
            out.append(t.astimezone(tz).strftime("%Y-%m-%d %H:00"))
            t += timedelta(hours=1)
    else:
        d = q.start.astimezone(tz).date()
        while datetime(d.year, d.month, d.day, tzinfo=tz) < q.end:
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


def archive_time_range(client: Client, db: str, layer: str, timezone: str = "UTC") -> tuple[date, date] | None:
    """The first and last day of the layer on the map, as local days of the city."""
    row = client.query(
        f"SELECT toDate(min(hour), {{tz:String}}), toDate(max(hour), {{tz:String}}), count() FROM {db}.map_hourly "
        "WHERE layer = {layer:String}",
        parameters={"layer": layer, "tz": timezone},
    ).result_rows[0]
    return None if not row[2] else (row[0], row[1])
