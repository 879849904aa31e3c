"""Helpers of the console's API tests: users of every role, small hand-made event streams in two districts of
Alatau, a console on the real embedded runner and catalog, and a real uvicorn server for the live channel."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import uvicorn
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from streams.console.app import Console, create_app
from streams.console.sources import ReplaySource
from streams.console.users import User
from streams.console.wiring import replay_console

PASSWORD = "demo-pass-1"
# one argon2id hash for every test user, with the cheapest parameters: the server verifies any argon2 hash by
# the parameters written in it, and the default ones cost half a second a login on a busy test machine
_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)

CITY = ["Kazakhstan", "Alatau", "Alatau"]
MEDEU = {"republic": "Kazakhstan", "region": "Alatau", "city": "Alatau", "district": "Medeu district"}
TURKSIB = {"republic": "Kazakhstan", "region": "Alatau", "city": "Alatau", "district": "Turksib district"}
PLACES = {"medeu": (43.2389, 76.9455, MEDEU), "turksib": (43.2622, 76.9540, TURKSIB)}

USERS = {
    u.name: u
    for u in (
        User(name="sup", role="supervisor", scopes=[["Kazakhstan"]], password_hash=_HASH),
        User(name="op_medeu", role="operator", scopes=[[*CITY, "Medeu district"]], password_hash=_HASH),
        User(name="op_turksib", role="operator", scopes=[[*CITY, "Turksib district"]], password_hash=_HASH),
        User(name="analyst", role="analyst", scopes=[["Kazakhstan"]], password_hash=_HASH),
        User(name="admin", role="admin", scopes=[], password_hash=_HASH),
    )
}
T0 = datetime(2026, 11, 21, 19, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def event(eid: str, t: float, etype: str, data: dict[str, Any], place: str = "medeu") -> bytes:
    lat, lon, admin = PLACES[place]
    doc = {"id": eid, "source": "test/console", "time": at(t), "location": {"lat": lat, "lon": lon},
           "admin": admin, "type": etype, "data": data}  # fmt: skip
    return orjson.dumps(doc)


def fire(place: str, t: float, phone: str = "+77011234567") -> list[bytes]:
    """A fire seen by a camera and reported by a 112 caller a minute later: fire.camera_and_call, priority 2
    (one the catalog's dispatch.unacknowledged watches)."""
    return [
        event(f"v-{place}-{t}", t, "video.detection",
              {"camera_id": f"cam-{place}", "analytic": "smoke", "label": "smoke", "confidence": 0.9}, place),
        event(f"c-{place}-{t}", t + 60, "call.112", {"call_id": f"c-{place}-{t}", "category": "fire", "phone": phone},
              place),
    ]  # fmt: skip


def gps(unit: str, t: float, place: str, status: str = "available", kind: str = "fire") -> bytes:
    return event(f"g-{unit}-{t}", t, "unit.gps", {"unit_id": unit, "unit_type": kind, "status": status}, place)


def clock_ticks(start: float, end: float, step: float = 30.0) -> list[bytes]:
    """Unit fixes every `step` seconds in both districts: event time moves on in small steps (a file's jump of
    more than max_future would be held by the time guard until confirmed)."""
    out = []
    t = start
    while t <= end:
        out += [gps("f-medeu", t, "medeu"), gps("f-turksib", t, "turksib")]
        t += step
    return out


@dataclass
class Running:
    console: Console
    client: TestClient

    @property
    def source(self) -> ReplaySource:
        src = self.console.source
        assert isinstance(src, ReplaySource)
        return src

    def feed(self, lines: list[bytes]) -> None:
        for line in lines:
            self.source.submit(line)
        assert self.source.settle(), "the runner did not take the lines in time"

    def incidents(self) -> dict[str, Any]:
        return dict(self.console.board.incidents)


@contextmanager
def console(lines: list[bytes] | None = None, **kwargs: Any) -> Iterator[Running]:
    """A console on the real catalog and embedded runner (speed 0: as fast as it goes)."""
    c = replay_console(USERS, [], speed=0, **kwargs)
    with TestClient(create_app(c)) as tc:
        running = Running(c, tc)
        if lines:
            running.feed(lines)
        yield running


def login(tc: Any, name: str, password: str = PASSWORD) -> str:
    """Logs the client in (its cookie jar keeps the session); returns the CSRF token."""
    r = tc.post("/api/login", json={"username": name, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf"])


def act(tc: Any, csrf: str, inc_id: str, action: str, **body: Any) -> Any:
    return tc.post(f"/api/incidents/{inc_id}/actions", json={"action": action, **body}, headers={"X-CSRF-Token": csrf})


def by_rule(incidents: dict[str, Any], rule_id: str) -> list[Any]:
    return [i for i in incidents.values() if i.rule_id == rule_id]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(c: Console) -> Iterator[str]:
    """The app on a real uvicorn server on a free local port (the live channel needs real streaming)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(c), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the console's server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Complete SSE messages in `text` (comments skipped): [{"id", "event", "data"}]."""
    out = []
    for block in text.split("\n\n")[:-1]:
        msg: dict[str, Any] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            msg[name] = value
        if "event" in msg:
            msg["data"] = orjson.loads(msg["data"])
            msg["id"] = int(msg["id"]) if "id" in msg else None
            out.append(msg)
    return out
