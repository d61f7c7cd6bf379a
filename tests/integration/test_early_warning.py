"""Surge and near-repeat alerts become AnalysisAlert events on the bus, once each."""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from jingwu.api import background
from jingwu.api.runtime import Runtime
from jingwu.domain.access import SYSTEM
from jingwu.domain.geography import GeoPoint
from jingwu.domain.incident import Source
from jingwu.services.early_warning import raise_near_repeat_alert, raise_surge_alerts, series_already_alerted
from jingwu.services.intake import ReceiveCall, receive_call
from jingwu.store import tables as t
from tests.conftest import query_plan

ALV = GeoPoint(42.5063, 1.5218)
ENCAMP = GeoPoint(42.5360, 1.5837)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def call(runtime: Runtime, clock: Clock, at: datetime, type_code: str, where: GeoPoint) -> str:
    clock.now = at
    return receive_call(runtime.deps, SYSTEM, ReceiveCall(type_code, where, source=Source.PUBLIC_CALL)).incident.id


def outbox_alerts(runtime: Runtime) -> list[dict]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(t.outbox.c.payload).where(t.outbox.c.kind == "AnalysisAlert")).all()
    return [r.payload for r in rows]


def test_near_repeat_alert_once_for_a_series(runtime: Runtime) -> None:
    clock = Clock(datetime(2026, 11, 20, 21, 0, tzinfo=UTC))
    runtime.deps.clock = clock
    first = call(runtime, clock, clock.now, "BURGLARY", ALV)
    assert raise_near_repeat_alert(runtime.deps, first) is None  # nothing before it
    nearby = GeoPoint(ALV.lat + 0.0005, ALV.lon)  # ~55 m away
    second = call(runtime, clock, clock.now + timedelta(days=2), "THEFT", nearby)  # same family: property
    alert = raise_near_repeat_alert(runtime.deps, second)
    assert alert is not None and alert.alert_kind == "near_repeat" and alert.family == "property"
    assert alert.detail["incident_id"] == second and alert.detail["recent"] == 1
    assert raise_near_repeat_alert(runtime.deps, second) is None  # reported once
    # the bus listener skips new incidents of this series without reading anything
    assert series_already_alerted(runtime.deps, "BURGLARY", ALV.lat, ALV.lon, clock.now + timedelta(hours=1))
    assert not series_already_alerted(runtime.deps, "ASSAULT", ALV.lat, ALV.lon, clock.now)
    assert not series_already_alerted(runtime.deps, "THEFT", ENCAMP.lat, ENCAMP.lon, clock.now)
    assert not series_already_alerted(runtime.deps, "THEFT", ALV.lat, ALV.lon, clock.now + timedelta(days=1))
    assert not series_already_alerted(runtime.deps, "NO_SUCH_TYPE", ALV.lat, ALV.lon, clock.now)
    third = call(runtime, clock, clock.now + timedelta(hours=1), "BURGLARY", ALV)
    assert raise_near_repeat_alert(runtime.deps, third) is None  # the same series, the same day
    far = call(runtime, clock, clock.now + timedelta(hours=1), "THEFT", ENCAMP)
    assert raise_near_repeat_alert(runtime.deps, far) is None
    other_family = call(runtime, clock, clock.now + timedelta(hours=1), "ASSAULT", nearby)
    assert raise_near_repeat_alert(runtime.deps, other_family) is None
    assert [a["alert_kind"] for a in outbox_alerts(runtime)] == ["near_repeat"]
    # the series goes on the next day: one more alert, counting the three before
    fourth = call(runtime, clock, clock.now + timedelta(days=1), "THEFT", ALV)
    again = raise_near_repeat_alert(runtime.deps, fourth)
    assert again is not None and again.detail["recent"] == 3
    assert again.detail["series"] != alert.detail["series"]
    assert [a["alert_kind"] for a in outbox_alerts(runtime)] == ["near_repeat", "near_repeat"]


def test_a_series_already_alerted_is_not_alerted_again_by_another_process(runtime: Runtime) -> None:
    """The series key is stored: a process that did not raise it (its memory empty) finds it."""
    from jingwu.services import early_warning

    clock = Clock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    runtime.deps.clock = clock
    call(runtime, clock, clock.now, "BURGLARY", ALV)
    second = call(runtime, clock, clock.now + timedelta(hours=1), "BURGLARY", ALV)
    assert raise_near_repeat_alert(runtime.deps, second) is not None
    early_warning._RAISED.clear()
    third = call(runtime, clock, clock.now + timedelta(hours=2), "BURGLARY", ALV)
    assert raise_near_repeat_alert(runtime.deps, third) is None
    assert len(outbox_alerts(runtime)) == 1


def test_surge_alert_for_a_busy_day(runtime: Runtime) -> None:
    rng = random.Random(3)
    start = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    clock = Clock(start)
    runtime.deps.clock = clock
    for day in range(60):  # a quiet history: about one noise complaint a day in Encamp
        for _ in range(rng.choice([0, 1, 1, 2])):
            at = start + timedelta(days=day, minutes=rng.randint(0, 600))
            call(runtime, clock, at, "NOISE", GeoPoint(ENCAMP.lat + rng.uniform(-.003, .003), ENCAMP.lon))
    busy = start + timedelta(days=60)
    for k in range(12):
        call(runtime, clock, busy + timedelta(minutes=20 * k), "NOISE", ENCAMP)
    clock.now = busy + timedelta(hours=8)
    alerts = raise_surge_alerts(runtime.deps)
    assert alerts, "twelve complaints after a quiet two months must raise a surge"
    assert {(a.area, a.family) for a in alerts} == {("AD-03-S1", "public_order")}
    assert all(a.detail["observed"] == 12 for a in alerts)
    assert raise_surge_alerts(runtime.deps) == []  # the same surge is not raised twice


