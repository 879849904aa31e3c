"""The console in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the real
server: uvicorn on a free port, the embedded runner in-process over a small event stream the test writes line by
line (the city's reference tables, unit fixes, then the events of each scene), so every incident the page shows
is one the engine made.

Set SAQSHY_SCREENSHOT=1 to save docs/img/console.png (the README's picture) from the Republic supervisor's view."""

from __future__ import annotations

import asyncio
import math
import os
import queue
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

CHROMIUM = os.environ.get("SAQSHY_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
LEAFLET = ROOT / "streams/console/static/vendor/leaflet/leaflet.js"
pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
    pytest.mark.skipif(not LEAFLET.exists(), reason="no map library: run streams/console/build_assets.sh (needs npm)"),
    pytest.mark.timeout(180),
]

CITY = ROOT / "streams/sim/cities/alatau"
T0 = datetime(2026, 11, 21, 19, 0, tzinfo=UTC)
PASSWORD = "a long test password"
MEDEU_PATH = ["Kazakhstan", "Alatau", "Alatau", "Medeu district"]
AUEZOV_PATH = ["Kazakhstan", "Alatau", "Alatau", "Auezov district"]
# places inside each district (streams/sim/cities/alatau/districts.geojson)
MEDEU = (43.2389, 76.9755)
AUEZOV = (43.2240, 76.8750)
UNITS = [  # (unit, type, lat, lon): available units near the scenes, so the cards recommend them
    ("pp-medeu-1", "police", 43.2330, 76.9760),
    ("fs-1-1", "fire", 43.2450, 76.9700),
    ("amb-4-1", "ambulance", 43.2320, 76.9880),
    ("pp-auezov-1", "police", 43.2240, 76.8680),
]


def _at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


class Feed:
    """The events file of the replay, written while the server runs: the runner reads it line by line (speed 0,
    no pacing) and blocks here when it has read everything so far. Event time only moves forward."""

    def __init__(self) -> None:
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.clock = 0.0
        self.n = 0

    def __iter__(self) -> Iterator[bytes]:
        while (line := self.lines.get()) is not None:
            yield line

    def push(self, doc: dict[str, Any]) -> None:
        self.lines.put(orjson.dumps(doc))

    def close(self) -> None:
        self.lines.put(None)

    def _event(self, etype: str, lat: float, lon: float, data: dict[str, Any], after_s: float) -> None:
        self.clock += after_s
        self.n += 1
        self.push({"id": f"t-{self.n:05d}", "source": "test", "time": _at(self.clock), "type": etype,
                   "location": {"lat": lat, "lon": lon}, "data": data})  # fmt: skip

    def units(self, after_s: float = 10.0) -> None:
        """A fix of every test unit; a later event time is what lets the engine's time guard release the
        events (and operator actions) before it."""
        for i, (unit, kind, lat, lon) in enumerate(UNITS):
            self._event("unit.gps", lat, lon, {"unit_id": unit, "unit_type": kind, "status": "available"},
                        after_s if i == 0 else 0.1)  # fmt: skip

    def advance(self, seconds: float) -> None:
        """Move event time on in steps the time guard accepts at once (a jump of more than its max_future,
        5 minutes, is held until other sources confirm it)."""
        steps = max(1, math.ceil(seconds / 240))
        for _ in range(steps):
            self.units(after_s=seconds / steps)

    def fire(self, where: tuple[float, float], camera: str, injured: int = 1) -> None:
        """A camera sees smoke and a caller reports a fire 30 m away: fire.camera_and_call (priority 1 with an
        injured person, so dispatch.unacknowledged watches it)."""
        lat, lon = where
        self._event("video.detection", lat, lon,
                    {"camera_id": camera, "analytic": "smoke", "label": "smoke", "confidence": 0.9}, 30)  # fmt: skip
        call = {"call_id": f"c-{self.n}", "category": "fire", "address": "Abai ave 52", "injured": injured}
        self._event("call.112", lat + 0.0003, lon + 0.0001, call, 60)
        self.units()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    feed: Feed
    console: Any
    loop: asyncio.AbstractEventLoop
    requests: list[str] = field(default_factory=list)
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, user: str) -> httpx.Client:
        """A logged-in API client of `user` (one per user for the module)."""
        if user not in self.clients:
            c = httpx.Client(base_url=self.base, timeout=10)
            c.post("/api/login", json={"username": user, "password": PASSWORD}).raise_for_status()
            self.clients[user] = c
        return self.clients[user]

    def incidents(self, user: str) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = self.client(user).get("/api/incidents").json()["incidents"]
        return docs


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    import uvicorn

    from saqshy.commands.replay_cmd import build_context
    from streams.console.app import create_app
    from streams.console.users import User, hash_password
    from streams.console.wiring import replay_console
    from streams.sim.city import load_city
    from streams.sim.generator import reference_events

    pw = hash_password(PASSWORD)
    users = {
        u.name: u
        for u in (
            User(name="republic", role="supervisor", scopes=[["Kazakhstan"]], password_hash=pw),
            User(name="medeu", role="operator", scopes=[MEDEU_PATH], password_hash=pw),
            User(name="auezov", role="operator", scopes=[AUEZOV_PATH], password_hash=pw),
        )
    }
    feed = Feed()
    for ev in reference_events(load_city(CITY), [], T0):
        feed.push(orjson.loads(ev.model_dump_json()))
    feed.units()
    context = build_context(True, (), "1970-01-01T00:00:00Z", None, CITY / "warning_devices.geojson", None)
    console = replay_console(users, feed, context=context, devices=CITY / "warning_devices.geojson", speed=0)
    port = _free_port()
    config = uvicorn.Config(create_app(console), host="127.0.0.1", port=port, log_level="warning",
                            timeout_graceful_shutdown=1)  # fmt: skip
    uv = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(uv.serve(),), daemon=True)
    thread.start()
    deadline = datetime.now() + timedelta(seconds=20)
    while not uv.started and datetime.now() < deadline:
        threading.Event().wait(0.05)
    assert uv.started, "the console server did not start"
    server_ = Server(f"http://127.0.0.1:{port}", feed, console, loop)
    try:
        yield server_
    finally:
        for c in server_.clients.values():
            c.close()
        feed.close()
        uv.should_exit = True
        thread.join(timeout=15)
        if not thread.is_alive():
            loop.close()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    from tests.console.render import chromium

    with chromium() as b:
        yield b


