"""The console's HTTP app (Starlette): the contract of docs/console.md.

Every read and every live message is filtered on the server by the user's scopes; phones are masked for
roles that may not see them; every state change needs the session's CSRF token; logins, actions and views
of clear phones are audited."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from schemas import Incident, IncidentStatus
from streams.console.audit import AuditLog
from streams.console.auth import COOKIE, CSRF_HEADER, LoginLimiter, Session, SessionStore, csrf_ok
from streams.console.hub import Hub
from streams.console.layers import layer
from streams.console.state import Board, personal
from streams.console.stream import SseResponse
from streams.console.users import ScopeFilter, User, verify

STATIC = Path(__file__).resolve().parent / "static"
ACTIONS = ("ack", "assign", "arrive", "close")


class Source(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def now(self) -> datetime: ...
    def submit(self, event: bytes) -> None: ...


@dataclass
class Console:
    users: dict[str, User]
    board: Board
    source: Source | None
    sessions: SessionStore
    audit: AuditLog = field(default_factory=AuditLog)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    hub: Hub = field(default_factory=Hub)
    tile_url: str | None = None
    secure_cookie: bool = False
    loop: asyncio.AbstractEventLoop | None = None  # the server's, once it runs: the hub lives on it

    def __post_init__(self) -> None:
        self.hub.snapshot = self.board.snapshot


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _err(status: int, message: str) -> JSON:
    return JSON({"error": message}, status_code=status)


def create_app(console: Console) -> Starlette:
    c = console

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = c.loop = asyncio.get_running_loop()
        hub = c.hub

        def emit(kind: str, path: tuple[str, ...], clear: bytes, masked: bytes) -> None:
            loop.call_soon_threadsafe(hub.publish, kind, path, clear, masked)

        c.board.emit = emit
        if c.source is not None:
            c.source.start()
        try:
            yield
        finally:
            if c.source is not None:
                c.source.stop()
            c.audit.close()

    def session(request: Request) -> Session:
        s = c.sessions.get(request.cookies.get(COOKIE))
        if s is None:
            raise HTTPException(401, "not logged in or the session expired")
        return s

    def changing(request: Request) -> Session:
        s = session(request)
        if not csrf_ok(s, request.headers.get(CSRF_HEADER)):
            c.audit.append(s.user.name, s.user.role, "csrf", outcome="refused", client=_addr(request))
            raise HTTPException(403, "missing or wrong X-CSRF-Token")
        return s

    def me_body(s: Session) -> dict[str, Any]:
        return {"user": s.user.public(), "csrf": s.csrf}

    async def login(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
            name, password = str(body["username"]), str(body["password"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _err(400, 'expected {"username": ..., "password": ...}')
        addr = _addr(request)
        user = c.users.get(name)
        role = user.role if user else ""
        if c.limiter.blocked(name, addr):
            c.audit.append(name, role, "login", outcome="rate_limited", client=addr)
            return _err(429, "too many failed logins; wait a minute")
        ok = await asyncio.to_thread(verify, user, password)  # argon2 takes ~50 ms: off the loop
        if not ok or user is None:
            c.limiter.failed(name, addr)
            c.audit.append(name, role, "login", outcome="failed", client=addr)
            return _err(401, "wrong user name or password")
        s = c.sessions.create(user)
        c.audit.append(name, user.role, "login", client=addr)
        resp = JSON(me_body(s))
        resp.set_cookie(
            COOKIE, s.id, max_age=int(c.sessions.ttl_s), httponly=True, samesite="strict", secure=c.secure_cookie
        )
        return resp

    async def logout(request: Request) -> Response:
        s = changing(request)
        c.sessions.drop(s.id)
        c.audit.append(s.user.name, s.user.role, "logout", client=_addr(request))
        resp = JSON({"ok": True})
        resp.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return resp

    async def me(request: Request) -> Response:
        return JSON(me_body(session(request)))

    async def config(request: Request) -> Response:
        session(request)
        return JSON({"tile_url": c.tile_url})

    async def layers(request: Request) -> Response:
        session(request)
        name = request.path_params["name"]
        with c.board.lock:
            doc = layer(c.board, name)
        if doc is None:
            return _err(404, f"no layer {name!r}")
        return JSON(doc)

    async def incidents(request: Request) -> Response:
        s = session(request)
        visible, phones = ScopeFilter(s.user).visible, s.user.can_see_phones
        seq = c.hub.seq  # read before the state: a change in between comes again on the stream, never missed
        with c.board.lock:
            docs = [clear if phones else masked for path, clear, masked in c.board.docs.values() if visible(path)]
        body = b'{"seq":%d,"incidents":[%s]}' % (seq, b",".join(docs))
        return Response(body, media_type="application/json")

    async def units(request: Request) -> Response:
        s = session(request)
        visible = ScopeFilter(s.user).visible
        seq = c.hub.seq
        with c.board.lock:
            out = [u for k, u in c.board.units.items() if visible(c.board.unit_paths.get(k, ()))]
        return JSON({"seq": seq, "units": out})

    def visible_incident(s: Session, inc_id: str) -> Incident | None:
        inc = c.board.incidents.get(inc_id)
        if inc is None or not ScopeFilter(s.user).visible(c.board.path_of(inc_id)):
            return None
        return inc

    async def card(request: Request) -> Response:
        s = session(request)
        inc_id = request.path_params["id"]
        with c.board.lock:
            inc = visible_incident(s, inc_id)
            if inc is None:
                return _err(404, "no such incident in your scopes")
            body, restricted = card_of(c.board, inc, s.user)
        if restricted and s.user.can_see_phones:  # a view of restricted fields
            c.audit.append(s.user.name, s.user.role, "view_phone", inc_id, client=_addr(request))
        return JSON(body)

    async def act(request: Request) -> Response:
        s = changing(request)
        inc_id = request.path_params["id"]
        user, addr = s.user, _addr(request)

        def refuse(status: int, outcome: str, message: str, action: str = "action") -> Response:
            c.audit.append(user.name, user.role, action, inc_id, outcome=outcome, detail=message, client=addr)
            return _err(status, message)

        try:
            body = orjson.loads(await request.body())
            action = body["action"]
            unit_id, reason = body.get("unit_id"), body.get("reason")
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return refuse(400, "invalid", 'expected {"action": ..., "unit_id"?: ..., "reason"?: ...}')
        if action not in ACTIONS:
            return refuse(400, "invalid", f"action must be one of {', '.join(ACTIONS)}")
        if not isinstance(unit_id, str | None) or not isinstance(reason, str | None):
            return refuse(400, "invalid", "unit_id and reason are strings", action)
        if not user.can_act:
            return refuse(403, "refused", f"role {user.role} may not act on incidents", action)
        with c.board.lock:
            inc = c.board.incidents.get(inc_id)
            if inc is None:
                return refuse(404, "invalid", "no such incident", action)
            if visible_incident(s, inc_id) is None:
                return refuse(403, "refused", "the incident is outside your scopes", action)
            if inc.status == IncidentStatus.CLOSED:
                return refuse(409, "conflict", "the incident is closed", action)
            unit = c.board.units.get(unit_id) if unit_id else None
        if action in ("assign", "arrive") and unit is None:
            return refuse(400, "invalid", f"{action} needs the unit_id of a known unit", action)
        if action == "close" and not (reason or "").strip():
            return refuse(400, "invalid", "close needs a reason", action)
        if c.source is None:
            return refuse(503, "failed", "no engine connected", action)
        from streams.console.sources import action_event, on_scene_event

        when = c.source.now()
        event = action_event(inc_id, action, user.name, when, inc, unit_id, reason)
        c.source.submit(orjson.dumps(event))
        c.board.on_action(event)
        if action == "arrive" and unit is not None:
            gps = on_scene_event(unit, inc_id, when)
            c.source.submit(orjson.dumps(gps))
        detail = " ".join(x for x in (event["id"], unit_id or "", reason or "") if x)
        c.audit.append(user.name, user.role, action, inc_id, detail=detail, client=addr)
        return JSON({"event_id": event["id"]}, status_code=202)

    async def stream(request: Request) -> Response:
        s = session(request)
        since = _since(request)
        client, backlog = c.hub.subscribe(s.user, since)
        sessions, sid = c.sessions, s.id
        return SseResponse(c.hub, client, backlog, lambda: sessions.get(sid) is not None)

    async def audit(request: Request) -> Response:
        s = session(request)
        if not s.user.can_audit:
            return _err(403, f"role {s.user.role} may not read the audit log")
        q = request.query_params
        try:
            since = _time(q.get("since"))
            until = _time(q.get("until"))
            limit = int(q.get("limit", "1000"))
        except ValueError as exc:
            return _err(400, str(exc))
        rows = c.audit.query(q.get("user"), q.get("incident"), since, until, max(1, min(limit, 10_000)))
        visible = ScopeFilter(s.user).visible
        with c.board.lock:  # rows about an incident outside the user's scopes are not its to read
            rows = [r for r in rows if not r.incident_id or visible(c.board.path_of(r.incident_id))]
        return JSON({"rows": [r.as_json() for r in rows]})

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _err(exc.status_code, str(exc.detail))

    routes = [
        Route("/", index),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
        Route("/api/me", me),
        Route("/api/config", config),
        Route("/api/layers/{name}", layers),
        Route("/api/incidents", incidents),
        Route("/api/incidents/{id}", card),
        Route("/api/incidents/{id}/actions", act, methods=["POST"]),
        Route("/api/units", units),
        Route("/api/stream", stream),
        Route("/api/audit", audit),
        Mount("/static", StaticFiles(directory=STATIC, check_dir=False)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    return SecurityHeaders(app, lambda: c.tile_url)  # type: ignore[return-value]


class SecurityHeaders:
    """Pure ASGI (the live stream must not be buffered): every response says the page may load only its own
    files (and the configured tile server's images), may not be framed, and is not sniffed."""

    def __init__(self, app: Any, tile_url: Any) -> None:
        self.app, self.tile_url = app, tile_url

    def __getattr__(self, name: str) -> Any:  # routes, state, ... of the wrapped Starlette app
        return getattr(self.app, name)

    def _policy(self) -> bytes:
        img = "'self' data:"
        url = self.tile_url()
        if url:
            from urllib.parse import urlsplit

            parts = urlsplit(url.replace("{", "").replace("}", ""))
            if parts.scheme and parts.netloc:
                img += f" {parts.scheme}://{parts.netloc}"
        return (f"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src {img}; frame-ancestors 'none'").encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self._policy()

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"content-security-policy", policy),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


