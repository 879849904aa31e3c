"""The live channel: Server-Sent Events from a hub client's queue to one browser.

A raw ASGI response rather than a streaming generator, so a client that stops reading (its socket buffer
full, `send` blocked) can still be cut off: when the hub drops it, the pump is cancelled, `dropped` is tried
for a moment, and the connection ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from streams.console.hub import Client, Hub

KEEPALIVE_S = 15.0
# After a wake-up the pump waits this long before it sends: the changes of that moment go out in one write (at
# 200 changes a second and 50 clients, a send per change is 10,000 writes a second; this makes it ~2,500)
BATCH_S = 0.01
DROP_SEND_S = 10.0  # how long a dropped client may take to read what was sent and its `dropped`


class SseResponse(Response):
    def __init__(self, hub: Hub, client: Client, backlog: list[bytes], alive: Callable[[], bool]):
        super().__init__(status_code=200, media_type="text/event-stream")
        self.hub, self.client, self.backlog, self.alive = hub, client, backlog, alive
        self.last_seq = hub.seq  # everything up to here is in the backlog or not visible to this client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self.client
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-store"),
                        (b"x-accel-buffering", b"no"),
                    ],
                }
            )
            pump = asyncio.create_task(self._pump(send))
            gone = asyncio.create_task(_disconnected(receive))
            killed = asyncio.create_task(client.killed.wait())
            done, pending = await asyncio.wait({pump, gone, killed}, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            if client.dropped is not None and gone not in done:
                await self._send_dropped(send)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(send({"type": "http.response.body", "body": b"", "more_body": False}), 1.0)
        finally:
            self.hub.unsubscribe(client)

    async def _pump(self, send: Send) -> None:
        client = self.client
        phones = client.phones
        if self.backlog:
            await send({"type": "http.response.body", "body": b"".join(self.backlog), "more_body": True})
            self.backlog = []
        else:  # the headers alone: an EventSource opens (and the client knows it is live) at once
            await send({"type": "http.response.body", "body": b": live\n\n", "more_body": True})
        while True:
            try:
                await asyncio.wait_for(client.wake.wait(), KEEPALIVE_S)
            except TimeoutError:
                if not self.alive():
                    return  # the session expired: the reconnect gets 401
                await send({"type": "http.response.body", "body": b": keepalive\n\n", "more_body": True})
                continue
            await asyncio.sleep(BATCH_S)
            client.wake.clear()
            batch, client.pending = client.pending, []
            if client.dropped is not None or not self.alive():
                return  # dropped, or the session expired (the reconnect gets 401)
            if batch:
                body = b"".join([m.frame(phones) for m in batch])
                self.last_seq = batch[-1].seq
                await send({"type": "http.response.body", "body": body, "more_body": True})
                client.sent += len(batch)

    async def _send_dropped(self, send: Send) -> None:
        reason = orjson.dumps({"reason": self.client.dropped or "dropped"})
        body = b"id: %d\nevent: dropped\ndata: %s\n\n" % (self.last_seq, reason)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(send({"type": "http.response.body", "body": body, "more_body": True}), DROP_SEND_S)


async def _disconnected(receive: Receive) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return
