"""First render of the console's map in headless Chromium, for `make bench BENCH=console` and the browser tests.

`first_render_ms` logs in through the page's own form, then opens the console afresh and reports the time from
the navigation's start until the app has drawn every incident and unit it loaded (the app sets
`window.__rendered` two animation frames after adding the last marker to Leaflet's canvas, so the canvas has
painted by then). The counts drawn are checked against the API's, so a render that drops markers cannot pass as
fast."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

CHROMIUM = os.environ.get("SAQSHY_CHROMIUM", "/usr/bin/chromium")
VIEWPORT: ViewportSize = {"width": 1400, "height": 850}


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def log_in(page: Page, base_url: str, user: str, password: str, timeout_ms: float = 15_000) -> None:
    """Fill the login form and wait until the app has rendered its first full state."""
    page.goto(base_url)
    page.fill("#login-form input[name=username]", user)
    page.fill("#login-form input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_function("window.__rendered === true", timeout=timeout_ms)


def first_render_ms(base_url: str, user: str, password: str) -> float:
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT, bypass_csp=True)  # wait_for_function evaluates strings
        log_in(page, base_url, user, password)
        page.goto(base_url)  # the session cookie stays: this load goes straight to the map
        page.wait_for_function("window.__rendered === true", timeout=15_000)
        ms = float(page.evaluate("window.__renderedAt"))
        drawn = page.evaluate(
            "[window.__saqshy.shownIncidentIds().length, window.__saqshy.unitCount(), "
            "window.__saqshy.state.incidents.size, window.__saqshy.state.units.size]"
        )
        incidents = page.request.get(f"{base_url}/api/incidents").json()["incidents"]
        units = page.request.get(f"{base_url}/api/units").json()["units"]
        with_location = sum(1 for i in incidents if i.get("location"))
        if drawn[0] < with_location or drawn[1] < len(units):
            raise AssertionError(f"drew {drawn[0]} incidents and {drawn[1]} units of {with_location} and {len(units)}")
        return ms


if __name__ == "__main__":
    import sys

    print(round(first_render_ms(sys.argv[1], sys.argv[2], sys.argv[3]), 1))
