"""Who may do what, and where. Permissions are data (role × action), applied where data is read.

The scope of an actor is the subtree of their org unit: a station officer sees their station, a
district commander the district, the province everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jingwu.domain.errors import Forbidden


class Role(StrEnum):
    CALL_TAKER = "call_taker"
    DISPATCHER = "dispatcher"
    COMMANDER = "commander"
    OFFICER = "officer"
    ANALYST = "analyst"
    CLERK = "clerk"
    MEDIATOR = "mediator"
    AUDITOR = "auditor"
    ADMIN = "admin"
    RESIDENT = "resident"


class Action(StrEnum):
    INCIDENT_READ = "incident.read"
    INCIDENT_CREATE = "incident.create"
    INCIDENT_UPDATE = "incident.update"
    INCIDENT_LINK = "incident.link"
    INCIDENT_ASSIGN = "incident.assign"
    INCIDENT_ESCALATE = "incident.escalate"
    UNIT_READ = "unit.read"
    UNIT_STATUS = "unit.status"
    UNIT_POSITION = "unit.position"
    UNIT_MANAGE = "unit.manage"
    CALLER_REVEAL = "caller.reveal"
    ANALYSIS_READ = "analysis.read"
    AUDIT_READ = "audit.read"
    USER_MANAGE = "user.manage"
    EVENTS_SUBSCRIBE = "events.subscribe"
    EXPORT = "export"


A = Action
_ALL_READ = {A.INCIDENT_READ, A.UNIT_READ, A.EVENTS_SUBSCRIBE}
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.CALL_TAKER: frozenset(_ALL_READ | {A.INCIDENT_CREATE, A.INCIDENT_LINK, A.CALLER_REVEAL}),
    Role.DISPATCHER: frozenset(
        _ALL_READ | {A.INCIDENT_CREATE, A.INCIDENT_UPDATE, A.INCIDENT_LINK, A.INCIDENT_ASSIGN,
                     A.UNIT_STATUS, A.UNIT_POSITION, A.CALLER_REVEAL}
    ),
    Role.COMMANDER: frozenset(
        _ALL_READ | {A.INCIDENT_CREATE, A.INCIDENT_UPDATE, A.INCIDENT_LINK, A.INCIDENT_ASSIGN,
                     A.INCIDENT_ESCALATE, A.UNIT_STATUS, A.UNIT_POSITION, A.UNIT_MANAGE, A.ANALYSIS_READ,
                     A.CALLER_REVEAL, A.EXPORT}
    ),
    Role.OFFICER: frozenset(_ALL_READ | {A.UNIT_STATUS, A.UNIT_POSITION, A.INCIDENT_CREATE}),
    Role.ANALYST: frozenset({A.INCIDENT_READ, A.UNIT_READ, A.ANALYSIS_READ, A.EXPORT, A.EVENTS_SUBSCRIBE}),
    Role.CLERK: frozenset({A.INCIDENT_READ}),
    Role.MEDIATOR: frozenset({A.INCIDENT_READ}),
    Role.AUDITOR: frozenset({A.AUDIT_READ, A.INCIDENT_READ}),
    Role.ADMIN: frozenset(set(Action) - {A.AUDIT_READ}),
    Role.RESIDENT: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """The person acting, with the stations they may see (``None`` = every station)."""

    username: str
    role: Role
    org_code: str
    scope: frozenset[str] | None
    unit_id: str | None = None
    """An officer's own unit, the only one whose status and position they may set."""

    def can(self, action: Action) -> bool:
        return action in PERMISSIONS[self.role]

    def require(self, action: Action) -> None:
        if not self.can(action):
            raise Forbidden(f"role {self.role.value} may not {action.value}", field="role")

    def sees(self, station_code: str | None) -> bool:
        """Whether an object filed under ``station_code`` is inside this actor's jurisdiction."""
        if self.scope is None:
            return True
        return station_code is not None and station_code in self.scope


SYSTEM = Actor(username="system", role=Role.ADMIN, org_code="", scope=None)
