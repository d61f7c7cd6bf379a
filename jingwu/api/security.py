"""The HTTP security layer around every route: request ids, security headers, CSRF, rate limits.

One ASGI middleware so the order is plain to read: rate limit → CSRF → the app → headers.

- **Request id**: ``X-Request-ID`` if the client sent a sane one, else a new one; it is echoed in the
  response and written into every audit record of the request.
- **Headers**: a CSP without inline scripts, ``frame-ancestors 'none'``, nosniff, no referrer,
  ``Cache-Control: no-store`` on the API, HSTS and ``Secure`` cookies when the request came over TLS.
- **CSRF**: the web UI authenticates with the httpOnly ``SameSite=Strict`` cookie; an unsafe request
  (POST, PUT, PATCH, DELETE) that carries that cookie and no bearer token must also carry the header
  ``X-Requested-With`` (any value; the UI sends ``jingwu``), which a cross-site form cannot send
  and a cross-site script cannot send without a CORS preflight that jingwu never grants; and if it
  has an ``Origin``, the origin must be this server. API clients with ``Authorization: Bearer`` are exempt.
- **Rate limits**: token buckets kept in this process (per node: several nodes behind a load
  balancer each allow the rate; a shared limiter would need Redis). Logins are limited per
  (user name, client address) and per client address; API requests without credentials per address.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jingwu.config import Settings
from jingwu.store.audit_chain import current_request_id

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "x-requested-with"
COOKIE = "jingwu_token"
LOGIN_PATH = "/api/auth/token"
DOCS_PATHS = ("/docs", "/redoc")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def content_security_policy(settings: Settings, docs: bool = False) -> str:
    img = ["'self'", "data:", "blob:"]
    if settings.tile_url:
        parts = urlsplit(settings.tile_url)
        host = parts.netloc.replace("{s}.", "*.")
        if parts.scheme in ("http", "https") and host and "{" not in host:
            img.append(f"{parts.scheme}://{host}")
    if docs:  # FastAPI's /docs and /redoc load their script from a CDN and start it inline.
        cdn = "https://cdn.jsdelivr.net"
        return (f"default-src 'self'; script-src 'self' 'unsafe-inline' {cdn}; style-src 'self' 'unsafe-inline' "
                f"{cdn}; img-src 'self' data: https://fastapi.tiangolo.com; worker-src blob:; "
                "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src {' '.join(img)}; connect-src 'self'; font-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class TokenBucket:
    """``rate`` tokens a second up to ``burst``, per key; a request takes one or is refused."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 50_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_keys = max_keys
        self._state: dict[object, tuple[float, float]] = {}

    def take(self, key: object) -> float:
        """0 if allowed, else the seconds to wait for the next token."""
        now = self.clock()
        tokens, last = self._state.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else 3600.0
        if len(self._state) >= self.max_keys and key not in self._state:
            self._prune(now)
        self._state[key] = (tokens - 1.0, now)
        return 0.0

    def _prune(self, now: float) -> None:
        """Forget keys whose bucket has refilled (they are as good as new); at worst forget all."""
        full = [k for k, (tok, last) in self._state.items() if tok + (now - last) * self.rate >= self.burst]
        for k in full:
            del self._state[k]
        if len(self._state) >= self.max_keys:
            self._state.clear()


@dataclass
class Limits:
    login_per_user: TokenBucket
    login_per_address: TokenBucket
    anonymous: TokenBucket

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(TokenBucket(s.login_rate_per_minute, s.login_burst),
                   TokenBucket(s.login_rate_per_minute * 5, s.login_burst * 5),
                   TokenBucket(s.public_rate_per_minute, s.public_burst))


def _refusal(status: int, field: str, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> list[Message]:
    body = json.dumps({"detail": [{"field": field, "message": message}]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return [{"type": "http.response.start", "status": status, "headers": headers + (extra or [])},
            {"type": "http.response.body", "body": body}]


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.csp = content_security_policy(settings).encode()
        self.docs_csp = content_security_policy(settings, docs=True).encode()
        self.limits = Limits.from_settings(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        rid = headers.get("x-request-id", "")
        rid = rid if _REQUEST_ID.match(rid) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = current_request_id.set(rid)
        try:
            await self._handle(scope, receive, self._decorate(scope, send, rid), headers)
        finally:
            current_request_id.reset(token)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        method = scope["method"]
        address = (scope.get("client") or ("unknown", 0))[0]
        bearer = headers.get("authorization", "").lower().startswith("bearer ")
        cookie = f"{COOKIE}=" in headers.get("cookie", "")
        if self.settings.rate_limits and method == "POST" and scope["path"] == LOGIN_PATH:
            body, receive = await _buffer(receive, self.settings.max_body_bytes)
            username = (parse_qs(body.decode("utf-8", "replace")).get("username") or [""])[0][:64].lower()
            wait = max(self.limits.login_per_address.take(address),
                       self.limits.login_per_user.take((username, address)))
            if wait:
                await _send_all(send, _refusal(429, "username", "too many login attempts; wait and retry",
                                               [(b"retry-after", str(int(wait) + 1).encode())]))
                return
        elif self.settings.rate_limits and not bearer and not cookie and scope["path"].startswith("/api/"):
            wait = self.limits.anonymous.take(address)
            if wait:
                await _send_all(send, _refusal(429, "client", "too many requests; wait and retry",
                                               [(b"retry-after", str(int(wait) + 1).encode())]))
                return
        if method in UNSAFE and cookie and not bearer:
            problem = self._csrf_problem(scope, headers)
            if problem:
                await _send_all(send, _refusal(403, "csrf", problem))
                return
        await self.app(scope, receive, send)

    def _csrf_problem(self, scope: Scope, headers: dict[str, str]) -> str | None:
        # Logging in does not use the cookie's authority: it needs no header, only the origin check.
        if not headers.get(CSRF_HEADER) and scope["path"] != LOGIN_PATH:
            return "cookie-authenticated requests must send the X-Requested-With header"
        origin = headers.get("origin")
        if origin:
            own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
            if origin.rstrip("/").lower() != own.lower():
                return "the request comes from another origin"
        return None

    def _decorate(self, scope: Scope, send: Send, rid: str) -> Send:
        https = scope.get("scheme") == "https"
        path: str = scope["path"]
        csp = self.docs_csp if path.startswith(DOCS_PATHS) else self.csp

        async def decorated(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = [(k, v) for k, v in message.get("headers", [])]
                names = {k.lower() for k, _ in out}

                def add(name: bytes, value: bytes) -> None:
                    if name not in names:
                        out.append((name, value))

                add(b"x-request-id", rid.encode())
                add(b"content-security-policy", csp)
                add(b"x-content-type-options", b"nosniff")
                add(b"referrer-policy", b"no-referrer")
                add(b"x-frame-options", b"DENY")
                add(b"cross-origin-opener-policy", b"same-origin")
                add(b"permissions-policy", b"camera=(), microphone=(), geolocation=(self)")
                if path.startswith("/api/"):
                    add(b"cache-control", b"no-store")
                if https:
                    add(b"strict-transport-security", b"max-age=31536000; includeSubDomains")
                    out = [(k, v + b"; Secure") if k.lower() == b"set-cookie" and b"secure" not in v.lower() else (k, v)
                           for k, v in out]
                message = {**message, "headers": out}
            await send(message)

        return decorated


async def _buffer(receive: Receive, limit: int) -> tuple[bytes, Receive]:
    """Read the whole body (at most ``limit`` bytes are kept) and a receive that replays it."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _send_all(send: Send, messages: list[Message]) -> None:
    for m in messages:
        await send(m)
