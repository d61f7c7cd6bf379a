"""Watches every running stage timer and safety check-in; a crossing becomes a TimerBreached event
exactly once per level (the last level reported is stored, so a restart does not repeat alerts)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from jingwu.domain import events as ev
from jingwu.domain.timers import checkin_timers, crossings, incident_timers
from jingwu.domain.unit import UnitStatus
from jingwu.services.dependencies import Dependencies
from jingwu.store import tables as t
from jingwu.store.repositories import running_incidents, unit_from_row


def check_timers(deps: Dependencies) -> list[ev.TimerBreached]:
    now = deps.clock()
    rules = deps.dispatch_rules
    out: list[ev.TimerBreached] = []
    with deps.uow() as uow:
        conn = uow.conn
        incidents = running_incidents(conn)
        units = [unit_from_row(r) for r in conn.execute(
            select(t.units).where(t.units.c.status == UnitStatus.ON_SCENE.value))]
        states = [s for i in incidents for s in incident_timers(i, deps.catalogue.targets_for(i.priority), now)]
        states += checkin_timers(units, rules.checkin_interval_s, now)
        live = {s.key for s in states}
        # The table also remembers analysis alerts (surge:…, near_repeat:…); timers own only theirs.
        ta = t.timer_alerts.c
        known = {r.key: r.level for r in conn.execute(
            select(t.timer_alerts).where(ta.key.like("incident:%") | ta.key.like("unit:%")))}
        stale = [k for k in known if k not in live]
        if stale:
            conn.execute(delete(t.timer_alerts).where(t.timer_alerts.c.key.in_(stale)))
        levels = {k: v for k, v in known.items() if k in live}
        before = dict(levels)
        stations = {i.id: i.station_code for i in incidents} | {u.id: u.home_station for u in units}
        for s in crossings(states, levels):
            owner = s.unit_id or s.incident_id or ""
            e = ev.TimerBreached(at=now, actor="system", station_code=stations.get(owner),
                                 incident_id=s.incident_id, unit_id=s.unit_id, stage=s.stage, level=s.level,
                                 elapsed_s=round(s.elapsed_s, 1), target_s=s.target_s)
            uow.emit(e)
            out.append(e)
        changed = {k: v for k, v in levels.items() if before.get(k) != v}
        if changed:
            conn.execute(delete(t.timer_alerts).where(t.timer_alerts.c.key.in_(list(changed))))
            conn.execute(insert(t.timer_alerts), [{"key": k, "level": v, "at": now} for k, v in changed.items()])
        uow.commit()
    return out