def _page(browser: Any, server: Server, user: str, viewport: ViewportSize | None = None) -> Any:
    from tests.console.render import VIEWPORT, log_in

    # the test's wait_for_function strings need eval, which the server's CSP refuses (the page itself never
    # evaluates strings: test_the_page_works_under_its_content_security_policy)
    ctx = browser.new_context(viewport=viewport or VIEWPORT, bypass_csp=True)
    page = ctx.new_page()
    page.on("request", lambda r: server.requests.append(r.url))
    page.on("pageerror", lambda e: server.requests.append(f"pageerror: {e}"))
    log_in(page, server.base, user, PASSWORD)
    return page


def _wait_shown(page: Any, pred: str, timeout_ms: float = 10_000) -> Any:
    return page.wait_for_function(pred, timeout=timeout_ms)


def _new_incident(server: Server, user: str, known: set[str], rule: str = "fire.camera_and_call") -> dict[str, Any]:
    for _ in range(100):
        fresh = [d for d in server.incidents(user) if d["rule_id"] == rule and d["id"] not in known]
        if fresh:
            return fresh[0]
        threading.Event().wait(0.1)
    raise AssertionError(f"the engine made no new {rule} incident")


def _ids(server: Server, user: str) -> set[str]:
    return {d["id"] for d in server.incidents(user)}


