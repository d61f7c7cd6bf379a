"""The incident and unit state machines, tested exhaustively against their transition tables."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jingwu.domain.errors import Conflict, IllegalTransition
from jingwu.domain.geography import GeoPoint
from jingwu.domain.incident import INCIDENT_TRANSITIONS, Incident, IncidentStatus, can_transition
from jingwu.domain.incident_types import Capability
from jingwu.domain.unit import UNIT_TRANSITIONS, Unit, UnitStatus

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def incident(status: IncidentStatus = IncidentStatus.RECEIVED) -> Incident:
    return Incident(id="I1", type_code="THEFT", family="property", priority=3, location=GeoPoint(42.5, 1.52),
                    station_code="S", received_at=T0, received_by="ct", status=status)


def unit(status: UnitStatus = UnitStatus.AVAILABLE, incident_id: str | None = None) -> Unit:
    return Unit(id="U1", call_sign="P1", home_station="S", capabilities=frozenset({Capability.PATROL}),
                status=status, incident_id=incident_id)


def test_every_status_has_a_row() -> None:
    assert set(INCIDENT_TRANSITIONS) == set(IncidentStatus)
    assert set(UNIT_TRANSITIONS) == set(UnitStatus)


def test_terminal_incident_statuses_allow_nothing() -> None:
    for s in (IncidentStatus.CLOSED, IncidentStatus.CANCELLED, IncidentStatus.MERGED):
        assert not INCIDENT_TRANSITIONS[s]


@pytest.mark.parametrize("old,new", list(itertools.product(IncidentStatus, IncidentStatus)))
def test_incident_transition_follows_table(old: IncidentStatus, new: IncidentStatus) -> None:
    inc = incident(old)
    allowed = can_transition(old, new) and new is not IncidentStatus.MERGED
    if allowed:
        inc.transition(new, T0 + timedelta(minutes=1), "disp")
        assert inc.status is new
        assert inc.events[-1].new == new.value and inc.events[-1].old == old.value  # type: ignore[attr-defined]
    else:
        with pytest.raises(IllegalTransition):
            inc.transition(new, T0, "disp")
        assert inc.status is old and not inc.events


@pytest.mark.parametrize("old,new", list(itertools.product(UnitStatus, UnitStatus)))
def test_unit_status_follows_table(old: UnitStatus, new: UnitStatus) -> None:
    busy = old in (UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE)
    u = unit(old, "I1" if busy else None)
    if old is new is UnitStatus.ON_SCENE:
        u.set_status(new, T0, "o")  # a check-in, not a move
        assert u.checkin_at == T0
        return
    ok = new in UNIT_TRANSITIONS[old] and new is not UnitStatus.DISPATCHED
    if ok:
        left = u.set_status(new, T0, "o")
        assert u.status is new
        assert (left == "I1") == (busy and new is UnitStatus.AVAILABLE)
    else:
        with pytest.raises(IllegalTransition):
            u.set_status(new, T0, "o")
        assert u.status is old


def test_busy_status_without_incident_is_refused() -> None:
    u = unit(UnitStatus.AVAILABLE)
    with pytest.raises(IllegalTransition):
        u.set_status(UnitStatus.EN_ROUTE, T0, "o")


def test_assign_only_available_unit() -> None:
    for status in UnitStatus:
        u = unit(status, "X" if status in (UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE) else None)
        if status is UnitStatus.AVAILABLE:
            u.assign("I1", T0, "d")
            assert u.status is UnitStatus.DISPATCHED and u.incident_id == "I1"
        else:
            with pytest.raises(Conflict):
                u.assign("I1", T0, "d")


UNIT_ACTIONS = st.lists(
    st.tuples(st.sampled_from(["assign", "en_route", "on_scene", "clear", "release"]), st.integers(0, 2)),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(UNIT_ACTIONS)
def test_incident_follows_its_units(actions: list[tuple[str, int]]) -> None:
    """Any sequence of unit actions keeps the invariants: an incident with units is never 'received',
    one with none left after an arrival is cleared, stage stamps never go backwards."""
    inc = incident()
    units = [unit() for _ in range(3)]
    for i, u in enumerate(units):
        u.id = f"U{i}"
    arrived: set[str] = set()
    now = T0
    for action, idx in actions:
        now += timedelta(seconds=30)
        u = units[idx]
        try:
            if action == "assign":
                if inc.status not in (IncidentStatus.RECEIVED, IncidentStatus.DISPATCHED, IncidentStatus.EN_ROUTE,
                                      IncidentStatus.ON_SCENE, IncidentStatus.CLEARED):
                    continue
                u.assign(inc.id, now, "d")
                inc.unit_assigned(u.id, now, "d")
            elif action in ("en_route", "on_scene"):
                u.set_status(UnitStatus(action), now, "o")
                inc.unit_progressed(action, now, "o")
                if action == "on_scene":
                    arrived.add(u.id)
            else:
                was_on_scene = u.status is UnitStatus.ON_SCENE
                if action == "release" and was_on_scene:
                    continue
                if action == "clear" and not was_on_scene:
                    continue
                left = u.set_status(UnitStatus.AVAILABLE, now, "o")
                if left:
                    inc.unit_left(u.id, now, "o", arrived=was_on_scene)
        except (IllegalTransition, Conflict):
            continue
        on_incident = [x for x in units if x.incident_id == inc.id]
        assert sorted(inc.active_units) == sorted(x.id for x in on_incident)
        if inc.active_units:
            assert inc.status in (IncidentStatus.DISPATCHED, IncidentStatus.EN_ROUTE, IncidentStatus.ON_SCENE)
        if any(x.status is UnitStatus.ON_SCENE for x in on_incident):
            assert inc.status is IncidentStatus.ON_SCENE
        stamps = [inc.received_at, inc.dispatched_at, inc.arrived_at, inc.cleared_at]
        present = [s for s in stamps if s is not None]
        assert present == sorted(present)


def test_merge_moves_callers_and_is_final() -> None:
    a, b = incident(), incident()
    b.id = "I2"
    a.merge_into(b, T0, "ct")
    assert a.status is IncidentStatus.MERGED and a.merged_into == "I2" and b.callers == 2
    with pytest.raises(IllegalTransition):
        a.merge_into(b, T0, "ct")
    with pytest.raises(IllegalTransition):
        b.merge_into(b, T0, "ct")
