"""Render the crime map: one self-contained HTML page (inline SVG, CSS and JS; no tiles, no CDN) and a PNG.

Both share one projection (equirectangular scaled by cos(latitude), fine at city scale) and one colour scale,
so the PNG is the HTML's "all days" view. District outlines from the reference data are the base layer.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

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


def colour_index(n: int, top: int) -> int:
    """Class of a count: square-root scale so a few hot cells do not wash out the rest."""
    if n <= 0 or top <= 0:
        return -1
    return min(len(PALETTE) - 1, int(math.sqrt(n / top) * len(PALETTE) - 1e-9))


def _path(ring: list[tuple[float, float]], proj: Projection) -> str:
    pts = [proj.xy(lat, lon) for lat, lon in ring]
    return "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z"


def projection_for(data: MapData) -> Projection:
    points = [p for c in data.cells for p in c.boundary] + [p for _, ring in data.flagged for p in ring]
    if not points:
        points = [p for _, rings in data.areas for ring in rings for p in ring]
    return Projection.fit(points)


def write_html(data: MapData, out: Path, title: str) -> None:
    proj = projection_for(data)
    top = max((c.total for c in data.cells), default=0)
    cells_svg = []
    series = []
    for i, c in enumerate(data.cells):
        k = colour_index(c.total, top)
        cells_svg.append(
            f'<path class="cell" data-i="{i}" data-cell="{c.cell:x}" d="{_path(c.boundary, proj)}" '
            f'fill="{PALETTE[k] if k >= 0 else "none"}"/>'
        )
        series.append([c.counts.get(b, 0) for b in data.buckets])
    flagged_svg = [
        f'<path class="flag" d="{_path(ring, proj)}"><title>{html.escape(label)}</title></path>'
        for label, ring in data.flagged
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
        "series": series,
        "palette": PALETTE,
        "layer": q.layer,
    }
    cats = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:,}</td></tr>"
        for k, v in sorted(data.by_category.items(), key=lambda x: -x[1])
    )
    legend = "".join(f'<span style="background:{p}"></span>' for p in PALETTE)
    filters = ", ".join(
        x
        for x in (f"category {', '.join(q.categories)}" if q.categories else "", f"area {q.region}" if q.region else "")
        if x
    )
    page = _TEMPLATE.format(
        title=html.escape(title),
        subtitle=html.escape(
            f"{q.layer} · {q.start:%Y-%m-%d %H:%M} – {q.end:%Y-%m-%d %H:%M} UTC · H3 resolution {q.resolution}"
            + (f" · {filters}" if filters else "")
        ),
        total=f"{data.total:,}",
        ncells=f"{len(data.cells):,}",
        width=WIDTH,
        height=f"{proj.height:.0f}",
        areas="\n".join(areas_svg),
        overlay="\n".join(overlay_svg),
        cells="\n".join(cells_svg),
        flagged="\n".join(flagged_svg),
        flagged_note=(f'<p class="flagnote">{html.escape(data.flagged_label)}</p>' if data.flagged else ""),
        nbuckets=len(data.buckets),
        cats=cats or "<tr><td colspan=2>nothing in this range</td></tr>",
        legend=legend,
        data=orjson.dumps(payload).decode().replace("</", "<\\/"),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font:14px system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}}
h1{{font-size:20px;margin:0 0 4px}} .sub{{color:#555;margin-bottom:12px}}
#wrap{{display:flex;gap:16px;align-items:flex-start}}
svg{{background:#eef2f5;border:1px solid #ccd}}
.area{{fill:#fff;stroke:#8896a8;stroke-width:1}}
.outline{{fill:none;stroke:#334;stroke-width:1.2;stroke-dasharray:4 3;pointer-events:none}}
.label{{font-size:12px;font-weight:600;fill:#223;text-anchor:middle;pointer-events:none;
  paint-order:stroke;stroke:#fff;stroke-width:3px}}
.cell{{stroke:#444;stroke-width:.4;fill-opacity:.85}} .cell:hover{{stroke:#000;stroke-width:2}}
#tip{{position:fixed;pointer-events:none;background:#222;color:#fff;padding:4px 8px;border-radius:4px;
  display:none;font-size:12px}}
.legend span{{display:inline-block;width:28px;height:12px}} table{{border-collapse:collapse}} td{{padding:2px 8px}}
#controls{{margin:8px 0}} #bucket{{font-weight:bold}}
.flag{{fill:none;stroke:#1f4fd1;stroke-width:2.2}} .flagnote{{color:#1f4fd1;font-weight:600}}
</style></head><body>
<h1>{title}</h1><div class="sub">{subtitle}</div>
<div id="controls"><label>time: <input id="slider" type="range" min="0" max="{nbuckets}" value="0" step="1"></label>
<span id="bucket">all</span> · <span id="count">{total}</span> in <span id="ncells">{ncells}</span> cells
<button id="play" type="button">play</button></div>
<div id="wrap"><svg id="map" width="{width}" height="{height}" viewBox="0 0 {width} {height}">
<g id="areas">{areas}</g><g id="cells">{cells}</g><g id="overlay">{overlay}</g><g id="forecast">{flagged}</g></svg>
<div><div class="legend">few {legend} many</div>{flagged_note}<h3>by category</h3><table>{cats}</table></div></div>
<div id="tip"></div>
<script id="map-data" type="application/json">{data}</script>
<script>
(function(){{
const D = JSON.parse(document.getElementById('map-data').textContent);
const cells = Array.from(document.querySelectorAll('#cells .cell'));
const slider = document.getElementById('slider'), tip = document.getElementById('tip');
const totals = D.series.map(s => s.reduce((a, b) => a + b, 0));
let current = 0;
function value(i){{ return current === 0 ? totals[i] : D.series[i][current - 1]; }}
function paint(){{
  let top = 0, sum = 0, n = 0;
  for (let i = 0; i < cells.length; i++){{ const v = value(i); top = Math.max(top, v); sum += v; if (v > 0) n++; }}
  cells.forEach((el, i) => {{
    const v = value(i);
    if (v <= 0) {{ el.setAttribute('fill', 'none'); el.style.display = 'none'; return; }}
    el.style.display = '';
    const k = Math.min(D.palette.length - 1, Math.floor(Math.sqrt(v / top) * D.palette.length - 1e-9));
    el.setAttribute('fill', D.palette[k]);
    el.dataset.count = v;
  }});
  document.getElementById('bucket').textContent = current === 0 ? 'all' : D.buckets[current - 1];
  document.getElementById('count').textContent = sum.toLocaleString('en');
  document.getElementById('ncells').textContent = n.toLocaleString('en');
}}
slider.addEventListener('input', () => {{ current = +slider.value; paint(); }});
let timer = null;
document.getElementById('play').addEventListener('click', () => {{
  if (timer) {{ clearInterval(timer); timer = null; return; }}
  timer = setInterval(() => {{ current = (current % D.buckets.length) + 1; slider.value = current; paint(); }}, 800);
}});
cells.forEach((el, i) => {{
  el.addEventListener('mousemove', e => {{
    tip.style.display = 'block'; tip.style.left = (e.clientX + 12) + 'px'; tip.style.top = (e.clientY + 12) + 'px';
    const when = current ? ' on ' + D.buckets[current - 1] : ' in all';
    tip.textContent = D.cells[i] + ': ' + value(i) + ' ' + D.layer + when + ' (total ' + totals[i] + ')';
  }});
  el.addEventListener('mouseleave', () => {{ tip.style.display = 'none'; }});
}});
paint();
document.body.dataset.ready = '1';
}})();
</script></body></html>
"""


