"""Call intake (接警): a 110 call becomes an incident with a type, a priority and a validated place.

A retried request with the same Idempotency-Key returns the incident the first one created.
Possible duplicates are offered (the nearest ``duplicate_offer_limit``), never linked
automatically. Asked for, the units to send come back with the new incident
(``ReceiveCall.recommend``): where one person takes and dispatches the call (接處警一體), the call
and the run card are one step, and the units are read in the intake's own transaction instead of
in a second request's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jingwu.domain import events as ev
from jingwu.domain.access import Action, Actor
from jingwu.domain.dispatch import Recommendation
from jingwu.domain.duplicates import DuplicateCandidate, possible_duplicates
from jingwu.domain.errors import Conflict, DomainError, Forbidden
from jingwu.domain.geography import GeoPoint
from jingwu.domain.incident import Incident, Source
from jingwu.domain.incident_types import check_priority
from jingwu.services.dependencies import Dependencies
from jingwu.services.dispatch import recommend_for, recommend_units
from jingwu.services.ids import new_id
from jingwu.store import tables as t
from jingwu.store.repositories import available_units, incident_from_row


@dataclass(frozen=True)
class ReceiveCall:
    type_code: str
    location: GeoPoint | None = None
    address: str | None = None
    priority: int | None = None
    description: str = ""
    caller_name: str | None = None
    caller_phone: str | None = None
    source: Source = Source.PUBLIC_CALL
    idempotency_key: str | None = None
    request_hash: str = ""
    recommend: int = 0
    """How many ranked units to return with the incident (0: none; the run card's fillers first)."""
    routes: bool = False
    """Draw those units' routes too (the map needs them; the queue and the call-taker do not)."""


@dataclass
class IntakeResult:
    incident: Incident
    created: bool
    duplicates: list[DuplicateCandidate] = field(default_factory=list)
    geocoded: str | None = None
    recommendations: list[Recommendation] | None = None
    """Asked for with ``ReceiveCall.recommend``; None when not asked."""


def _place(deps: Dependencies, cmd: ReceiveCall) -> tuple[GeoPoint, str | None, str | None]:
    """The point, the address text and the label of the geocoded match."""
    if cmd.location is not None:
        return cmd.location, cmd.address, None
    if cmd.address:
        if deps.places is None:
            raise DomainError("address lookup is not available here; give location lat/lon", field="address")
        found = deps.places.forward(cmd.address, limit=1)
        if not found:
            raise DomainError(f"address {cmd.address!r} was not found", field="address")
        return found[0].point, cmd.address, found[0].label
    raise DomainError("give location {lat, lon} or an address", field="location")


def receive_call(deps: Dependencies, actor: Actor, cmd: ReceiveCall) -> IntakeResult:
    actor.require(Action.INCIDENT_CREATE)
    if cmd.recommend < 0:
        raise DomainError("recommend must be 0 (none) or more", field="recommend")
    if cmd.recommend:
        actor.require(Action.INCIDENT_READ)  # the units to send are read-side: refused before any write
    itype = deps.catalogue.get(cmd.type_code)
    priority = check_priority(cmd.priority) if cmd.priority is not None else itype.default_priority
    point, address, geocoded = _place(deps, cmd)
    station = deps.org.resolve_station(point)
    if station is None:
        raise DomainError(f"({point.lat}, {point.lon}) is outside the service area", field="location")
    if not actor.sees(station):
        raise Forbidden("that location is outside your jurisdiction", field="location")
    street = deps.places.reverse(point).street if deps.places is not None else None
    now = deps.clock()
    rules = deps.dispatch_rules
    incident_id = new_id("INC", now)

    try:
        # Every write below is a held row, sent at commit as one statement: on PostgreSQL that
        # statement is the whole transaction, and the reads before it need none.
        with deps.uow(single_write=True) as uow:
            near = uow.incidents.open_near(itype.family, now - timedelta(seconds=rules.duplicate_window_s),
                                           point.lat, point.lon, rules.duplicate_radius_m,
                                           limit=rules.duplicate_offer_limit)
            dups = possible_duplicates(itype.family, point, now, near, rules.duplicate_radius_m,
                                       rules.duplicate_window_s)
            # Read here, with the duplicates (inside the writer's turn on SQLite); ranked after
            # commit, so the road searches never hold the writer (SQLite) or a connection open.
            units = available_units(uow.conn) if cmd.recommend else None
            # The writes go out together at commit (one statement on PostgreSQL). A retry fails
            # there on the key's primary key (on PostgreSQL after waiting for a concurrent first
            # attempt to commit) and is answered with the incident the first one made.
            if cmd.idempotency_key:
                uow.insert(t.idempotency_keys, {
                    "key": cmd.idempotency_key, "actor": actor.username, "request_hash": cmd.request_hash,
                    "incident_id": incident_id, "created_at": now})
            inc = Incident(
                id=incident_id, type_code=itype.code, family=itype.family, priority=priority,
                location=point, station_code=station, received_at=now, received_by=actor.username,
                source=cmd.source, address=address, street=street, description=cmd.description,
            )
            inc.events.append(ev.IncidentReceived(
                at=now, actor=actor.username, station_code=station, incident_id=inc.id, type_code=itype.code,
                priority=priority, lat=point.lat, lon=point.lon, source=cmd.source.value,
            ))
            uow.incidents.add(inc)
            if cmd.caller_name or cmd.caller_phone:
                uow.insert(t.callers, {
                    "incident_id": inc.id, "name": cmd.caller_name, "phone": cmd.caller_phone, "received_at": now})
            uow.audit(at=now, actor=actor.username, action="incident.create", object_type="incident",
                      object_id=inc.id, detail={"type": itype.code, "priority": priority, "station": station,
                                                "source": cmd.source.value,
                                                "caller": bool(cmd.caller_name or cmd.caller_phone)})
            uow.commit()
    except IntegrityError:
        # A retry (or two retries racing): the first one's incident is the answer.
        if cmd.idempotency_key:
            replay = _replay(deps, actor, cmd)
            if replay is not None:
                if cmd.recommend:
                    replay.recommendations = recommend_units(deps, actor, replay.incident.id, cmd.recommend,
                                                             routes=cmd.routes)
                return replay
        raise
    recs = (recommend_for(deps, actor, inc, units, cmd.recommend, routes=cmd.routes)
            if units is not None else None)
    return IntakeResult(incident=inc, created=True, duplicates=dups, geocoded=geocoded, recommendations=recs)


def _replay(deps: Dependencies, actor: Actor, cmd: ReceiveCall) -> IntakeResult | None:
    k = t.idempotency_keys.c
    with deps.engine.connect() as conn:
        row = conn.execute(
            select(k.incident_id, k.request_hash).where(k.key == cmd.idempotency_key, k.actor == actor.username)
        ).first()
        if row is None:
            return None
        if row.request_hash != cmd.request_hash:
            raise Conflict("Idempotency-Key was already used with a different request body",
                           field="Idempotency-Key")
        inc_row = conn.execute(select(t.incidents).where(t.incidents.c.id == row.incident_id)).first()
    assert inc_row is not None
    return IntakeResult(incident=incident_from_row(inc_row), created=False)
