"""Render the crime map: one self-contained HTML page (inline SVG, CSS and JS; no tiles, no CDN) and a PNG.

Both share one projection (equirectangular scaled by cos(latitude), fine at city scale) and one fixed colour
scale with its numbers in the legend, so the PNG is the HTML's "all" view. District outlines (reference data,
else the city's districts) and the city's roads are the base layer.
"""

from __future__ import annotations

import bisect
import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from jobs.crimemap.page import TEMPLATE
from jobs.crimemap.query import MapData

# ColorBrewer YlOrRd (7 classes): light = few, dark red = many.
PALETTE = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026")
WIDTH, HEIGHT, PAD = 960, 720, 24


@dataclass(frozen=True)
class Projection:
    lat0: float
    lon0: float
    kx: float
    scale: float
    height: float

    @classmethod
    def fit(cls, points: list[tuple[float, float]], width: int = WIDTH, height: int = HEIGHT) -> Projection:
        if not points:
            points = [(0.0, 0.0)]
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
        span_x = max((max(lons) - min(lons)) * kx, 1e-6)
        span_y = max(max(lats) - min(lats), 1e-6)
        scale = min((width - 2 * PAD) / span_x, (height - 2 * PAD) / span_y)
        h = span_y * scale + 2 * PAD
        return cls(max(lats), min(lons), kx, scale, h)

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (PAD + (lon - self.lon0) * self.kx * self.scale, PAD + (self.lat0 - lat) * self.scale)


def scale_breaks(top: int, classes: int = len(PALETTE)) -> list[int]:
    """Upper bounds (inclusive) of the colour classes, fixed for the whole map: every time step and category
    filter uses them, so a colour always means the same counts. Square-root spacing so a few hot cells do not
    wash out the rest; one class per count while the counts are small."""
    if top <= 0:
        return []
    if top <= classes:
        return list(range(1, top + 1))
    out: list[int] = []
    for k in range(1, classes + 1):
        b = max(math.ceil(top * (k / classes) ** 2), out[-1] + 1 if out else 1)
        out.append(min(b, top - (classes - k)))
    return out


def class_colours(breaks: list[int]) -> list[str]:
    """The palette spread over the classes (light = few, dark red = many)."""
    if len(breaks) <= 1:
        return [PALETTE[-1]] * len(breaks)
    return [PALETTE[round(i * (len(PALETTE) - 1) / (len(breaks) - 1))] for i in range(len(breaks))]


def class_labels(breaks: list[int]) -> list[str]:
    if not breaks:
        return []
    lows = [1, *(b + 1 for b in breaks[:-1])]
    return [f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}" for lo, hi in zip(lows, breaks, strict=True)]


def colour_index(n: int, breaks: list[int]) -> int:
    """Class of a count on the fixed scale; -1 for none."""
    if n <= 0 or not breaks:
        return -1
    return min(bisect.bisect_left(breaks, n), len(breaks) - 1)


def summary_line(data: MapData) -> str:
    """The one total shown everywhere: distinct ids (the page's header and table say the same)."""
    q = data.query
    tz = ZoneInfo(q.timezone)
    return (
        f"{q.layer}  {q.start.astimezone(tz):%Y-%m-%d %H:%M} .. {q.end.astimezone(tz):%Y-%m-%d %H:%M} "
        f"{q.timezone}  total {data.total:,} in {len(data.cells):,} cells"
    )


def _path(ring: list[tuple[float, float]], proj: Projection) -> str:
    pts = [proj.xy(lat, lon) for lat, lon in ring]
    return "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z"


def projection_for(data: MapData) -> Projection:
    """Frames the heat and the whole city under it (districts), so the base layer is never cut off."""
    points = [p for c in data.cells for p in c.boundary] + [p for _, ring in data.flagged for p in ring]
    points += [p for _, rings in data.areas for ring in rings for p in ring]
    return Projection.fit(points)


