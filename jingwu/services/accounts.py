"""Accounts: people with a role and an org unit. Passwords are argon2 hashes; logins are audited and
repeated failures lock the account for a growing delay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, insert, select, update

from jingwu.domain.access import Actor, Role
from jingwu.domain.errors import Conflict, DomainError
from jingwu.domain.org import OrgTree
from jingwu.store import tables as t

_hasher = PasswordHasher()
MIN_PASSWORD = 10
LOCK_AFTER = 5


@dataclass(frozen=True)
class Account:
    username: str
    role: Role
    org_code: str
    unit_id: str | None
    disabled: bool
    token_version: int


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise DomainError(f"password must have at least {MIN_PASSWORD} characters", field="password")
    if password.isdigit() or (password.lower() == password and password.isalpha()):
        raise DomainError("password must mix letters with digits, capitals or symbols", field="password")


def add_user(conn: Connection, org: OrgTree, username: str, password: str, role: Role, org_code: str,
             now: datetime, unit_id: str | None = None) -> Account:
    if not username or not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise DomainError("username must be letters, digits, '.', '_' or '-'", field="username")
    if org_code not in org:
        raise DomainError(f"unknown org unit {org_code!r}", field="org")
    check_password_rules(password)
    if conn.execute(select(t.users.c.username).where(t.users.c.username == username)).first():
        raise Conflict(f"user {username!r} already exists", field="username")
    conn.execute(insert(t.users).values(
        username=username, password_hash=_hasher.hash(password), role=role.value, org_code=org_code,
        unit_id=unit_id, disabled=False, token_version=0, failed_logins=0, created_at=now,
        password_changed_at=now))
    return Account(username, role, org_code, unit_id, False, 0)


def get_account(conn: Connection, username: str) -> Account | None:
    r = conn.execute(select(t.users).where(t.users.c.username == username)).first()
    if r is None:
        return None
    return Account(r.username, Role(r.role), r.org_code, r.unit_id, r.disabled, r.token_version)


def authenticate(engine: Engine, username: str, password: str, now: datetime,
                 request_id: str | None = None) -> Account | None:
    """The account if the password is right and the account usable; every attempt is audited."""
    with engine.begin() as conn:
        r = conn.execute(select(t.users).where(t.users.c.username == username)).first()
        ok = False
        reason = "unknown user"
        if r is not None:
            if r.disabled:
                reason = "disabled"
            elif r.locked_until is not None and r.locked_until > now:
                reason = "locked"
            else:
                try:
                    ok = _hasher.verify(r.password_hash, password)
                except (VerificationError, InvalidHashError):
                    ok, reason = False, "bad password"
            if ok:
                conn.execute(update(t.users).where(t.users.c.username == username)
                             .values(failed_logins=0, locked_until=None))
            elif reason == "bad password":
                fails = r.failed_logins + 1
                locked = now + timedelta(seconds=30 * 2 ** (fails - LOCK_AFTER)) if fails >= LOCK_AFTER else None
                conn.execute(update(t.users).where(t.users.c.username == username)
                             .values(failed_logins=fails, locked_until=locked))
        conn.execute(insert(t.audit_log).values(
            at=now, actor=username[:64], action="login.ok" if ok else "login.failed", object_type="user",
            object_id=username[:80], detail={} if ok else {"reason": reason}, request_id=request_id))
    if not ok or r is None:
        return None
    return Account(r.username, Role(r.role), r.org_code, r.unit_id, r.disabled, r.token_version)


def disable_user(conn: Connection, username: str) -> None:
    res = conn.execute(update(t.users).where(t.users.c.username == username)
                       .values(disabled=True, token_version=t.users.c.token_version + 1))
    if res.rowcount != 1:
        raise DomainError(f"no user {username!r}", field="username")


def actor_for(account: Account, org: OrgTree) -> Actor:
    """The acting person with their jurisdiction: the subtree of their org unit (all, at a root)."""
    node = org.get(account.org_code)
    scope = None if node.parent_code is None else org.subtree(account.org_code)
    return Actor(account.username, account.role, account.org_code, scope, account.unit_id)
