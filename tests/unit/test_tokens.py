"""Bearer tokens: what a remembered signature check still refuses."""

from __future__ import annotations

import time

import jwt

from jingwu.api.auth import TokenClaims, issue_token, read_token
from jingwu.domain.access import Role
from jingwu.services.accounts import Account

SECRET = "s" * 64


def _account(version: int = 0) -> Account:
    return Account(username="dispatcher", role=Role.DISPATCHER, org_code="AD", unit_id=None, disabled=False,
                   token_version=version)


def test_a_token_reads_the_same_the_second_time() -> None:
    token = issue_token(_account(3), SECRET, ttl_s=600)
    first = read_token(token, SECRET)
    assert first is not None and first == read_token(token, SECRET)
    assert (first.username, first.token_version) == ("dispatcher", 3)


def test_a_remembered_token_still_expires() -> None:
    token = issue_token(_account(), SECRET, ttl_s=60)
    claims = read_token(token, SECRET)
    assert isinstance(claims, TokenClaims)
    assert read_token(token, SECRET, now=claims.expires - 1) == claims
    assert read_token(token, SECRET, now=claims.expires) is None  # expired at exp, as PyJWT has it
    assert read_token(token, SECRET, now=claims.expires + 3600) is None


def test_a_remembered_token_is_not_taken_under_another_secret_nor_altered() -> None:
    token = issue_token(_account(), SECRET, ttl_s=600)
    assert read_token(token, SECRET) is not None
    assert read_token(token, "t" * 64) is None
    head, body, sig = token.split(".")
    forged_body = jwt.encode({"sub": "admin", "tv": 0, "exp": int(time.time()) + 600}, "x" * 64,
                             algorithm="HS256").split(".")[1]
    assert read_token(f"{head}.{forged_body}.{sig}", SECRET) is None
    assert read_token(f"{head}.{body}.{sig[:-2]}AA", SECRET) is None


def test_an_expired_token_is_refused_on_first_sight() -> None:
    now = int(time.time())
    token = jwt.encode({"sub": "dispatcher", "tv": 0, "iat": now - 120, "exp": now - 60}, SECRET, algorithm="HS256")
    assert read_token(token, SECRET) is None
