"""Bearer tokens (JWT, HS256) for API clients and the web; the token names the account and the
version of its credentials, so disabling a user revokes every token at once."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from jingwu.services.accounts import Account


@dataclass(frozen=True)
class TokenClaims:
    username: str
    token_version: int
    expires: float


def issue_token(account: Account, secret: str, ttl_s: int) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": account.username, "tv": account.token_version, "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, secret, algorithm="HS256")


def read_token(token: str, secret: str) -> TokenClaims | None:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "exp"]})
    except jwt.PyJWTError:
        return None
    return TokenClaims(str(claims["sub"]), int(claims.get("tv", 0)), float(claims["exp"]))