def card_of(board: Board, inc: Incident, user: User) -> tuple[dict[str, Any], bool]:
    """The card, and whether it holds personal data (clear for roles that may see it, pseudonyms otherwise)."""
    from rules.privacy import redact_incident

    restricted = personal(inc)
    shown = inc if user.can_see_phones or not restricted else redact_incident(inc, board.privacy)
    ctx = inc.context
    unit_status = {k: u.get("status") for k, u in board.units.items()}
    evidence = []
    for e in (board.evidence[e] for e in inc.event_ids if e in board.evidence):
        if "phone" in e:
            restricted = True
            if not user.can_see_phones:
                e = {**e, "phone": board.privacy.pseudonymise_phone(e["phone"])}
        evidence.append(e)
    evidence.sort(key=lambda e: e["time"])
    body = {
        "incident": shown.model_dump(mode="json"),
        "evidence": evidence,
        "priority_terms": [t.model_dump(mode="json") for t in inc.priority_terms],
        "context": {
            "admin_path": [n for n in (inc.admin or (ctx.admin if ctx else None) or _NO_ADMIN).as_tuple() if n],
            "history": [h.model_dump(mode="json") for h in ctx.history] if ctx else [],
            "cameras": [
                {**h.model_dump(mode="json"), "latest": board.camera_latest.get(h.camera_id)}
                for h in (ctx.cameras if ctx else [])
            ],
            "units": [
                {
                    "id": u.unit_id,
                    "kind": str(u.unit_type),
                    "status": unit_status.get(u.unit_id),
                    "distance_m": u.distance_m,
                    "eta_s": u.eta_s,
                }
                for u in (ctx.units if ctx else [])
            ],
        },
        "playbook": {
            "name": board.playbook_name(inc.rule_id),
            "steps": [p.model_dump(mode="json", exclude_none=True) for p in inc.playbook],
        },
        "alerts": board.alerts.get(inc.id, []),
        "actions": board.actions.get(inc.id, []),
    }
    return body, restricted


def _addr(request: Request) -> str:
    return request.client.host if request.client else ""


def _since(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("since")
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def _time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"{raw!r} needs an offset (e.g. Z)")
    return when


class _NoAdmin:
    def as_tuple(self) -> tuple[str | None, ...]:
        return ()


_NO_ADMIN: Any = _NoAdmin()