def write_html(data: MapData, out: Path, title: str) -> None:
    proj = projection_for(data)
    breaks = scale_breaks(max((c.total for c in data.cells), default=0))
    colours = class_colours(breaks)
    cats = sorted(data.by_category, key=lambda k: (-data.by_category[k], k))
    cat_index = {k: i for i, k in enumerate(cats)}
    bucket_index = {b: i for i, b in enumerate(data.buckets)}
    cells_svg, counts, items = [], [], []
    for i, c in enumerate(data.cells):
        k = colour_index(c.total, breaks)
        cells_svg.append(
            f'<path class="cell" data-i="{i}" data-cell="{c.cell:x}" d="{_path(c.boundary, proj)}" '
            f'fill="{colours[k] if k >= 0 else "none"}"/>'
        )
        counts += [
            [i, bucket_index[b], cat_index[cat], n]
            for (b, cat), n in sorted(c.by_category.items())
            if b in bucket_index and cat in cat_index
        ]
        items.append(
            [
                [it.id, cat_index[it.category], bucket_index.get(it.bucket, -1), it.local_time, it.text]
                for it in data.items.get(c.cell, [])
                if it.category in cat_index
            ]
        )
    bucket_cats = [
        [bucket_index[b], cat_index[cat], n]
        for b, per in sorted(data.bucket_categories.items())
        for cat, n in sorted(per.items())
        if b in bucket_index and cat in cat_index
    ]
    flagged_svg = [
        f'<path class="flag" d="{_path(ring, proj)}"><title>{html.escape(label)}</title></path>'
        for label, ring in data.flagged
    ]
    roads_svg = [
        f'<path class="road {html.escape(klass)}" d="{_line(line, proj)}"/>' for klass, line in data.roads if line
    ]
    areas_svg = []  # white land under the cells
    overlay_svg = []  # outlines and names above them, so the heat never hides where it is
    for name, rings in data.areas:
        for ring in rings:
            areas_svg.append(f'<path class="area" d="{_path(ring, proj)}"/>')
            overlay_svg.append(f'<path class="outline" d="{_path(ring, proj)}"/>')
        if rings and rings[0]:
            lat = sum(p[0] for p in rings[0]) / len(rings[0])
            lon = sum(p[1] for p in rings[0]) / len(rings[0])
            x, y = proj.xy(lat, lon)
            overlay_svg.append(f'<text class="label" x="{x:.0f}" y="{y:.0f}">{html.escape(name)}</text>')
    q = data.query
    payload = {
        "buckets": data.buckets,
        "cells": [f"{c.cell:x}" for c in data.cells],
        "cats": cats,
        "catTotals": [data.by_category[k] for k in cats],
        "counts": counts,
        "bucketCats": bucket_cats,
        "items": items,
        "breaks": breaks,
        "colours": colours,
        "layer": q.layer,
        "tz": q.timezone,
    }
    cat_rows = "".join(
        f'<tr><td><input type="checkbox" id="cat-{i}" data-cat="{html.escape(k)}" checked></td>'
        f'<td><label for="cat-{i}">{html.escape(k)}</label></td>'
        f'<td class="n" id="cat-n-{i}">{data.by_category[k]:,}</td></tr>'
        for i, k in enumerate(cats)
    )
    legend = "".join(
        f'<tr><td><span class="sw" style="background:{colour}"></span></td><td class="n">{label}</td></tr>'
        for colour, label in zip(colours, class_labels(breaks), strict=True)
    )
    filters = ", ".join(
        x
        for x in (f"category {', '.join(q.categories)}" if q.categories else "", f"area {q.region}" if q.region else "")
        if x
    )
    tz = ZoneInfo(q.timezone)
    page = TEMPLATE.format(
        title=html.escape(title),
        subtitle=html.escape(
            f"{q.layer} · {q.start.astimezone(tz):%Y-%m-%d %H:%M} – {q.end.astimezone(tz):%Y-%m-%d %H:%M} "
            f"local time ({q.timezone}) · H3 resolution {q.resolution}" + (f" · {filters}" if filters else "")
        ),
        tz=html.escape(q.timezone),
        layer=html.escape(q.layer),
        total=f"{data.total:,}",
        ncells=f"{len(data.cells):,}",
        width=WIDTH,
        height=f"{proj.height:.0f}",
        areas="\n".join(areas_svg),
        roads="\n".join(roads_svg),
        overlay="\n".join(overlay_svg),
        cells="\n".join(cells_svg),
        flagged="\n".join(flagged_svg),
        flagged_note=(f'<p class="flagnote">{html.escape(data.flagged_label)}</p>' if data.flagged else ""),
        nbuckets=len(data.buckets),
        cats=cat_rows or "<tr><td colspan=3>nothing in this range</td></tr>",
        legend=legend or "<tr><td>nothing to colour</td></tr>",
        data=orjson.dumps(payload).decode().replace("</", "<\\/"),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")


def _line(points: list[tuple[float, float]], proj: Projection) -> str:
    return "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in (proj.xy(lat, lon) for lat, lon in points))


def write_png(data: MapData, out: Path, title: str) -> None:
    """The all-buckets view as a PNG (OpenCV drawing; no browser needed)."""
    import cv2
    import numpy as np

    proj = projection_for(data)
    h = int(proj.height) + 60
    img = np.full((h, WIDTH + 200, 3), (245, 242, 238), dtype=np.uint8)
    breaks = scale_breaks(max((c.total for c in data.cells), default=0))
    colours = class_colours(breaks)

    def pts(ring: list[tuple[float, float]]) -> Any:
        return np.array([[proj.xy(lat, lon)] for lat, lon in ring], dtype=np.float32).round().astype(np.int32)

    for _, rings in data.areas:
        for ring in rings:
            cv2.fillPoly(img, [pts(ring)], (255, 255, 255))
    for klass, line in data.roads:  # the base layer, under the heat as on the page
        wide = klass == "arterial"
        cv2.polylines(img, [pts(line)], False, (173, 163, 154) if wide else (200, 192, 185), 2 if wide else 1)
    for c in data.cells:
        k = colour_index(c.total, breaks)
        if k < 0 or not c.boundary:
            continue
        r, g, b = (int(colours[k][i : i + 2], 16) for i in (1, 3, 5))
        cv2.fillPoly(img, [pts(c.boundary)], (b, g, r), cv2.LINE_AA)
        cv2.polylines(img, [pts(c.boundary)], True, (60, 60, 60), 1, cv2.LINE_AA)
    for _, ring in data.flagged:  # forecast cells: blue outlines above the heat
        cv2.polylines(img, [pts(ring)], True, (209, 79, 31), 2, cv2.LINE_AA)
    for _, rings in data.areas:  # outlines above the heat, as on the page
        for ring in rings:
            cv2.polylines(img, [pts(ring)], True, (80, 60, 50), 1, cv2.LINE_AA)
    for name, rings in data.areas:
        if rings and rings[0]:
            lat = sum(p[0] for p in rings[0]) / len(rings[0])
            lon = sum(p[1] for p in rings[0]) / len(rings[0])
            x, y = proj.xy(lat, lon)
            (tw, _), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
            org = (int(x - tw / 2), int(y))
            cv2.putText(img, name, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (90, 80, 70), 1, cv2.LINE_AA)
    cv2.putText(img, title[:90], (PAD, h - 34), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (30, 30, 30), 1, cv2.LINE_AA)
    cv2.putText(img, summary_line(data), (PAD, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
    x0 = WIDTH + 20
    cv2.putText(img, f"{data.query.layer} per cell", (x0, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1)
    for i, (colour, label) in enumerate(zip(colours, class_labels(breaks), strict=True)):
        r, g, b = (int(colour[j : j + 2], 16) for j in (1, 3, 5))
        cv2.rectangle(img, (x0, 40 + i * 22), (x0 + 40, 58 + i * 22), (b, g, r), -1)
        cv2.putText(img, label, (x0 + 48, 54 + i * 22), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (30, 30, 30), 1, cv2.LINE_AA)
    y = 40 + len(colours) * 22 + 30
    cv2.putText(img, f"total {data.total:,}", (x0, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
    y += 22
    for cat, n in sorted(data.by_category.items(), key=lambda x: -x[1])[:12]:
        cv2.putText(img, f"{cat[:16]} {n:,}", (x0, y), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (40, 40, 40), 1, cv2.LINE_AA)
        y += 18
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), img):
        raise OSError(f"could not write {out}")