def test_operator_works_an_incident_the_engine_reacts(server: Server, browser: Any) -> None:
    page = _page(browser, server, "medeu")
    assert page.text_content("[data-testid=user-role]") == "operator"
    known = _ids(server, "republic")
    server.feed.fire(MEDEU, "cam-017")
    inc = _new_incident(server, "medeu", known)
    iid = inc["id"]
    # it appears on the map (drawn on the canvas: the app lists what it drew) and in the queue
    _wait_shown(page, f"window.__saqshy.shownIncidentIds().includes({iid!r})")
    page.locator(f"#queue li.qrow[data-id='{iid}']").wait_for()
    # the card opens from the marker on the map
    where = f"""(() => {{
        const m = window.__saqshy.state.map.incidentMarkers.get({iid!r});
        const p = window.__saqshy.state.map.map.latLngToContainerPoint(m.getLatLng());
        const r = document.querySelector('#map').getBoundingClientRect();
        return [r.left + p.x, r.top + p.y];
    }})()"""
    x, y = page.evaluate(where)
    page.mouse.click(x, y)
    page.wait_for_selector("[data-testid=card-status]")
    page.locator(f"#queue li.qrow.sel[data-id='{iid}']").wait_for()
    assert page.text_content("[data-testid=card-status]") == "open"
    page.click("#card button[name=ack]")
    page.wait_for_selector("[data-testid=card-ack]")
    _wait_shown(page, f"document.querySelector(\"#queue li[data-id='{iid}']\").dataset.action === 'ack'")
    # five minutes of event time later: acknowledged, so no dispatch.unacknowledged escalation of it
    server.feed.advance(300)
    # the unit arrives: the engine records the arrival in a new version of the incident
    page.select_option("#card select[name=unit]", "pp-medeu-1")
    page.click("#card button[name=arrive]")
    server.feed.units()
    _wait_shown(page, f"window.__saqshy.state.incidents.get({iid!r}).arrivals.length > 0")
    _wait_shown(page, "document.querySelector('#card dl').textContent.includes('Time to arrive')")
    version = page.evaluate(f"window.__saqshy.state.incidents.get({iid!r}).version")
    assert version > inc["version"]
    # closed with a reason: the engine's closed version leaves the queue and fades on the map
    page.fill("#card input[name=reason]", "fire put out, no further danger")
    page.click("#card button[name=close]")
    server.feed.units()
    _wait_shown(page, "document.querySelector('[data-testid=card-status]')?.textContent === 'closed'")
    _wait_shown(page, f"!window.__saqshy.queueIds().includes({iid!r})")
    assert page.evaluate(f"window.__saqshy.state.map.incidentMarkers.get({iid!r}).options.fillOpacity") < 0.5
    docs = server.incidents("republic")
    assert not [d for d in docs if d["rule_id"] == "dispatch.unacknowledged" and d["key"] == iid]
    assert next(d for d in docs if d["id"] == iid)["status"] == "closed"
    page.context.close()


def test_district_operators_see_only_their_district(server: Server, browser: Any) -> None:
    medeu, auezov = _page(browser, server, "medeu"), _page(browser, server, "auezov")
    known = _ids(server, "republic")
    server.feed.fire(AUEZOV, "cam-101")
    theirs = _new_incident(server, "auezov", known)["id"]
    _wait_shown(auezov, f"window.__saqshy.queueIds().includes({theirs!r})")
    # a later Medeu incident reaches the Medeu page, which by then has had every message it may see
    known.add(theirs)
    server.feed.fire(MEDEU, "cam-018")
    ours = _new_incident(server, "medeu", known)["id"]
    _wait_shown(medeu, f"window.__saqshy.queueIds().includes({ours!r})")
    assert theirs not in medeu.evaluate("[...window.__saqshy.state.incidents.keys()]")
    assert ours not in auezov.evaluate("[...window.__saqshy.state.incidents.keys()]")
    assert medeu.request.get(f"{server.base}/api/incidents/{theirs}").status == 404
    # the Republic sees both
    republic = _page(browser, server, "republic")
    shown = set(republic.evaluate("window.__saqshy.queueIds()"))
    assert {ours, theirs} <= shown
    # logging out leaves the login form, and a wrong password is refused there
    auezov.click("#logout")
    auezov.wait_for_selector("#login-form", state="visible")
    auezov.fill("#login-form input[name=username]", "auezov")
    auezov.fill("#login-form input[name=password]", "not the password")
    auezov.click("#login-form button[type=submit]")
    auezov.wait_for_function("document.querySelector('#login-error').textContent.includes('Wrong')")
    assert auezov.is_hidden("#app")
    for p in (medeu, auezov, republic):
        p.context.close()


