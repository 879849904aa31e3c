"""A forecast on the crime map: the cells a forecast flags, outlined over the heat of what did happen in the
forecast's period (empty while that period is still ahead)."""

from __future__ import annotations

from datetime import timedelta

from clickhouse_connect.driver.client import Client

from jobs.crimemap.query import RESOLUTIONS, Bucket, MapData, MapQuery, fetch
from jobs.forecast.store import LatestForecast


def forecast_map(client: Client, db: str, fc: LatestForecast, model: str, horizon: str, top_pct: float) -> MapData:
    resolution = fc.resolution if fc.resolution in RESOLUTIONS else max(RESOLUTIONS)
    bucket: Bucket = "hour" if fc.period_end - fc.period_start <= timedelta(days=3) else "day"
    query = MapQuery(fc.period_start, fc.period_end, fc.layer, fc.categories, None, resolution, bucket)
    data = fetch(client, query, db)
    flagged = fc.flagged(top_pct)
    rings = client.query(
        "SELECT c, h3ToGeoBoundary(c) FROM (SELECT arrayJoin({cells:Array(UInt64)}) AS c)",
        parameters={"cells": [c.cell for c in flagged]},
    ).result_rows
    ring_of = {int(c): [(float(p[0]), float(p[1])) for p in ring] for c, ring in rings}
    data.flagged = [
        (f"forecast rank {c.rank}: {c.expected:.2f} expected" + (f" ({c.area})" if c.area else ""), ring_of[c.cell])
        for c in flagged
        if c.cell in ring_of
    ]
    data.flagged_label = (
        f"{model} forecast for {horizon} from {fc.period_start:%Y-%m-%d %H:%M} UTC: top {top_pct:g}% of the "
        f"study area ({len(flagged)} of {len(fc.cells)} cells) outlined"
    )
    return data
