"""Accounts: people with a role and an org unit. Passwords are argon2 hashes; logins are audited and
repeated failures lock the account for a growing delay. Adding, disabling and enabling accounts
(permission changes) are audited too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, insert, select, update

from jingwu.domain.access import Actor, Role
from jingwu.domain.errors import Conflict, DomainError
from jingwu.domain.org import OrgTree
from jingwu.store import audit_chain
from jingwu.store import tables as t

_hasher = PasswordHasher()
MIN_PASSWORD = 12
MAX_PASSWORD = 256
"""Longer passwords are refused so a login cannot be turned into a CPU sink for the hasher."""
COMMON_PASSWORDS = frozenset({
    "123456789012", "1234567890123", "password1234", "password12345", "qwertyuiop12", "qwertyuiop123",
    "iloveyou1234", "administrator", "administrator1", "passwordpassword", "changeme1234", "welcome12345",
    "abcdefghijkl", "abc123abc123", "letmein12345", "trustno1trustno1", "111111111111", "000000000000",
})
"""Refused outright; a deployment that needs a breached-password list should check against one (docs/security.md)."""
LOCK_AFTER = 5
LOCK_BASE_S = 30
LOCK_MAX_S = 24 * 3600
_DUMMY_HASH = _hasher.hash("jingwu-no-such-user-0")
"""Verified against when the user does not exist, so the answer takes as long as for a real one."""


def lock_delay_s(failures: int) -> int | None:
    """Seconds an account stays locked after ``failures`` consecutive bad passwords (doubling, capped)."""
    if failures < LOCK_AFTER:
        return None
    return min(LOCK_MAX_S, LOCK_BASE_S * 2 ** min(failures - LOCK_AFTER, 20))


@dataclass(frozen=True)
class Account:
    username: str
    role: Role
    org_code: str
    unit_id: str | None
    disabled: bool
    token_version: int


def check_password_rules(password: str, username: str | None = None) -> None:
    """Length over composition (OWASP ASVS 2.1, NIST SP 800-63B): 12 to 256 characters of any kind,
    not the user name, not one of the most common passwords, not one character repeated."""
    if len(password) < MIN_PASSWORD:
        raise DomainError(f"password must have at least {MIN_PASSWORD} characters", field="password")
    if len(password) > MAX_PASSWORD:
        raise DomainError(f"password must have at most {MAX_PASSWORD} characters", field="password")
    if username and len(username) >= 3 and username.lower() in password.lower():
        raise DomainError("password must not contain the user name", field="password")
    if len(set(password)) < 4 or password.lower() in COMMON_PASSWORDS:
        raise DomainError("password is too easy to guess", field="password")


def add_user(conn: Connection, org: OrgTree, username: str, password: str, role: Role, org_code: str,
             now: datetime, unit_id: str | None = None, by: str = "system") -> Account:
    if not username or not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise DomainError("username must be letters, digits, '.', '_' or '-'", field="username")
    if org_code not in org:
        raise DomainError(f"unknown org unit {org_code!r}", field="org")
    check_password_rules(password, username)
    audit_chain.hold_writer(conn)
    if conn.execute(select(t.users.c.username).where(t.users.c.username == username)).first():
        raise Conflict(f"user {username!r} already exists", field="username")
    conn.execute(insert(t.users).values(
        username=username, password_hash=_hasher.hash(password), role=role.value, org_code=org_code,
        unit_id=unit_id, disabled=False, token_version=0, failed_logins=0, created_at=now,
        password_changed_at=now))
    audit_chain.append(conn, [{"at": now, "actor": by, "action": "user.add", "object_type": "user",
                               "object_id": username, "detail": {"role": role.value, "org": org_code,
                                                                 "unit_id": unit_id}}])
    return Account(username, role, org_code, unit_id, False, 0)


def get_account(conn: Connection, username: str) -> Account | None:
    r = conn.execute(select(t.users).where(t.users.c.username == username)).first()
    if r is None:
        return None
    return Account(r.username, Role(r.role), r.org_code, r.unit_id, r.disabled, r.token_version)


def authenticate(engine: Engine, username: str, password: str, now: datetime,
                 request_id: str | None = None) -> Account | None:
    """The account if the password is right and the account usable; every attempt is audited.

    Unknown users, disabled and locked accounts cost one hash verification like a real attempt, so
    the time taken does not tell which it was; the audit record says which. The slow hash runs
    before the write transaction, so logins never hold the database's write lock while hashing.
    """
    with engine.connect() as conn:
        seen = conn.execute(select(t.users.c.password_hash).where(t.users.c.username == username)).first()
    stored = seen.password_hash if seen is not None else _DUMMY_HASH
    try:
        matches = len(password) <= MAX_PASSWORD and _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        matches = False
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.info["begin_mode"] = "IMMEDIATE"  # read-then-write: take the write lock up front
        try:
            with conn.begin():
                return _record_attempt(conn, username, stored, matches, now, request_id)
        finally:
            conn.info.pop("begin_mode", None)


def _record_attempt(conn: Connection, username: str, checked_hash: str, matches: bool, now: datetime,
                    request_id: str | None) -> Account | None:
    u = t.users.c
    r = conn.execute(select(t.users).where(u.username == username)).first()
    ok = False
    reason = "unknown user"
    if r is not None:
        if r.disabled:
            reason = "disabled"
        elif r.locked_until is not None and r.locked_until > now:
            reason = "locked"
        elif matches and r.password_hash == checked_hash:  # not changed while we were hashing
            ok = True
        else:
            reason = "bad password"
        if ok:
            conn.execute(update(t.users).where(u.username == username).values(failed_logins=0, locked_until=None))
        elif reason == "bad password":
            fails = conn.execute(update(t.users).where(u.username == username)
                                 .values(failed_logins=u.failed_logins + 1).returning(u.failed_logins)).scalar_one()
            delay = lock_delay_s(fails)
            if delay is not None:
                conn.execute(update(t.users).where(u.username == username)
                             .values(locked_until=now + timedelta(seconds=delay)))
                reason = f"bad password; locked for {delay} s"
    audit_chain.append(conn, [{
        "at": now, "actor": username[:64], "action": "login.ok" if ok else "login.failed", "object_type": "user",
        "object_id": username[:80], "detail": {} if ok else {"reason": reason}, "request_id": request_id}])
    if not ok or r is None:
        return None
    return Account(r.username, Role(r.role), r.org_code, r.unit_id, r.disabled, r.token_version)


def disable_user(conn: Connection, username: str, now: datetime, by: str = "system") -> None:
    """Disable an account and revoke every token it holds (the token version moves on)."""
    audit_chain.hold_writer(conn)
    res = conn.execute(update(t.users).where(t.users.c.username == username)
                       .values(disabled=True, token_version=t.users.c.token_version + 1))
    if res.rowcount != 1:
        raise DomainError(f"no user {username!r}", field="username")
    audit_chain.append(conn, [{"at": now, "actor": by, "action": "user.disable", "object_type": "user",
                               "object_id": username, "detail": {"tokens": "revoked"}}])


def enable_user(conn: Connection, username: str, now: datetime, by: str = "system") -> None:
    """Enable an account again and clear its lockout; old tokens stay revoked."""
    audit_chain.hold_writer(conn)
    res = conn.execute(update(t.users).where(t.users.c.username == username)
                       .values(disabled=False, failed_logins=0, locked_until=None))
    if res.rowcount != 1:
        raise DomainError(f"no user {username!r}", field="username")
    audit_chain.append(conn, [{"at": now, "actor": by, "action": "user.enable", "object_type": "user",
                               "object_id": username, "detail": {}}])


def actor_for(account: Account, org: OrgTree) -> Actor:
    """The acting person with their jurisdiction: the subtree of their org unit (all, at a root)."""
    node = org.get(account.org_code)
    scope = None if node.parent_code is None else org.subtree(account.org_code)
    return Actor(account.username, account.role, account.org_code, scope, account.unit_id)
