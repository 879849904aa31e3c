"""`make bench BENCH=console`: the operator console's live channel under load.

50 concurrent SSE clients (raw asyncio sockets, each its own logged-in session of the Republic supervisor, so
every client gets every message) while 200 incident and unit updates a second go into the console's Board from
the engine's output side (a thread calling Board.on_incident / on_event, as the replay and Kafka sources do).
Latency is from that call to the moment a client has read the message off its socket; p50/p99 over every
(client, message). The server runs on uvicorn in this process (a thread); the clients in a process of their own
(as browsers are), so their parsing does not compete for this one's GIL; both read the same system-wide
monotonic clock (time.perf_counter is CLOCK_MONOTONIC on Linux).
Then `first_render_ms`: the map with 500 incidents and 2,000 units in headless Chromium
(tests/console/render.py, from the UI side), or null when it cannot run here (the reason on stderr).

Env: BENCH_CONSOLE_CLIENTS (50), BENCH_CONSOLE_RATE (200 per second), BENCH_CONSOLE_SECONDS (10).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from argon2 import PasswordHasher

from schemas import AdminPath, GeoPoint, Incident
from streams.console.app import Console
from streams.console.auth import SessionStore
from streams.console.state import Board
from streams.console.users import User
from tests.console.api_support import served

CLIENTS = int(os.environ.get("BENCH_CONSOLE_CLIENTS", "50"))
RATE = float(os.environ.get("BENCH_CONSOLE_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_CONSOLE_SECONDS", "10"))
INCIDENTS, UNITS = 500, 2000
PASSWORD = "bench-pass"
DISTRICTS = ["Medeu district", "Almaly district", "Turksib district", "Auezov district", "Bostandyk district"]
T0 = datetime(2026, 11, 21, 19, tzinfo=UTC)


def _incident(i: int, version: int) -> Incident:
    lat, lon = 43.21 + (i % 25) * 0.003, 76.87 + (i // 25) * 0.005
    when = T0 + timedelta(seconds=version)
    return Incident(
        id=f"inc-{i:04d}", version=version, rule_id="fire.camera_and_call", rule_version=1, category="fire",
        status="open" if version == 1 else "updated", priority=1 + i % 5, priority_base=1 + i % 5,
        title=f"Bench incident {i}", key=f"k{i}", location=GeoPoint(lat=lat, lon=lon),
        admin=AdminPath(republic="Kazakhstan", region="Alatau", city="Alatau", district=DISTRICTS[i % 5]),
        first_time=T0, last_time=when, updated_time=when, event_ids=[f"e{i}"], event_count=1,
    )  # type: ignore[arg-type]  # fmt: skip


def _unit(u: int, n: int) -> dict[str, Any]:
    return {
        "id": f"g-{u}-{n}", "type": "unit.gps", "source": "bench", "time": (T0 + timedelta(seconds=n)).isoformat(),
        "location": {"lat": 43.21 + (u % 40) * 0.002, "lon": 76.87 + (u // 40) * 0.002},
        "admin": {"republic": "Kazakhstan", "region": "Alatau", "city": "Alatau", "district": DISTRICTS[u % 5]},
        "data": {"unit_id": f"unit-{u:04d}", "unit_type": "police", "status": "available"},
    }  # fmt: skip


def _key(event: str, data: dict[str, Any]) -> tuple[str, str]:
    return (data["id"], str(data["version"])) if event == "incident" else (data["id"], data["time"])


class Load:
    """The engine's output side: updates at a steady rate, each send time kept by its key."""

    def __init__(self, board: Board):
        self.board = board
        self.sent: dict[tuple[str, str], float] = {}
        self.versions = [0] * INCIDENTS
        self.n = 0

    def one(self) -> None:
        n = self.n
        self.n += 1
        if n % 2 == 0:  # half incidents, half units
            i = (n // 2) % INCIDENTS
            self.versions[i] += 1
            inc = _incident(i, self.versions[i])
            self.sent[(inc.id, str(inc.version))] = time.perf_counter()
            self.board.on_incident(inc)
        else:
            doc = _unit((n // 2) % UNITS, n)
            self.sent[(doc["data"]["unit_id"], doc["time"])] = time.perf_counter()
            self.board.on_event(doc)

    def preload(self) -> None:
        for i in range(INCIDENTS):
            self.versions[i] = 1
            self.board.on_incident(_incident(i, 1))
        for u in range(UNITS):
            self.board.on_event(_unit(u, 0))

    def run(self, seconds: float, stop: threading.Event) -> int:
        start = time.perf_counter()
        sent = 0
        while not stop.is_set():
            due = int((time.perf_counter() - start) * RATE)
            while sent < due:
                self.one()
                sent += 1
            if time.perf_counter() - start >= seconds:
                return sent
            time.sleep(0.002)
        return sent


Receipt = tuple[str, str, float]  # (id, version or time, perf_counter when read)


async def _client(port: int, cookie: str, got: list[Receipt], ready: asyncio.Event, count: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /api/stream HTTP/1.1\r\nHost: bench\r\nCookie: saqshy_session=%s\r\n\r\n" % cookie.encode())
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    count[0] += 1
    if count[0] == CLIENTS:
        ready.set()
    buf = b""
    try:
        while True:
            chunk = await reader.read(1 << 16)
            if not chunk:
                return
            now = time.perf_counter()
            buf += chunk
            *frames, buf = buf.split(b"\n\n")
            for f in frames:  # chunked transfer: frames arrive whole inside the chunks (one send per batch)
                ev = data = None
                for line in f.split(b"\n"):
                    if line.startswith(b"event: "):
                        ev = line[7:].decode()
                    elif line.startswith(b"data: "):
                        data = line[6:]
                if ev in ("incident", "unit") and data is not None:
                    got.append((*_key(ev, orjson.loads(data)), now))
    finally:
        writer.close()


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000 if xs else float("nan")


async def _clients(port: int, cookies: list[str], seconds: float) -> list[Receipt]:
    got: list[Receipt] = []
    ready, count = asyncio.Event(), [0]
    tasks = [asyncio.create_task(_client(port, c, got, ready, count)) for c in cookies]
    await asyncio.wait_for(ready.wait(), 30)
    print("ready", flush=True)  # the parent starts the load now
    await asyncio.sleep(seconds + 2.0)  # the load, and the last messages in flight
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return got


def clients_main(port: int, cookies: list[str], seconds: float) -> None:
    """The client process: connects every client, says "ready", then prints its receipts as one JSON line."""
    got = asyncio.run(_clients(port, cookies, seconds))
    sys.stdout.write(orjson.dumps(got).decode() + "\n")


def _measure(base: str, load: Load) -> tuple[list[float], int, float]:
    import subprocess

    port = int(base.rsplit(":", 1)[1])
    with httpx.Client(base_url=base) as http:
        cookies = [
            http.post("/api/login", json={"username": "republic", "password": PASSWORD}).cookies["saqshy_session"]
            for _ in range(CLIENTS)
        ]
    args = json.dumps([port, cookies, SECONDS])
    code = "import json, sys; from tests.bench.console import clients_main; clients_main(*json.loads(sys.argv[1]))"
    proc = subprocess.Popen([sys.executable, "-c", code, args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("the client process did not connect its clients")
    started = time.perf_counter()
    sent = load.run(SECONDS, threading.Event())
    elapsed = time.perf_counter() - started
    receipts = orjson.loads(proc.stdout.read())
    proc.wait(timeout=30)
    lat = [now - load.sent[(k, v)] for k, v, now in receipts if (k, v) in load.sent]
    return lat, sent, sent / elapsed


def _first_render(base: str) -> float | None:
    try:
        from tests.console.render import first_render_ms
    except ImportError as exc:
        print(f"first_render_ms: tests/console/render.py cannot be used here: {exc}", file=sys.stderr)
        return None
    try:
        return round(first_render_ms(base, "republic", PASSWORD), 1)
    except Exception as exc:  # no Chromium here, or the UI failed: reported, not fatal
        print(f"first_render_ms: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
        return None


def main() -> None:
    pw = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)  # 50 logins, quickly
    users = {"republic": User(name="republic", role="supervisor", scopes=[["Kazakhstan"]], password_hash=pw)}
    board = Board()
    console = Console(users=users, board=board, source=None, sessions=SessionStore(3600))
    load = Load(board)
    with served(console) as base:
        load.preload()  # the map's 500 incidents and 2,000 units, before the clients connect
        time.sleep(0.5)
        lat, sent, rate = _measure(base, load)
        dropped = console.hub.dropped_total
        render = _first_render(base)
    expected = sent * CLIENTS
    print(f"console: {len(lat)} of {expected} deliveries measured, {dropped} clients dropped", file=sys.stderr)
    out = {
        "bench": "console",
        "clients": CLIENTS,
        "updates_per_s": round(rate, 1),
        "p50_ms": round(_pct(lat, 50), 2),
        "p99_ms": round(_pct(lat, 99), 2),
        "first_render_ms": render,
        "delivered": len(lat),
        "expected": expected,
        "dropped_clients": dropped,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
