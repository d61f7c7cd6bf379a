"""Analysis for the command map and the analyst: ``GET /api/analysis/hotspots`` (GeoJSON layer),
``GET /api/analysis/forecast`` (flagged cells for the coming period) and ``GET /api/analysis/surges``
(recent surge alerts). Places and times only; scoped to the actor's
jurisdiction by the service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from jingwu.api.deps import ActorDep, DepsDep
from jingwu.services import analysis
from jingwu.services.queries import as_utc
from jingwu.store.unit_of_work import read_connection

router = APIRouter(prefix="/api/analysis", tags=["analysis"])


@router.get("/hotspots", response_class=JSONResponse,
            responses={200: {"description": "GeoJSON FeatureCollection: layer gi_star (hexagons) and density"}})
def hotspots(
    actor: ActorDep, deps: DepsDep,
    since: datetime | None = None, until: datetime | None = None,
    station: Annotated[str | None, Query(max_length=32)] = None,
    family: Annotated[str | None, Query(max_length=40)] = None,
    type_code: Annotated[str | None, Query(max_length=40)] = None,
    resolution: Annotated[int, Query(ge=6, le=11)] = 9,
    permutations: Annotated[int, Query(ge=99, le=999)] = 499,
    alpha: Annotated[float, Query(gt=0, le=0.2)] = 0.05,
) -> JSONResponse:
    """Hot and cold spots (Gi*, FDR-controlled) and kernel density; default period the last 90 days."""
    end = as_utc(until, "until") or deps.clock().astimezone(UTC)
    start = as_utc(since, "since") or end - timedelta(days=90)
    f = analysis.AnalysisFilter(since=start, until=end, stations=deps.org.under(station),
                                family=deps.catalogue.known_family(family),
                                type_code=deps.catalogue.known_type(type_code, "type_code"))
    with read_connection(deps.engine) as conn:
        layer = analysis.hotspot_layer(conn, actor, f, resolution, permutations, alpha)
    return JSONResponse(layer, media_type="application/geo+json")


@router.get("/forecast", response_class=JSONResponse,
            responses={200: {"description": "GeoJSON FeatureCollection of the flagged cells (layer forecast)"}})
def forecast(
    actor: ActorDep, deps: DepsDep,
    model: Annotated[str, Query(pattern="^(naive|retrospective_kde|prospective_hotspot|seppexp)$")] = "seppexp",
    period: Annotated[str, Query(pattern="^(day|week)$")] = "week",
    coverage: Annotated[float, Query(gt=0, le=0.2)] = 0.05,
    station: Annotated[str | None, Query(max_length=32)] = None,
    family: Annotated[str | None, Query(max_length=40)] = None,
    history_days: Annotated[int, Query(ge=30, le=3 * 366)] = 3 * 365,
    all_sources: bool = False,
) -> JSONResponse:
    """Cells flagged for the coming day or week, trained on public-initiated incidents by default."""
    end = deps.clock().astimezone(UTC)
    f = analysis.AnalysisFilter(since=end - timedelta(days=history_days), until=end, stations=deps.org.under(station),
                                family=deps.catalogue.known_family(family), public_only=not all_sources)
    with read_connection(deps.engine) as conn:
        layer = analysis.forecast_layer(conn, actor, f, model, period, coverage)
    return JSONResponse(layer, media_type="application/geo+json")


@router.get("/surges")
def surges(
    actor: ActorDep, deps: DepsDep,
    days: Annotated[int, Query(ge=1, le=31)] = 1,
    freq: Annotated[str, Query(pattern="^(day|hour)$")] = "day",
) -> list[dict[str, Any]]:
    """Surge alerts (EARS C1/C2/C3, Poisson CUSUM) per station area and family, last ``days`` bins."""
    now = deps.clock().astimezone(UTC)
    with read_connection(deps.engine) as conn:
        alerts = analysis.recent_surges(conn, actor, now, days=days, freq=freq)
    return [{"area": a.area, "family": a.family, "at": a.at.replace(tzinfo=UTC).isoformat(), "method": a.method,
             "observed": a.observed, "expected": a.expected, "statistic": a.statistic} for a in alerts]
