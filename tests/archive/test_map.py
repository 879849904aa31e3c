"""The crime map: counts from the aggregates equal counts from the raw events, the page is self-contained,
and a real headless browser renders every hexagon with its count."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from clickhouse_connect.driver.client import Client

from jobs.archive.writer import ArchiveWriter
from jobs.crimemap.base import load_city
from jobs.crimemap.query import ITEMS_PER_CELL, MapQuery, archive_time_range, day_range, fetch
from jobs.crimemap.render import (
    class_colours,
    class_labels,
    colour_index,
    scale_breaks,
    summary_line,
    write_html,
    write_png,
)
from rules.privacy import PrivacySettings
from tests.archive.conftest import CITY, Sim

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


def test_filters_by_category_region_and_day(chdb_client: Client, db: str, sim: Sim, tmp_path: Path) -> None:
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
    # the simulated evening (19:00-22:00 UTC on the 21st) is the night of the 22nd in Alatau (UTC+5)
    assert archive_time_range(chdb_client, db, "incident") == (date(2026, 11, 21), date(2026, 11, 21))
    assert archive_time_range(chdb_client, db, "incident", "Asia/Almaty") == (date(2026, 11, 22), date(2026, 11, 22))
    local = fetch(chdb_client, MapQuery(*day_range(date(2026, 11, 22), date(2026, 11, 22), "Asia/Almaty"), "incident",
                                        timezone="Asia/Almaty"), db)  # fmt: skip
    assert local.total == len(located) and local.buckets == ["2026-11-22"]
    assert list(local.bucket_categories) == ["2026-11-22"]
    write_html(empty, tmp_path / "empty.html", "nothing")  # an empty range still renders


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
def test_the_map_in_a_browser(chdb_client: Client, db: str, sim: Sim, tmp_path: Path) -> None:
    """Issue 20: roads and districts under the heat, a fixed colour scale with numbers, one total everywhere
    (header = table = PNG), the table following the slider, a category filter, incidents listed on click, and
    local time."""
    from playwright.sync_api import sync_playwright

    _archive(chdb_client, db, sim)
    city = load_city(CITY)
    assert city.timezone == "Asia/Almaty" and city.roads and len(city.districts) == 6
    q = MapQuery(START, END, "incident", resolution=8, bucket="hour", timezone=city.timezone)
    data = fetch(chdb_client, q, db, items=True)
    data.roads = city.roads
    assert data.total == len({i.id for i in sim.versions if i.location is not None})
    assert f"total {data.total:,} in" in summary_line(data)  # the PNG's line
    html = tmp_path / "map.html"
    write_html(data, html, "browser test")
    breaks = scale_breaks(max(c.total for c in data.cells))
    colours = class_colours(breaks)
    utc_first = min(i.first_time for i in sim.versions if i.location is not None)
    local_first = (utc_first + timedelta(hours=5)).strftime("%Y-%m-%d %H:00")  # Alatau is UTC+5
    busy = max(range(len(data.buckets)), key=lambda j: sum(data.bucket_categories.get(data.buckets[j], {}).values()))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(html.as_uri())
        page.wait_for_selector("body[data-ready='1']")

        def num(sel: str) -> int:
            return int(page.inner_text(sel).replace(",", ""))

        def table() -> dict[str, int]:
            names = page.locator("#cats tbody label").all_inner_texts()
            counts = page.locator("#cats tbody td.n").all_inner_texts()
            return {n: int(c.replace(",", "")) for n, c in zip(names, counts, strict=True)}

        # one total everywhere
        assert num("#count") == num("#cat-total") == sum(table().values()) == data.total
        assert table() == data.by_category
        # base layer: districts and roads; no request leaves the page
        assert page.locator(".area").count() >= 6 and page.locator(".road").count() == len(city.roads)
        # legend: fixed classes with their numbers
        legend = [t.strip() for t in page.locator("#legend td.n").all_inner_texts()]
        assert legend == class_labels(breaks) and all(re.fullmatch(r"[\d,]+(–[\d,]+)?", t) for t in legend)
        # local time: the slider's labels are Alatau's hours
        assert local_first in data.buckets and "Asia/Almaty" in page.inner_text(".sub")
        # the table follows the slider, and colours keep the fixed scale
        page.locator("#slider").fill(str(busy + 1))
        page.locator("#slider").dispatch_event("input")
        want = data.bucket_categories[data.buckets[busy]]
        assert page.inner_text("#bucket") == data.buckets[busy]
        assert {k: v for k, v in table().items() if v} == want
        assert num("#count") == sum(want.values()) > 0
        for el in page.query_selector_all("#cells .cell"):
            v = int(el.get_attribute("data-count") or 0)
            if v > 0:
                assert el.get_attribute("fill") == colours[colour_index(v, breaks)]
        # category filter: header, table total and hexagons drop the unticked category
        page.locator("#slider").fill("0")
        page.locator("#slider").dispatch_event("input")
        top = max(data.by_category, key=lambda k: data.by_category[k])
        page.locator(f"#cats input[data-cat='{top}']").uncheck()
        assert num("#count") == num("#cat-total") == data.total - data.by_category[top]
        only_top = [f"{c.cell:x}" for c in data.cells if all(cat == top for _, cat in c.by_category)]
        for hexid in only_top:
            assert page.locator(f".cell[data-cell='{hexid}']").get_attribute("data-count") == "0"
        page.locator(f"#cats input[data-cat='{top}']").check()
        # click a cell: its incidents are listed
        cell = max(data.cells, key=lambda c: c.total)
        page.locator(f".cell[data-cell='{cell.cell:x}']").dispatch_event("click")
        listed = page.locator("#items li").evaluate_all("els => els.map(e => e.dataset.id)")
        assert listed and set(listed) == {it.id for it in data.items[cell.cell]}
        assert len(listed) == min(cell.total, ITEMS_PER_CELL)
        assert f"{cell.total}" in page.inner_text("#items-title")
        browser.close()


def test_the_colour_scale_is_fixed_with_numbered_classes() -> None:
    assert scale_breaks(0) == [] and class_labels(scale_breaks(3)) == ["1", "2", "3"]
    for top in (8, 9, 50, 1000, 123_457):
        b = scale_breaks(top)
        assert len(b) == 7 and b[-1] == top and b == sorted(set(b))
        assert colour_index(1, b) == 0 and colour_index(top, b) == 6 and colour_index(0, b) == -1
    assert class_labels([1, 3, 10]) == ["1", "2–3", "4–10"] and class_labels([]) == []
