"""Server-side sessions with expiry, CSRF tokens and a login rate limit.

A session id is a random token in an HttpOnly, SameSite=Strict cookie; the CSRF token is a second random
token the client echoes in `X-CSRF-Token` on every POST (the cookie alone never authorises a change).
Sessions live in memory: a restart logs everyone out, which is the safe failure.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from streams.console.users import User

COOKIE = "saqshy_session"
CSRF_HEADER = "x-csrf-token"


@dataclass
class Session:
    id: str
    user: User
    csrf: str
    expires: float


@dataclass
class SessionStore:
    ttl_s: float
    clock: Callable[[], float] = time.monotonic
    _by_id: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, user: User) -> Session:
        s = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), self.clock() + self.ttl_s)
        with self._lock:
            self._sweep()
            self._by_id[s.id] = s
        return s

    def get(self, session_id: str | None) -> Session | None:
        """The live session of the id; an expired one is removed (absolute expiry: no sliding renewal)."""
        if not session_id:
            return None
        with self._lock:
            s = self._by_id.get(session_id)
            if s is not None and s.expires <= self.clock():
                del self._by_id[session_id]
                return None
            return s

    def drop(self, session_id: str | None) -> None:
        with self._lock:
            self._by_id.pop(session_id or "", None)

    def _sweep(self) -> None:
        now = self.clock()
        for sid in [k for k, s in self._by_id.items() if s.expires <= now]:
            del self._by_id[sid]


def csrf_ok(session: Session, header: str | None) -> bool:
    return header is not None and secrets.compare_digest(session.csrf, header)


@dataclass
class LoginLimiter:
    """At most `max_failures` failed logins per (user name, client address) in `window_s`; then refused
    (429) until the oldest failure leaves the window. A success does not clear the count."""

    max_failures: int = 5
    window_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _fails: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        cutoff = self.clock() - self.window_s
        while q and q[0] <= cutoff:
            q.popleft()
        return q

    def blocked(self, name: str, addr: str) -> bool:
        with self._lock:
            return len(self._recent((name, addr))) >= self.max_failures

    def failed(self, name: str, addr: str) -> None:
        with self._lock:
            if len(self._fails) > 100_000:  # a flood of invented names must not grow memory without bound
                self._fails.clear()
            self._recent((name, addr)).append(self.clock())
