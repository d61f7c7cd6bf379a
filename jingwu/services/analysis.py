"""Analysis use cases over the incidents table: the database path into ``jingwu.analytics``.

Reads only the place-and-time columns an analysis needs (never callers or descriptions), within the
acting user's jurisdiction, and hands them to the pure analytics code. Surge alerts come back as
frozen dataclasses; ``early_warning`` publishes them (and checks near-repeats itself, per incident).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from jingwu.analytics.forecast_map import forecast_geojson, forecast_next
from jingwu.analytics.hotspots import density_surface, hex_hotspots
from jingwu.analytics.maps import hotspot_features
from jingwu.analytics.records import PUBLIC_SOURCES, IncidentRecords
from jingwu.analytics.surges import SurgeAlert, count_series, surge_alerts
from jingwu.domain.access import Action, Actor
from jingwu.domain.errors import DomainError
from jingwu.store import tables as t

ANALYSIS_COLUMNS = ("received_at", "lat", "lon", "type_code", "family", "source", "station_code", "priority",
                    "dispatched_at", "arrived_at")


@dataclass(frozen=True)
class AnalysisFilter:
    since: datetime
    until: datetime
    stations: frozenset[str] | None = None
    """An org unit's subtree (``OrgTree.under``): one station, or a district branch's stations."""
    family: str | None = None
    type_code: str | None = None
    public_only: bool = False
    """Only public-initiated incidents (the default for forecasts: see docs/analytics.md)."""


def incident_records(conn: Connection, actor: Actor, f: AnalysisFilter) -> IncidentRecords:
    """Incidents received in [since, until) that the actor may see, as analysis arrays."""
    actor.require(Action.ANALYSIS_READ)
    if f.until <= f.since:
        raise DomainError("until must be after since", field="until")
    c = t.incidents.c
    q = select(*(c[name] for name in ANALYSIS_COLUMNS)).where(c.received_at >= f.since, c.received_at < f.until)
    if actor.scope is not None:
        q = q.where(c.station_code.in_(sorted(actor.scope)))
    if f.stations is not None:
        q = q.where(c.station_code.in_(sorted(f.stations)))
    if f.family:
        q = q.where(c.family == f.family)
    if f.type_code:
        q = q.where(c.type_code == f.type_code)
    if f.public_only:
        q = q.where(c.source.in_(sorted(PUBLIC_SOURCES)))
    records = IncidentRecords.from_rows(dict(r._mapping) for r in conn.execute(q.order_by(c.received_at)))
    return records.select(records.main_area())


def hotspot_layer(conn: Connection, actor: Actor, f: AnalysisFilter, resolution: int = 9,
                  permutations: int = 499, alpha: float = 0.05) -> dict[str, Any]:
    """The command map's hotspot layer (GeoJSON: Gi* hexagons and the densest KDE cells)."""
    records = incident_records(conn, actor, f)
    if len(records) == 0:
        return {"type": "FeatureCollection", "features": [], "properties": {"incidents": 0}}
    surface = density_surface(records, cell_m=100.0)
    spots = hex_hotspots(records, resolution=resolution, permutations=permutations, alpha=alpha)
    layer = hotspot_features(surface, spots)
    layer["properties"]["incidents"] = len(records)
    return layer


def forecast_layer(conn: Connection, actor: Actor, f: AnalysisFilter, model: str = "seppexp",
                   period: str = "week", coverage: float = 0.05) -> dict[str, Any]:
    """The coming period's flagged cells as GeoJSON, with the flagged area's share per district.
    Trains on public-initiated incidents unless the filter says otherwise (docs/analytics.md)."""
    records = incident_records(conn, actor, f)
    try:
        return forecast_geojson(forecast_next(records, model, period, 150.0, coverage))
    except ValueError as exc:
        raise DomainError(str(exc), field="model") from exc


def recent_surges(conn: Connection, actor: Actor, now: datetime, days: int = 1, history_days: int = 60,
                  freq: str = "day") -> list[SurgeAlert]:
    """Surge alerts of the last ``days`` days (or hours), from ``history_days`` of counts."""
    since = now - timedelta(days=history_days)
    records = incident_records(conn, actor, AnalysisFilter(since=since, until=now))
    if len(records) == 0:
        return []
    return surge_alerts(count_series(records, freq), last_bins=days)
