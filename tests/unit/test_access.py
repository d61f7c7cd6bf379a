"""The permission table and jurisdictions: separation of duties, least privilege, scope semantics,
password rules, the audit hash, and that docs/security.md shows the table the code enforces."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from jingwu.domain.access import PERMISSIONS, Action, Actor, Role, permission_table
from jingwu.domain.errors import DomainError, Forbidden
from jingwu.services.accounts import check_password_rules
from jingwu.store.audit_chain import GENESIS, entry_hash

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_every_role_has_a_row() -> None:
    assert set(PERMISSIONS) == set(Role)


def test_separation_of_duties() -> None:
    readers = {r for r, actions in PERMISSIONS.items() if Action.AUDIT_READ in actions}
    assert readers == {Role.AUDITOR}, "only the auditor reads the audit log, not even the administrator"
    assert PERMISSIONS[Role.AUDITOR] <= {Action.AUDIT_READ, Action.INCIDENT_READ}, "the auditor changes nothing"


def test_least_privilege() -> None:
    assert PERMISSIONS[Role.RESIDENT] == frozenset()
    assert Action.CALLER_REVEAL not in PERMISSIONS[Role.ANALYST], "analysis works on places and times"
    assert Action.CALLER_REVEAL not in PERMISSIONS[Role.OFFICER]
    assert Action.INCIDENT_ASSIGN not in PERMISSIONS[Role.OFFICER]
    assert Action.INCIDENT_READ not in PERMISSIONS[Role.CLERK]
    for role in Role:
        if role is not Role.ADMIN:
            assert Action.USER_MANAGE not in PERMISSIONS[role]


def test_require_refuses_with_403() -> None:
    analyst = Actor("a", Role.ANALYST, "AD", None)
    with pytest.raises(Forbidden) as refused:
        analyst.require(Action.INCIDENT_ASSIGN)
    assert refused.value.status == 403


def test_scope() -> None:
    station = Actor("s", Role.DISPATCHER, "AD-03-S1", frozenset({"AD-03-S1"}))
    province = Actor("p", Role.COMMANDER, "AD", None)
    assert station.sees("AD-03-S1") and not station.sees("AD-07-S1")
    assert not station.sees(None), "an object without a station is outside every station's scope"
    assert province.sees("AD-07-S1") and province.sees(None)


@pytest.mark.parametrize("password", ["Short-pass1", "x" * 257, "my-dispatcher-2026", "aaaaaaaaaaaaaaaa",
                                      "Password1234", "abababababab"])
def test_password_rules_refuse(password: str) -> None:
    with pytest.raises(DomainError):
        check_password_rules(password, "dispatcher")


@pytest.mark.parametrize("password", ["correct horse battery staple", "Correct-horse-7",
                                      "警務密碼是一句很長很長的話呢"])
def test_password_rules_accept_length_not_composition(password: str) -> None:
    check_password_rules(password, "dispatcher")


def test_audit_hash_covers_every_field() -> None:
    entry = {"at": datetime(2026, 11, 27, tzinfo=UTC), "actor": "a", "action": "caller.reveal",
             "object_type": "incident", "object_id": "INC-1", "request_id": "r1", "detail": {"reason": "call back"}}
    h = entry_hash(GENESIS, entry)
    for key, other in [("actor", "b"), ("action", "x"), ("object_id", "INC-2"), ("request_id", "r2"),
                       ("detail", {"reason": "routine"}), ("at", datetime(2026, 11, 28, tzinfo=UTC))]:
        assert entry_hash(GENESIS, {**entry, key: other}) != h, key
    assert entry_hash("1" * 64, entry) != h, "the previous hash is part of the entry's hash"
    assert entry_hash(GENESIS, {**entry, "detail": {"reason": "call back"}}) == h, "stable for equal content"


def test_docs_show_the_table_the_code_enforces() -> None:
    assert permission_table() in DOCS.read_text(encoding="utf-8"), (
        "docs/security.md is out of date: paste permission_table() output into it")
