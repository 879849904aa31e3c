"""The live channel over a real uvicorn server: a reconnect misses nothing (Last-Event-ID), a client further
behind than the hub's log gets a full resync, a slow client is dropped without slowing the others, and every
message is filtered by the user's scopes."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest

from streams.console.hub import Hub
from streams.console.users import ScopeFilter
from tests.console.api_support import (
    PASSWORD,
    USERS,
    Running,
    clock_ticks,
    console,
    fire,
    parse_sse,
    served,
)


@contextmanager
def _session(base: str, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.post("/api/login", json={"username": name, "password": PASSWORD}).status_code == 200
        yield http


def _quiet(run: Running) -> int:
    """The hub's seq once the runner is idle and every change it made has been published: the loop runs the
    hand-overs in order, so a no-op scheduled after them runs after them."""
    assert run.source.settle()
    loop = run.console.loop
    assert loop is not None
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(timeout=10)
    return run.console.hub.seq


def _read(http: httpx.Client, until_seq: int, headers: dict[str, str] | None = None, since: int | None = None
          ) -> list[dict[str, Any]]:  # fmt: skip
    """Messages of one connection, read until one with id >= until_seq arrives; then the connection is closed."""
    params = {"since": since} if since is not None else {}
    got: list[dict[str, Any]] = []
    buf = ""
    with http.stream("GET", "/api/stream", params=params, headers=headers or {}) as r:
        assert r.status_code == 200
        for chunk in r.iter_text():
            buf += chunk
            done, _, buf = buf.rpartition("\n\n")
            if done:
                got += parse_sse(done + "\n\n")
            if got and got[-1]["id"] >= until_seq:
                return got
    raise AssertionError(f"the stream ended at {got[-1]['id'] if got else None}, before {until_seq}")


def _visible(run: Running, name: str, after: int) -> list[int]:
    visible = ScopeFilter(USERS[name]).visible
    return [m.seq for m in run.console.hub.log if m.seq > after and visible(m.path)]


@pytest.fixture
def run() -> Iterator[Running]:
    with console(fire("medeu", 0) + fire("turksib", 0)) as r:
        yield r


def test_a_reconnect_gets_every_change_it_missed_and_only_its_scope(run: Running) -> None:
    with served(run.console) as base, _session(base, "op_medeu") as http:
        start = http.get("/api/incidents").json()["seq"]
        seq = _quiet(run)
        run.feed(clock_ticks(60, 150))  # units move, incidents open in both districts
        end1 = _quiet(run)
        first_part = _visible(run, "op_medeu", start)
        got = _read(http, first_part[-1], since=start)
        # the connection drops; meanwhile more changes, in both districts
        run.feed(fire("medeu", 200) + fire("turksib", 200) + clock_ticks(160, 300))
        end2 = _quiet(run)
        wanted = _visible(run, "op_medeu", start)
        assert wanted[-1] > got[-1]["id"] and end2 > end1 >= seq
        got += _read(http, wanted[-1], headers={"Last-Event-ID": str(got[-1]["id"])}, since=start)
        assert [m["id"] for m in got] == wanted  # every visible change, once, in order
        turksib_units = [m for m in got if m["event"] == "unit" and m["data"]["id"] == "f-turksib"]
        turksib_incidents = [m for m in got if m["event"] == "incident" and "Turksib" in str(m["data"]["admin"])]
        assert not turksib_units and not turksib_incidents
        assert {m["event"] for m in got} >= {"incident", "unit"}


def test_a_client_behind_the_log_gets_a_full_resync(run: Running) -> None:
    run.console.hub.log = deque(run.console.hub.log, maxlen=5)
    run.feed(clock_ticks(60, 150))
    seq = _quiet(run)
    with served(run.console) as base, _session(base, "op_medeu") as http:
        got = _read(http, seq, since=1)
        assert {m["id"] for m in got} == {seq}  # a snapshot as of now
        incidents = {m["data"]["id"] for m in got if m["event"] == "incident"}
        listed = {i["id"] for i in http.get("/api/incidents").json()["incidents"]}
        assert incidents == listed and listed
        assert {m["data"]["id"] for m in got if m["event"] == "unit"} == {"f-medeu"}


def test_a_slow_client_is_dropped_and_the_others_get_everything(run: Running) -> None:
    c = run.console
    c.hub = Hub(queue_size=1000, snapshot=c.board.snapshot)
    with served(c) as base, _session(base, "sup") as fast:
        cookie = fast.cookies["saqshy_session"]
        port = int(base.rsplit(":", 1)[1])
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # it reads nothing for now
        slow.connect(("127.0.0.1", port))
        slow.sendall(b"GET /api/stream HTTP/1.1\r\nHost: x\r\nCookie: saqshy_session=%s\r\n\r\n" % cookie.encode())
        while len(c.hub.clients) < 1:
            time.sleep(0.01)
        (slow_client,) = c.hub.clients
        start = c.hub.seq
        received: list[dict[str, Any]] = []
        reader = threading.Thread(target=lambda: received.extend(_read(fast, start + 3000, since=start)))
        reader.start()
        while len(c.hub.clients) < 2:
            time.sleep(0.01)
        (fast_client,) = c.hub.clients - {slow_client}
        body = orjson.dumps({"id": "u-big", "pad": "x" * 8000})
        for _ in range(60):  # 3,000 messages of 8 kB: 24 MB, far more than the slow socket holds
            while len(fast_client.pending) > 200:  # the reading client keeps up (a loaded test machine aside)
                time.sleep(0.005)
            for _ in range(50):
                c.board.emit("unit", ("kazakhstan",), body, body)
            time.sleep(0.005)
        reader.join(timeout=60)
        assert [m["id"] for m in received] == list(range(start + 1, start + 3001))
        assert slow_client.dropped is not None and fast_client.dropped is None and c.hub.dropped_total == 1
        slow.settimeout(15)
        data = b""
        while chunk := slow.recv(1 << 16):
            data += chunk
        slow.close()
        assert b"event: dropped" in data and b"too slow" in data