def test_a_near_repeat_across_a_cell_edge_is_found(runtime: Runtime) -> None:
    """The check reads by place cells (a hundredth of a degree each way): two burglaries ~140 m apart
    across a corner where four cells meet are still neighbours."""
    clock = Clock(datetime(2026, 11, 20, 21, 0, tzinfo=UTC))
    runtime.deps.clock = clock
    south_west = call(runtime, clock, clock.now, "BURGLARY", GeoPoint(42.4995, 1.5195))
    assert raise_near_repeat_alert(runtime.deps, south_west) is None
    north = call(runtime, clock, clock.now + timedelta(hours=3), "BURGLARY", GeoPoint(42.5005, 1.5205))
    assert t.cell_of(42.4995, 1.5195) != t.cell_of(42.5005, 1.5205)
    alert = raise_near_repeat_alert(runtime.deps, north)
    assert alert is not None and alert.detail["recent"] == 1


def test_the_near_repeat_check_reads_its_place_cells_only(runtime: Runtime) -> None:
    """With weeks of the family's incidents all over the area, the check's read is planned on the
    index by family, place cell and time, on both backends."""
    from jingwu.services.early_warning import _SAME_FAMILY_NEARBY

    now = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    rng = random.Random(3)
    history = [{"id": f"INC-NR-{i}", "type_code": "BURGLARY", "family": "property", "priority": 3,
                "status": "closed", "lat": 42.43 + rng.random() * 0.2, "lon": 1.41 + rng.random() * 0.3,
                "source": "public_call", "received_at": now - timedelta(days=rng.random() * 30),
                "received_by": "calltaker"} for i in range(3000)]
    with runtime.engine.begin() as conn:
        conn.execute(t.incidents.insert(), history)
        conn.exec_driver_sql("ANALYZE")
        steps = query_plan(conn, _SAME_FAMILY_NEARBY, {
            "family": "property", "id": "x", "since": now - timedelta(days=14), "until": now,
            "lat_lo": 42.504, "lat_hi": 42.508, "lon_lo": 1.519, "lon_hi": 1.524,
            "cell_0": 170020151, "cell_1": 170020152, "cell_2": 170020152, "cell_3": 170020152})
    assert "ix_incidents_family_cell_received" in steps, steps


def test_place_cells_are_the_same_in_python_and_in_the_database(runtime: Runtime) -> None:
    """The check works out the cells in Python and the index in SQL: they must agree to the bit,
    at cell edges, across the equator and the meridian, and at the ends of the map."""
    rng = random.Random(5)
    points = [(42.5, 1.52), (42.4999999, 1.5199999), (0.0, 0.0), (-0.005, -0.005), (-33.905, 18.42),
              (-89.999, -180.0), (89.999, 179.999), (42.505, -1.5)]
    points += [(rng.uniform(-90, 90), rng.uniform(-180, 180)) for _ in range(200)]
    points += [(round(rng.uniform(-60, 60), 2), round(rng.uniform(-170, 170), 2)) for _ in range(200)]  # on edges
    now = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    rows = [{"id": f"INC-CELL-{i}", "type_code": "BURGLARY", "family": "property", "priority": 3,
             "status": "closed", "lat": lat, "lon": lon, "source": "public_call", "received_at": now,
             "received_by": "calltaker"} for i, (lat, lon) in enumerate(points)]
    c = t.incidents.c
    with runtime.engine.begin() as conn:
        conn.execute(t.incidents.insert(), rows)
        got = dict(conn.execute(select(c.id, t.place_cell(c.lat, c.lon)).where(c.id.like("INC-CELL-%"))).all())
    assert {f"INC-CELL-{i}": t.cell_of(lat, lon) for i, (lat, lon) in enumerate(points)} == got


def test_the_server_skips_queued_incidents_of_a_series_alerted_meanwhile(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls of a new series come faster than the checks: those queued before its alert are
    skipped at their turn, without a read (here: checked are the first of the series and a call
    far away, heard last, never the second of the series)."""
    day = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    clock = Clock(day)
    runtime.deps.clock = clock
    call(runtime, clock, day - timedelta(days=2), "BURGLARY", ALV)  # the history
    first = call(runtime, clock, day, "THEFT", ALV)
    second = call(runtime, clock, day + timedelta(minutes=5), "BURGLARY", ALV)
    last = call(runtime, clock, day + timedelta(minutes=6), "THEFT", ENCAMP)  # no history there
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(t.outbox.c.kind, t.outbox.c.payload)
                            .where(t.outbox.c.kind == "IncidentReceived").order_by(t.outbox.c.seq)).all()
    heard = {r.payload["incident_id"]: {**r.payload, "kind": r.kind} for r in rows}
    checked: list[str] = []

    def counted(deps: object, incident_id: str) -> object:
        checked.append(incident_id)
        return raise_near_repeat_alert(runtime.deps, incident_id)

    monkeypatch.setattr(background, "raise_near_repeat_alert", counted)

    async def serve() -> None:
        task = asyncio.create_task(background._near_repeats(runtime))
        await asyncio.sleep(0)  # it subscribes
        for incident_id in (first, second, last):  # all three heard before the first check runs
            runtime.bus.publish(heard[incident_id])
        try:
            for _ in range(500):
                if last in checked:
                    break
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(serve())
    assert checked == [first, last]
    assert [a["detail"]["incident_id"] for a in outbox_alerts(runtime)] == [first]
