"""The console's HTTP API: every permission (each role x each endpoint), scope isolation between two districts,
CSRF, session expiry, login rate limit, phone masking and the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from streams.console.auth import SessionStore
from tests.console.api_support import USERS, Running, act, at, by_rule, clock_ticks, console, event, fire, gps, login

FIRE = "fire.camera_and_call"
PHONE = "+77011234567"


@pytest.fixture(scope="module")
def run() -> Iterator[Running]:
    # the same caller three times in an hour: calls.repeat_phone, an incident with the phone in its labels
    again = event("c-again", 90, "call.112", {"call_id": "c-again", "category": "crime", "phone": PHONE})
    lines = fire("medeu", 0, PHONE) + fire("turksib", 0, PHONE) + [again] + clock_ticks(60, 120)
    with console(lines) as r:
        yield r


def _ids(run: Running) -> dict[str, str]:
    return {i.admin.district.split()[0].lower(): i.id for i in by_rule(run.incidents(), FIRE)}


# role -> endpoint -> expected status, for an incident in the user's scope (Medeu) unless said otherwise
EXPECTED: dict[str | None, dict[str, int]] = {
    "sup": {"me": 200, "layers": 200, "incidents": 200, "card": 200, "units": 200, "ack": 202, "audit": 200,
            "card_other": 200, "ack_other": 202},
    "op_medeu": {"me": 200, "layers": 200, "incidents": 200, "card": 200, "units": 200, "ack": 202, "audit": 403,
                 "card_other": 404, "ack_other": 403},
    "analyst": {"me": 200, "layers": 200, "incidents": 200, "card": 200, "units": 200, "ack": 403, "audit": 403,
                "card_other": 200, "ack_other": 403},
    "admin": {"me": 200, "layers": 200, "incidents": 200, "card": 200, "units": 200, "ack": 202, "audit": 200,
              "card_other": 200, "ack_other": 202},
    None: {"me": 401, "layers": 401, "incidents": 401, "card": 401, "units": 401, "ack": 401, "audit": 401,
           "card_other": 401, "ack_other": 401, "stream": 401},
}  # fmt: skip


@pytest.mark.parametrize("who", list(EXPECTED))
def test_every_role_on_every_endpoint(run: Running, who: str | None) -> None:
    tc = run.client
    tc.cookies.clear()
    csrf = login(tc, who) if who else "none"
    ids = _ids(run)
    calls: dict[str, Any] = {
        "me": lambda: tc.get("/api/me"),
        "layers": lambda: tc.get("/api/layers/admin"),
        "incidents": lambda: tc.get("/api/incidents"),
        "card": lambda: tc.get(f"/api/incidents/{ids['medeu']}"),
        "units": lambda: tc.get("/api/units"),
        "ack": lambda: act(tc, csrf, ids["medeu"], "ack"),
        "audit": lambda: tc.get("/api/audit"),
        "card_other": lambda: tc.get(f"/api/incidents/{ids['turksib']}"),
        "ack_other": lambda: act(tc, csrf, ids["turksib"], "ack"),
        "stream": lambda: tc.get("/api/stream"),  # only unauthenticated here: a live stream never ends
    }
    got = {name: calls[name]().status_code for name in EXPECTED[who]}
    assert got == EXPECTED[who]
    tc.cookies.clear()


def test_two_district_operators_see_only_their_own(run: Running) -> None:
    tc = run.client
    ids = _ids(run)
    for name, mine, other in (("op_medeu", "medeu", "turksib"), ("op_turksib", "turksib", "medeu")):
        tc.cookies.clear()
        login(tc, name)
        seen = {i["id"] for i in tc.get("/api/incidents").json()["incidents"]}
        assert ids[mine] in seen and ids[other] not in seen
        assert all(
            i["admin"]["district"].lower().startswith(mine) for i in tc.get("/api/incidents").json()["incidents"]
        )
        units = {u["id"] for u in tc.get("/api/units").json()["units"]}
        assert units == {f"f-{mine}"}
        assert tc.get(f"/api/incidents/{ids[other]}").status_code == 404
    tc.cookies.clear()


def test_phones_clear_only_for_roles_that_may_see_them(run: Running) -> None:
    tc = run.client
    (repeat,) = by_rule(run.incidents(), "calls.repeat_phone")
    assert repeat.labels["phone"] == PHONE and repeat.admin.district == "Medeu district"
    inc_id = _ids(run)["medeu"]
    shown = {}
    for name in ("sup", "op_medeu", "analyst", "admin"):
        tc.cookies.clear()
        login(tc, name)
        listed = {i["id"]: i for i in tc.get("/api/incidents").json()["incidents"]}[repeat.id]
        card = tc.get(f"/api/incidents/{repeat.id}").json()
        evidence = tc.get(f"/api/incidents/{inc_id}").json()["evidence"]
        shown[name] = (PHONE in str(listed), PHONE in str(card), PHONE in str(evidence))
        assert str(evidence).count("phone") == 1  # masked, not removed: a pseudonym in its place
    clear, masked = (True, True, True), (False, False, False)
    assert shown == {"sup": clear, "op_medeu": masked, "analyst": masked, "admin": clear}
    tc.cookies.clear()
    login(tc, "sup")
    rows = tc.get("/api/audit", params={"user": "sup", "incident": inc_id}).json()["rows"]
    assert any(r["action"] == "view_phone" for r in rows)
    tc.cookies.clear()


def test_csrf_is_required_on_every_post(run: Running) -> None:
    tc = run.client
    tc.cookies.clear()
    csrf = login(tc, "op_medeu")
    inc_id = _ids(run)["medeu"]
    assert tc.post(f"/api/incidents/{inc_id}/actions", json={"action": "ack"}).status_code == 403
    assert act(tc, "not-the-token", inc_id, "ack").status_code == 403
    assert tc.post("/api/logout").status_code == 403
    assert act(tc, csrf, inc_id, "ack").status_code == 202
    assert tc.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert tc.get("/api/me").status_code == 401


def test_invalid_actions_are_refused(run: Running) -> None:
    tc = run.client
    tc.cookies.clear()
    csrf = login(tc, "op_medeu")
    inc_id = _ids(run)["medeu"]
    assert act(tc, csrf, inc_id, "dance").status_code == 400
    assert act(tc, csrf, inc_id, "assign").status_code == 400  # no unit
    assert act(tc, csrf, inc_id, "assign", unit_id="no-such-unit").status_code == 400
    assert act(tc, csrf, "inc-unknown", "ack").status_code == 404
    tc.cookies.clear()


def test_login_failures_are_audited_and_rate_limited(run: Running) -> None:
    tc = run.client
    tc.cookies.clear()
    for _ in range(5):
        assert tc.post("/api/login", json={"username": "analyst", "password": "wrong"}).status_code == 401
    from tests.console.api_support import PASSWORD

    assert tc.post("/api/login", json={"username": "analyst", "password": PASSWORD}).status_code == 429
    rows = run.console.audit.query(user="analyst")
    assert [r.outcome for r in rows if r.action == "login"][-6:] == ["failed"] * 5 + ["rate_limited"]
    run.console.limiter._fails.clear()


def test_sessions_expire() -> None:
    now = [1000.0]
    with console() as run:
        run.console.sessions = SessionStore(ttl_s=60, clock=lambda: now[0])
        login(run.client, "sup")
        assert run.client.get("/api/me").status_code == 200
        now[0] += 59
        assert run.client.get("/api/me").status_code == 200
        now[0] += 2
        assert run.client.get("/api/me").status_code == 401
        assert run.client.get("/api/incidents").status_code == 401


def test_users_are_the_demo_roles() -> None:
    assert {u.role for u in USERS.values()} == {"supervisor", "operator", "analyst", "admin"}
    assert by_rule({}, FIRE) == [] and gps("u", 0, "medeu")


def test_every_response_limits_what_the_page_may_load_and_the_roads_layer_is_the_citys() -> None:
    """The page loads only its own files (a CSP on every response, the live stream's too, which stays unbuffered),
    plus the tile server's images when one is configured; `--roads` puts the city's roads on the map."""
    from pathlib import Path

    from streams.console.layers import load_devices

    roads = Path(__file__).resolve().parents[2] / "streams/sim/cities/alatau/roads.geojson"
    with console() as run:
        run.console.board.roads = load_devices(roads)
        tc = run.client
        page = tc.get("/")
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        login(tc, "sup")
        layer = tc.get("/api/layers/roads").json()
        assert layer["features"] and all(f["geometry"]["type"] == "LineString" for f in layer["features"])
        run.console.tile_url = "https://tiles.example.kz/{z}/{x}/{y}.png"
        assert "img-src 'self' data: https://tiles.example.kz" in tc.get("/api/me").headers["content-security-policy"]


def test_the_board_keeps_each_cameras_latest_detection_for_the_card() -> None:
    import orjson

    from streams.console.state import Board

    board = Board()
    for line in [*fire("medeu", 0), *fire("medeu", 300)]:
        board.on_event(orjson.loads(line))
    latest = board.camera_latest["cam-medeu"]
    assert latest["type"] == "video.detection" and latest["time"] == at(300)
    assert "smoke" in latest["summary"]
