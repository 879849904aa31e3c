"""The live hub: every visible change gets a sequence number and goes to each client's bounded queue.

Runs on the event loop's thread only (sources hand changes over with `loop.call_soon_threadsafe`).
- Each client has its own bounded queue (a list and a wake-up event: cheaper than an asyncio.Queue when one
  change goes to fifty clients). A client whose queue is full (it reads slower than changes come) is sent
  `dropped` and disconnected: the others never wait for it. Its EventSource reconnects on its own.
- The last `log_size` messages stay in memory. A client that reconnects with `Last-Event-ID` (or `?since=`)
  gets every message after that seq it may see. One further behind than the log gets a full resync instead:
  the current version of every incident and unit it may see (the versions in between are gone; the latest
  state is complete), each with the current seq as its id.
- Filtering is per client: a message carries the admin path (slugs) of what it is about and two renderings,
  clear and with phones masked; a client gets the one its role may see.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from streams.console.users import ScopeFilter, User

KINDS = ("incident", "unit", "alert", "action")


@dataclass(slots=True)
class Message:
    seq: int
    kind: str
    path: tuple[str, ...]
    clear: bytes  # the whole SSE frame
    masked: bytes
    at: float  # perf_counter when published: the benchmark's start of latency

    def frame(self, phones: bool) -> bytes:
        return self.clear if phones else self.masked


def frame(seq: int, kind: str, body: bytes) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind.encode(), body)


@dataclass(eq=False)
class Client:
    user: User
    limit: int  # messages waiting before the client counts as too slow
    pending: list[Message] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # set when pending turns non-empty
    filter: ScopeFilter = field(init=False)
    dropped: str | None = None
    sent: int = 0
    killed: asyncio.Event = field(default_factory=asyncio.Event)  # set when dropped: ends its response

    def __post_init__(self) -> None:
        self.filter = ScopeFilter(self.user)

    @property
    def phones(self) -> bool:
        return self.user.can_see_phones


# (kind, path, clear json, masked json) of each current incident and unit: what a full resync sends
Snapshot = Callable[[], Iterator[tuple[str, tuple[str, ...], bytes, bytes]]]


class Hub:
    def __init__(self, log_size: int = 20_000, queue_size: int = 2_000, snapshot: Snapshot | None = None):
        self.seq = 0
        self.log: deque[Message] = deque(maxlen=log_size)
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self.snapshot = snapshot
        self.dropped_total = 0

    def publish(self, kind: str, path: tuple[str, ...], clear: bytes, masked: bytes | None = None) -> Message:
        self.seq += 1
        seq = self.seq
        c = frame(seq, kind, clear)
        msg = Message(seq, kind, path, c, c if masked is None or masked == clear else frame(seq, kind, masked), 0.0)
        msg.at = time.perf_counter()
        self.log.append(msg)
        for client in self.clients:
            if client.dropped is None and client.filter.visible(path):
                pending = client.pending
                if len(pending) >= client.limit:
                    self._drop(client, f"too slow: more than {client.limit} changes waiting")
                    continue
                pending.append(msg)
                if len(pending) == 1:
                    client.wake.set()
        return msg

    def _drop(self, client: Client, reason: str) -> None:
        client.dropped = reason
        self.dropped_total += 1
        client.pending = []
        client.killed.set()

    def subscribe(self, user: User, since: int | None) -> tuple[Client, list[bytes]]:
        """A new client and the frames it missed after `since` (none when it starts fresh). Registering and
        reading the log happen with no await in between, so no change falls between the two."""
        client = Client(user, self.queue_size)
        self.clients.add(client)
        return client, self.backlog(client, since)

    def backlog(self, client: Client, since: int | None) -> list[bytes]:
        if since is None or since >= self.seq:
            return []
        phones, visible = client.phones, client.filter.visible
        log = self.log
        if since >= 0 and log and log[0].seq <= since + 1:
            start = len(log) - (self.seq - since)  # seqs in the log are consecutive
            return [m.frame(phones) for m in list(log)[max(start, 0) :] if visible(m.path)]
        return self.resync(client)

    def resync(self, client: Client) -> list[bytes]:
        if self.snapshot is None:
            return []
        out = []
        for kind, path, clear, masked in self.snapshot():
            if client.filter.visible(path):
                out.append(frame(self.seq, kind, clear if client.phones else masked))
        return out

    def unsubscribe(self, client: Client) -> None:
        self.clients.discard(client)