def test_reconnect_misses_nothing_and_a_drop_resyncs(server: Server, browser: Any) -> None:
    page = _page(browser, server, "medeu")
    _wait_shown(page, "document.querySelector('#live').textContent === 'live'")
    page.context.set_offline(True)
    _wait_shown(page, "document.querySelector('#live').textContent === 'offline'")
    seq_before = page.evaluate("window.__saqshy.state.seq")
    mark = len(server.requests)
    # while the page is offline the engine makes a new incident and moves the units
    known = _ids(server, "republic")
    server.feed.advance(2400)  # past the merge window: a new incident, and the earlier ones close
    server.feed.fire(MEDEU, "cam-019")
    missed = _new_incident(server, "medeu", known)["id"]
    server.feed.units()
    page.context.set_offline(False)
    _wait_shown(page, f"window.__saqshy.queueIds().includes({missed!r})")
    # every incident at the server's latest version (the engine may still be finishing the last lines)
    versions = "Object.fromEntries([...window.__saqshy.state.incidents].map(([k, v]) => [k, v.version]))"
    for _ in range(50):
        expected = {d["id"]: d["version"] for d in server.incidents("medeu")}
        got = page.evaluate(versions)
        if got == expected:
            break
        page.wait_for_timeout(100)
    assert got == expected
    # caught up from the stream (since = the last seq it had), not by reloading everything
    after = server.requests[mark:]
    streams = [u for u in after if "/api/stream" in u]
    assert streams and all(int(re.search(r"since=(\d+)", u).group(1)) >= seq_before > 0 for u in streams)  # type: ignore[union-attr]
    assert not [u for u in after if u.endswith("/api/incidents")]
    # nobody acknowledges the missed one: the engine escalates it (the first test's acknowledged one did not)
    server.feed.advance(240)
    escalated = "i.rule_id === 'dispatch.unacknowledged' && i.key === " + repr(missed)
    _wait_shown(page, f"[...window.__saqshy.state.incidents.values()].some((i) => {escalated})")

    # the server drops the page as too slow: a banner, then a full resync and live again
    def drop() -> None:
        for client in list(server.console.hub.clients):
            if client.user.name == "medeu":
                server.console.hub._drop(client, "test: too slow")

    server.loop.call_soon_threadsafe(drop)
    _wait_shown(page, "window.__saqshy.state.drops === 1")
    _wait_shown(page, "document.querySelector('#banner').textContent.includes('restored after a drop')")
    _wait_shown(page, "document.querySelector('#live').textContent === 'live'")
    page.context.close()
    if os.environ.get("SAQSHY_SCREENSHOT") == "1":
        _screenshot(browser, server)


def _screenshot(browser: Any, server: Server) -> None:
    """The README's picture: the Republic supervisor's view with an open fire's card."""
    page = _page(browser, server, "republic", {"width": 1600, "height": 900})
    fire = (
        "[...window.__saqshy.state.incidents.values()]"
        ".find((i) => i.rule_id === 'fire.camera_and_call' && i.status !== 'closed').id"
    )
    page.locator(f"#queue li.qrow[data-id='{page.evaluate(fire)}']").click()
    page.wait_for_selector("[data-testid=card-status]")
    page.wait_for_timeout(400)
    out = ROOT / "docs/img/console.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out))
    page.context.close()


def test_the_page_works_under_its_content_security_policy(browser: Any, server: Server) -> None:
    """The server sends a CSP that allows only the console's own files: the app logs in and draws its map under
    it, and the browser reports no violation."""
    from tests.console.render import VIEWPORT

    page = browser.new_context(viewport=VIEWPORT).new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(server.base)
    page.fill("#login-form input[name=username]", "republic")
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-rendered=true]", timeout=15_000)
    assert page.locator(".leaflet-pane").count() > 0
    assert refused == []
    page.context.close()


def test_the_page_loads_nothing_from_outside_the_server(server: Server) -> None:
    """Runs last: every request any page of this module made went to the console itself."""
    assert server.requests, "no page ran"
    outside = [u for u in server.requests if not u.startswith(server.base + "/") and not u.startswith("data:")]
    assert outside == []