def write_png(data: MapData, out: Path, title: str) -> None:
    """The all-buckets view as a PNG (OpenCV drawing; no browser needed)."""
    import cv2
    import numpy as np

    proj = projection_for(data)
    h = int(proj.height) + 60
    img = np.full((h, WIDTH + 200, 3), (245, 242, 238), dtype=np.uint8)
    top = max((c.total for c in data.cells), default=0)

    def pts(ring: list[tuple[float, float]]) -> Any:
        return np.array([[proj.xy(lat, lon)] for lat, lon in ring], dtype=np.float32).round().astype(np.int32)

    for _, rings in data.areas:
        for ring in rings:
            cv2.fillPoly(img, [pts(ring)], (255, 255, 255))
    for c in data.cells:
        k = colour_index(c.total, top)
        if k < 0 or not c.boundary:
            continue
        r, g, b = (int(PALETTE[k][i : i + 2], 16) for i in (1, 3, 5))
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
    q = data.query
    cv2.putText(img, title[:90], (PAD, h - 34), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (30, 30, 30), 1, cv2.LINE_AA)
    sub = f"{q.layer}  {q.start:%Y-%m-%d} .. {q.end:%Y-%m-%d}  total {data.total:,} in {len(data.cells):,} cells"
    cv2.putText(img, sub, (PAD, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
    x0 = WIDTH + 20
    cv2.putText(img, "many", (x0, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
    for i, colour in enumerate(reversed(PALETTE)):
        r, g, b = (int(colour[j : j + 2], 16) for j in (1, 3, 5))
        cv2.rectangle(img, (x0, 40 + i * 22), (x0 + 40, 58 + i * 22), (b, g, r), -1)
    cv2.putText(img, "few", (x0, 40 + len(PALETTE) * 22 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1)
    y = 40 + len(PALETTE) * 22 + 50
    for cat, n in sorted(data.by_category.items(), key=lambda x: -x[1])[:12]:
        cv2.putText(img, f"{cat[:16]} {n:,}", (x0, y), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (40, 40, 40), 1, cv2.LINE_AA)
        y += 18
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), img):
        raise OSError(f"could not write {out}")
