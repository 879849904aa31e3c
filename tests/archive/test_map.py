"""The crime map: counts from the aggregates equal counts from the raw events, the page is self-contained,
and a real headless browser renders every hexagon with its count."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from clickhouse_connect.driver.client import Client

from jobs.archive.writer import ArchiveWriter
from jobs.crimemap.query import MapQuery, fetch
from jobs.crimemap.render import write_html, write_png
from rules.privacy import PrivacySettings
from tests.archive.conftest import Sim

CHROMIUM = "/usr/bin/chromium"
START, END = datetime(2026, 11, 21, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)


def _archive(client: Client, db: str, sim: Sim) -> None:
    w = ArchiveWriter(lambda: client, db, privacy=PrivacySettings(), batch_size=50_000, max_buffered=200_000)
    w.add_events(sim.records)
    for inc in sim.versions:
        w.add_incident(inc)
    assert w.flush(wait=True)


def test_cell_counts_equal_a_direct_count_over_events(chdb_client: Client, db: str, sim: Sim) -> None:
    _archive(chdb_client, db, sim)
    for res in (6, 8, 9):
        data = fetch(chdb_client, MapQuery(START, END, "call.112", resolution=res, bucket="hour"), db)
        rows = chdb_client.query(
            f"SELECT geoToH3(lat, lon, {res}) AS c, uniqExact(id) FROM {db}.events "
            "WHERE type = 'call.112' AND lat IS NOT NULL GROUP BY c"
        ).result_rows
        direct = {int(c): int(n) for c, n in rows}
        assert {c.cell: c.total for c in data.cells} == direct
        assert all(len(c.boundary) >= 5 for c in data.cells)
    calls = [r for r in {r.id: r for r in sim.records}.values() if r.type == "call.112"]
    assert data.total == len(calls)
    by_cat: dict[str, int] = {}
    for r in calls:
        by_cat[r.data.category] = by_cat.get(r.data.category, 0) + 1
    assert data.by_category == by_cat


def test_filters_by_category_region_and_day(chdb_client: Client, db: str, sim: Sim) -> None:
    _archive(chdb_client, db, sim)
    calls = [r for r in {r.id: r for r in sim.records}.values() if r.type == "call.112"]
    district = next(r.admin.district for r in calls if r.admin and r.admin.district)
    want = sum(1 for r in calls if r.admin and r.admin.district == district and r.data.category == "medical")
    q = MapQuery(START, END, "call.112", ("medical",), district, 8, "day")
    assert fetch(chdb_client, q, db).total == want
    empty = fetch(chdb_client, MapQuery(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)), db)
    assert empty.total == 0 and empty.cells == []
    incidents = fetch(chdb_client, MapQuery(START, END, "incident", bucket="day"), db)
    located = {i.id for i in sim.versions if i.location is not None}
    assert incidents.total == len(located)


def test_html_is_self_contained_and_png_is_drawn(chdb_client: Client, db: str, sim: Sim, tmp_path: Path) -> None:
    _archive(chdb_client, db, sim)
    data = fetch(chdb_client, MapQuery(START, END, "call.112", resolution=8, bucket="hour"), db)
    html, png = tmp_path / "map.html", tmp_path / "map.png"
    write_html(data, html, "test map")
    write_png(data, png, "test map")
    page = html.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the page must not load anything"
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert page.count('class="cell"') == len(data.cells)
    assert page.count('class="area"') >= 6  # the district outlines from the reference data
    import cv2

    img = cv2.imread(str(png))
    assert img is not None and img.shape[1] >= 900
    # The palette's colours are present: hexagons were filled, not just a background.
    reds = np.count_nonzero((img[:, :, 2] > 200) & (img[:, :, 0] < 120))
    assert reds > 1000


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (apt-get install chromium)")
def test_a_headless_browser_renders_every_hexagon(chdb_client: Client, db: str, sim: Sim, tmp_path: Path) -> None:
    _archive(chdb_client, db, sim)
    data = fetch(chdb_client, MapQuery(START, END, "call.112", resolution=8, bucket="hour"), db)
    html = tmp_path / "map.html"
    write_html(data, html, "browser test")
    base = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000",
    ]  # fmt: skip
    dom = subprocess.run([*base, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'data-ready="1"' in dom, "the page's script did not run"
    counts = [int(n) for n in re.findall(r'class="cell"[^>]*data-count="(\d+)"', dom)]
    assert sorted(counts) == sorted(c.total for c in data.cells if c.total > 0)
    shot = tmp_path / "shot.png"
    subprocess.run([*base, f"--screenshot={shot}", "--window-size=1300,900", html.as_uri()], timeout=120, check=False)
    import cv2

    img = cv2.imread(str(shot))
    assert img is not None
    assert np.count_nonzero((img[:, :, 2] > 200) & (img[:, :, 0] < 120)) > 1000  # hexagons painted
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
