"""What the forecasts are made of: located events (or incidents) of chosen categories, read from the archive as
arrays (times in epoch seconds, places as H3 cells and local kilometres)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from clickhouse_connect.driver.client import Client

from jobs.archive.errors import ArchiveError

Array = npt.NDArray[Any]
LAYERS = ("incident", "call.112", "accident.record", "sos.press")
HORIZONS: dict[str, float] = {"24h": 86_400.0, "7d": 7 * 86_400.0, "30d": 30 * 86_400.0}
DAY = 86_400.0


def horizon_seconds(name: str) -> float:
    try:
        return HORIZONS[name]
    except KeyError:
        raise ArchiveError(f"horizon {name!r}: one of {', '.join(HORIZONS)}") from None


@dataclass(frozen=True)
class Selection:
    """Which points a forecast is about and on which grid."""

    layer: str = "call.112"
    categories: tuple[str, ...] = ()
    resolution: int = 9
    study_area: str = "cells"  # cells: every cell with a point in the archive; hull: their convex hull filled

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ArchiveError(f"layer {self.layer!r}: one of {', '.join(LAYERS)}")
        if not 5 <= self.resolution <= 11:
            raise ArchiveError(f"resolution {self.resolution}: 5..11 (9 is ~0.1 km2 a cell)")
        if self.study_area not in ("cells", "hull"):
            raise ArchiveError(f"study area {self.study_area!r}: cells or hull")

    @property
    def key(self) -> str:
        return f"{self.layer}|{','.join(sorted(self.categories))}|r{self.resolution}|{self.study_area}"

    def where(self) -> tuple[str, str, str, dict[str, Any]]:
        """(table, time column, extra conditions, parameters) for the points of this selection."""
        params: dict[str, Any] = {}
        if self.layer == "incident":
            table, time_col, conds = "incidents_latest", "first_time", ["lat IS NOT NULL", "lon IS NOT NULL"]
        else:
            table, time_col = "events FINAL", "time"
            conds = ["type = {layer:String}", "lat IS NOT NULL", "lon IS NOT NULL"]
            params["layer"] = self.layer
        if self.categories:
            conds.append("category IN {cats:Array(String)}")
            params["cats"] = list(self.categories)
        return table, time_col, " AND ".join(conds), params


@dataclass
class Points:
    """Points sorted by time. `idx` is the grid index of each point's cell (-1 outside the study area)."""

    t: Array  # float64 epoch seconds
    lat: Array
    lon: Array
    cell: Array  # uint64 H3
    idx: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    x: Array = field(default_factory=lambda: np.zeros(0))  # km east of the grid's origin
    y: Array = field(default_factory=lambda: np.zeros(0))  # km north

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def between(self, start: float, end: float) -> Points:
        """Points with start <= t < end (a view-free copy, still sorted)."""
        lo, hi = np.searchsorted(self.t, [start, end], side="left")
        return Points(*(a[lo:hi] for a in (self.t, self.lat, self.lon, self.cell, self.idx, self.x, self.y)))


def empty_points() -> Points:
    z = np.zeros(0)
    return Points(z, z, z, np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64), z, z)


def load_points(
    client: Client, db: str, sel: Selection, start: datetime | None = None, end: datetime | None = None
) -> Points:
    """Every point of the selection in [start, end), sorted by time (ties by id, so runs are reproducible)."""
    table, time_col, where, params = sel.where()
    if start is not None:
        where += f" AND {time_col} >= {{start:DateTime64(3)}}"
        params["start"] = start.replace(tzinfo=None)
    if end is not None:
        where += f" AND {time_col} < {{end:DateTime64(3)}}"
        params["end"] = end.replace(tzinfo=None)
    sql = (
        f"SELECT toUnixTimestamp64Milli({time_col}) / 1000.0 AS t, assumeNotNull(lat) AS la, "
        f"assumeNotNull(lon) AS lo, geoToH3(la, lo, {int(sel.resolution)}) AS c "
        f"FROM {db}.{table} WHERE {where} ORDER BY t, id"
    )
    cols = client.query(sql, parameters=params).result_columns
    if not cols or not cols[0]:
        return empty_points()
    t, lat, lon, cell = cols
    return Points(
        np.asarray(t, dtype=np.float64),
        np.asarray(lat, dtype=np.float64),
        np.asarray(lon, dtype=np.float64),
        np.asarray(cell, dtype=np.uint64),
    )


def time_range(client: Client, db: str, sel: Selection) -> tuple[datetime, datetime] | None:
    table, time_col, where, params = sel.where()
    row = client.query(
        f"SELECT min({time_col}), max({time_col}), count() FROM {db}.{table} WHERE {where}", parameters=params
    ).result_rows[0]
    return None if not row[2] else (row[0], row[1])
