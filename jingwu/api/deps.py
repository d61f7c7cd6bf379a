"""FastAPI dependencies as ``Annotated`` aliases: who is acting, and the use-case dependencies."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket
from fastapi.security import OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from jingwu.api.auth import TokenClaims, read_token
from jingwu.api.runtime import Runtime
from jingwu.domain.access import Actor
from jingwu.services.accounts import actor_for, get_account
from jingwu.services.dependencies import Dependencies
from jingwu.store.unit_of_work import read_connection

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)
ACCOUNT_CACHE_S = 5.0


# The dependencies are ``async def`` so that FastAPI runs them on the event loop: a plain ``def``
# dependency is sent to the thread pool, a thread hop per dependency per request (~0.1 ms of
# server CPU each: GET /api/incident-types went from 0.93 to 0.70 ms). Only the account lookup on
# a cache miss blocks, and that goes to the thread pool.


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return _runtime(request)


def _unauthorised(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=[{"field": "Authorization", "message": message}],
                         headers={"WWW-Authenticate": "Bearer"})


def _claims(runtime: Runtime, token: str | None) -> TokenClaims:
    if not token:
        raise _unauthorised("log in first: send Authorization: Bearer <token>")
    claims = read_token(token, runtime.settings.secret_key)
    if claims is None:
        raise _unauthorised("the token is invalid or has expired")
    return claims


def _cache(runtime: Runtime) -> dict[str, tuple[float, Actor | None, int]]:
    cache: dict[str, tuple[float, Actor | None, int]] = runtime.extras.setdefault("actor_cache", {})
    return cache


def _known_actor(runtime: Runtime, claims: TokenClaims) -> Actor | None:
    """The actor from the account cache (read at most ``ACCOUNT_CACHE_S`` ago), or None to look up."""
    hit = _cache(runtime).get(claims.username)
    if hit is None or time.monotonic() - hit[0] > ACCOUNT_CACHE_S:
        return None
    return _checked(hit, claims)


def _checked(hit: tuple[float, Actor | None, int], claims: TokenClaims) -> Actor:
    _at, actor, version = hit
    if actor is None or version != claims.token_version:
        raise _unauthorised("the account is disabled or the token was revoked")
    return actor


def _look_up(runtime: Runtime, claims: TokenClaims) -> Actor:
    now = time.monotonic()
    with read_connection(runtime.engine) as conn:
        account = get_account(conn, claims.username)
    if account is None or account.disabled or account.org_code not in runtime.deps.org:
        hit: tuple[float, Actor | None, int] = (now, None, -1)
    else:
        hit = (now, actor_for(account, runtime.deps.org), account.token_version)
    _cache(runtime)[claims.username] = hit
    return _checked(hit, claims)


def actor_from_token(runtime: Runtime, token: str | None) -> Actor:
    claims = _claims(runtime, token)
    known = _known_actor(runtime, claims)
    return known if known is not None else _look_up(runtime, claims)


async def current_actor(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Actor:
    if not token:
        token = request.cookies.get("jingwu_token")
    runtime = _runtime(request)
    claims = _claims(runtime, token)
    known = _known_actor(runtime, claims)
    if known is not None:
        return known
    looked_up: Actor = await run_in_threadpool(_look_up, runtime, claims)
    return looked_up


def socket_actor(websocket: WebSocket) -> Actor:
    """The actor of a WebSocket: ``?token=`` (API clients) or the cookie (the web UI).

    Browsers send cookies on cross-site WebSocket handshakes too, and no CORS rule stops them, so a
    cookie-authenticated socket must come from this server's own origin.
    """
    token = websocket.query_params.get("token")
    if not token:
        token = websocket.cookies.get("jingwu_token")
        origin = websocket.headers.get("origin")
        if token and origin:
            scheme = "https" if websocket.url.scheme == "wss" else "http"
            if origin.rstrip("/").lower() != f"{scheme}://{websocket.headers.get('host', '')}".lower():
                raise _unauthorised("the WebSocket comes from another origin")
    runtime: Runtime = websocket.app.state.runtime
    return actor_from_token(runtime, token)


async def get_deps(request: Request) -> Dependencies:
    return _runtime(request).deps


async def request_id(request: Request) -> str:
    """The id the security middleware gave this request (a sane ``X-Request-ID``, or a new one)."""
    rid = request.scope.get("state", {}).get("request_id")
    return str(rid) if rid else uuid.uuid4().hex


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ActorDep = Annotated[Actor, Depends(current_actor)]
DepsDep = Annotated[Dependencies, Depends(get_deps)]
RequestIdDep = Annotated[str, Depends(request_id)]
