"""Early warning (預警) on the bus: surge and near-repeat alerts about places and times become
``AnalysisAlert`` events, through the outbox like every other change, so the command map shows them.

Each alert is reported once: its key is kept in the ``timer_alerts`` table (the store of alerts
already raised), so a restart or a second run does not repeat it.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

import h3
from sqlalchemy import Connection, Engine, bindparam, insert, select

from jingwu.domain import events as ev
from jingwu.domain.access import SYSTEM
from jingwu.domain.errors import DomainError
from jingwu.domain.geography import GeoPoint, degree_margins, haversine_m
from jingwu.services.analysis import recent_surges
from jingwu.services.dependencies import Dependencies
from jingwu.store import tables as t
from jingwu.store.direct import DirectStatement
from jingwu.store.unit_of_work import UnitOfWork, read_connection

log = logging.getLogger(__name__)
SURGE_METHODS_REPORTED = ("ears_c2", "poisson_cusum")
"""C2 and CUSUM: the best sensitivity / false-alarm balance in the injected-outbreak evaluation
(docs/analytics.md); C3 alarms too often to push to a live map."""


def _new_keys(uow: UnitOfWork, keys: list[str], now: datetime) -> set[str]:
    if not keys:
        return set()
    known = {r.key for r in uow.conn.execute(select(t.timer_alerts.c.key).where(t.timer_alerts.c.key.in_(keys)))}
    fresh = [k for k in dict.fromkeys(keys) if k not in known]
    if fresh:
        uow.conn.execute(insert(t.timer_alerts), [{"key": k[:120], "level": "alert", "at": now} for k in fresh])
    return set(fresh)


def raise_surge_alerts(deps: Dependencies, days: int = 1, history_days: int = 60) -> list[ev.AnalysisAlert]:
    """Daily counts per station area × family against their recent history; new surges are published."""
    now = deps.clock()
    with read_connection(deps.engine) as conn:
        alerts = [a for a in recent_surges(conn, SYSTEM, now, days=days, history_days=history_days)
                  if a.method in SURGE_METHODS_REPORTED]
    if not alerts:
        return []
    out = []
    with deps.uow() as uow:
        keyed = {f"surge:{a.area}:{a.family}:{a.at:%Y%m%d}:{a.method}": a for a in alerts}
        for key in _new_keys(uow, list(keyed), now):
            a = keyed[key]
            event = ev.AnalysisAlert(
                at=now, actor="system", station_code=a.area if a.area in deps.org else None, alert_kind="surge",
                area=a.area, family=a.family,
                detail={"method": a.method, "day": a.at.isoformat(), "observed": a.observed,
                        "expected": round(a.expected, 2), "statistic": round(a.statistic, 2)},
            )
            uow.emit(event)
            out.append(event)
        uow.commit()
    return out


SERIES_CELL_RESOLUTION = 9
"""H3 resolution of a near-repeat series' place (~0.1 km² cells, edges ~200 m: the rule's distance)."""
_RAISED: WeakKeyDictionary[Engine, OrderedDict[str, None]] = WeakKeyDictionary()
"""Series keys already alerted, per database (most recent few thousand): a series already on the
map costs one primary-key read per new incident in it, not a search of its history."""


def series_key(family: str, point: GeoPoint, at: datetime) -> str:
    """One near-repeat series: a family, in one ~200 m cell, on one (UTC) day."""
    cell = h3.latlng_to_cell(point.lat, point.lon, SERIES_CELL_RESOLUTION)
    return f"near_repeat:{family}:{cell}:{at.astimezone(UTC).date().isoformat()}"


def series_already_alerted(deps: Dependencies, type_code: str, lat: float, lon: float, at: datetime) -> bool:
    """Whether this process already alerted the series a new incident belongs to: the caller (the
    bus listener) can then skip the check without reading anything (an unknown type: False)."""
    raised = _RAISED.get(deps.engine)
    if not raised:
        return False
    try:
        family = deps.catalogue.get(type_code).family
    except DomainError:
        return False
    return series_key(family, GeoPoint(lat=lat, lon=lon), at) in raised


_C = t.incidents.c
_NEW_INCIDENT = DirectStatement(
    select(_C.received_at, _C.lat, _C.lon, _C.family, _C.station_code).where(_C.id == bindparam("id")))
CELLS = 4
"""Place cells the check's box may touch (``tables.place_cell``, ~1 km): any box up to a cell
across touches at most 2 x 2; a wider one is read without the cells."""


def _same_family_nearby(by_cell: bool) -> DirectStatement:
    in_cells = [t.place_cell(_C.lat, _C.lon).in_([bindparam(f"cell_{i}") for i in range(CELLS)])] if by_cell else []
    return DirectStatement(select(_C.lat, _C.lon).where(
        _C.family == bindparam("family"), *in_cells, _C.id != bindparam("id"),
        _C.received_at >= bindparam("since"), _C.received_at < bindparam("until"),
        _C.lat.between(bindparam("lat_lo"), bindparam("lat_hi")),
        _C.lon.between(bindparam("lon_lo"), bindparam("lon_hi")),
    ))


_SAME_FAMILY_NEARBY = _same_family_nearby(by_cell=True)
"""Compiled once: the near-repeat check runs on every new incident (the server's bus listener)."""
_SAME_FAMILY_IN_BOX = _same_family_nearby(by_cell=False)


def _nearby(conn: Connection, params: dict[str, Any]) -> list[Any]:
    """The family's incidents in the box and the time window, read by the place cells the box
    touches (``ix_incidents_family_cell_received``) when it touches few enough."""
    cells = sorted({t.cell_of(lat, lon) for lat in (params["lat_lo"], params["lat_hi"])
                    for lon in (params["lon_lo"], params["lon_hi"])})
    per = t.CELLS_PER_DEGREE
    rows = math.floor(params["lat_hi"] * per) - math.floor(params["lat_lo"] * per) + 1
    columns = math.floor(params["lon_hi"] * per) - math.floor(params["lon_lo"] * per) + 1
    if rows > 2 or columns > 2:  # the corners' cells are all the box's only up to 2 x 2
        return _SAME_FAMILY_IN_BOX.all(conn, params)
    cells += [cells[-1]] * (CELLS - len(cells))  # repeated to fill the statement's places
    return _SAME_FAMILY_NEARBY.all(conn, {**params, **{f"cell_{i}": c for i, c in enumerate(cells)}})


def raise_near_repeat_alert(deps: Dependencies, incident_id: str, distance_m: float = 200.0,
                            days: float = 14.0) -> ev.AnalysisAlert | None:
    """A new incident near recent ones of its family (a near-repeat series): one alert per series.

    A series is the family's incidents in one ~200 m cell on one day (``series_key``): the first
    incident of the day there with an earlier neighbour raises the alert, the rest of the day's
    incidents in that cell do not (an analyst wants to hear of a series once, not at every new
    call in it). Runs on every new incident, so it reads only the family's incidents of the window
    in the place cells around the new one (``_nearby``), never the whole area's or the whole
    history's, and nothing more once the series is known."""
    raised = _RAISED.setdefault(deps.engine, OrderedDict())
    with read_connection(deps.engine) as conn:
        found = _NEW_INCIDENT.first(conn, {"id": incident_id})
        if found is None:
            return None
        received_at, lat, lon, family, station_code = found
        here = GeoPoint(lat=lat, lon=lon)
        key = series_key(family, here, received_at)
        if key in raised:
            return None
        dlat, dlon = degree_margins(lat, distance_m)
        history_rows = _nearby(conn, {
            "family": family, "id": incident_id, "since": received_at - timedelta(days=days), "until": received_at,
            "lat_lo": lat - dlat, "lat_hi": lat + dlat, "lon_lo": lon - dlon, "lon_hi": lon + dlon})
    # The rule of analytics.nearrepeat.near_repeat_alerts (same family, within distance_m, in the
    # days before), applied to one incident without building analysis arrays (~10 ms with pandas).
    recent = sum(1 for h_lat, h_lon in history_rows if haversine_m(here, GeoPoint(lat=h_lat, lon=h_lon)) <= distance_m)
    if recent == 0:
        return None
    now = deps.clock()
    with deps.uow() as uow:
        if not _new_keys(uow, [key], now):
            _remember(raised, key)  # raised by another process, or before a restart
            return None
        event = ev.AnalysisAlert(
            at=now, actor="system", station_code=station_code, alert_kind="near_repeat",
            area=station_code or "", family=family,
            detail={"incident_id": incident_id, "lat": lat, "lon": lon, "recent": recent,
                    "distance_m": distance_m, "days": days, "series": key},
        )
        uow.emit(event)
        uow.commit()
    _remember(raised, key)
    return event


def _remember(raised: OrderedDict[str, None], key: str, keep: int = 4096) -> None:
    raised[key] = None
    while len(raised) > keep:
        raised.popitem(last=False)
