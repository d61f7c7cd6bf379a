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
