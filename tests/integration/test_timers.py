"""Stage timers and the officer-safety check-in, driven by a moved clock (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from jingwu.api.runtime import Runtime
from jingwu.domain.access import SYSTEM
from jingwu.domain.geography import GeoPoint
from jingwu.domain.unit import UnitStatus
from jingwu.services.dispatch import AssignUnit, assign_unit, recommend_units, set_unit_status
from jingwu.services.intake import ReceiveCall, receive_call
from jingwu.services.timers import check_timers
from jingwu.store import tables as t


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_timers_fire_once_per_level_and_checkin(runtime: Runtime) -> None:
    clock = Clock()
    runtime.deps.clock = clock
    targets = runtime.deps.catalogue.targets_for(1)
    inc = receive_call(runtime.deps, SYSTEM, ReceiveCall("FIRE", GeoPoint(42.5063, 1.5218))).incident
    assert check_timers(runtime.deps) == []
    clock.advance(targets.dispatch_s * 0.85)
    fired = check_timers(runtime.deps)
    assert [(e.incident_id, e.stage, e.level) for e in fired] == [(inc.id, "dispatch", "amber")]
    assert check_timers(runtime.deps) == []  # reported once
    clock.advance(targets.dispatch_s)
    assert [(e.stage, e.level) for e in check_timers(runtime.deps)] == [("dispatch", "red")]

    unit = recommend_units(runtime.deps, SYSTEM, inc.id)[0].unit_id
    assign_unit(runtime.deps, SYSTEM, AssignUnit(inc.id, unit))
    set_unit_status(runtime.deps, SYSTEM, unit, UnitStatus.ON_SCENE)
    interval = runtime.deps.dispatch_rules.checkin_interval_s
    clock.advance(interval + 1)
    fired = check_timers(runtime.deps)
    assert ("checkin", "red", unit) in {(e.stage, e.level, e.unit_id) for e in fired}
    # A repeated "on scene" is a check-in: the safety timer starts again.
    set_unit_status(runtime.deps, SYSTEM, unit, UnitStatus.ON_SCENE)
    clock.advance(60)
    assert not [e for e in check_timers(runtime.deps) if e.stage == "checkin"]
    # The breaches went out as events through the outbox.
    runtime.relay.drain_once()
    with runtime.engine.connect() as conn:
        breaches = conn.execute(select(func.count()).select_from(t.outbox)
                                .where(t.outbox.c.kind == "TimerBreached")).scalar_one()
    assert breaches == 3


def test_a_dispatched_incident_times_its_travel_and_drops_its_dispatch_alert(runtime: Runtime) -> None:
    """The check reads running incidents' stage times (``running_incidents``): travel runs from
    the dispatch, the event names the incident's station, and an alert of a stage that stopped
    running is forgotten."""
    clock = Clock()
    runtime.deps.clock = clock
    targets = runtime.deps.catalogue.targets_for(1)
    inc = receive_call(runtime.deps, SYSTEM, ReceiveCall("FIRE", GeoPoint(42.5063, 1.5218))).incident
    clock.advance(targets.dispatch_s * 0.85)
    assert [(e.stage, e.level) for e in check_timers(runtime.deps)] == [("dispatch", "amber")]
    with runtime.engine.connect() as conn:
        assert conn.execute(select(t.timer_alerts.c.key)).scalars().all() == [f"incident:{inc.id}:dispatch"]

    unit = recommend_units(runtime.deps, SYSTEM, inc.id)[0].unit_id
    assign_unit(runtime.deps, SYSTEM, AssignUnit(inc.id, unit))
    dispatched = clock.now
    assert check_timers(runtime.deps) == []
    with runtime.engine.connect() as conn:  # the dispatch stage is over: its alert is gone
        assert conn.execute(select(t.timer_alerts.c.key)).scalars().all() == []
    clock.advance(targets.travel_s * 0.85)
    travel = [e for e in check_timers(runtime.deps) if e.stage == "travel"]
    assert [(e.incident_id, e.level, e.station_code) for e in travel] == [(inc.id, "amber", inc.station_code)]
    assert travel[0].elapsed_s == round((clock.now - dispatched).total_seconds(), 1)
