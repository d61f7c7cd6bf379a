"""Geocoding for the call-taker console: typed address -> candidates, map click -> street + station."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from jingwu.api.deps import ActorDep, DepsDep
from jingwu.domain.geography import GeoPoint
from jingwu.domain.places import AddressResolver

router = APIRouter(prefix="/api/geocode", tags=["geocode"])


class PlaceCandidateOut(BaseModel):
    label: str
    lat: float
    lon: float
    kind: str
    score: float


class ReversePlaceOut(BaseModel):
    street: str | None
    distance_m: float | None
    station: str | None


def _resolver(places: AddressResolver | None) -> AddressResolver:
    if places is None:
        raise HTTPException(
            status_code=503, detail=[{"field": "q", "message": "no road network is loaded: geocoding is unavailable"}]
        )
    return places


@router.get("", response_model=list[PlaceCandidateOut])
def forward(
    _actor: ActorDep,
    deps: DepsDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="street, A & B, 甲路与乙路交叉口, place")],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> list[PlaceCandidateOut]:
    """Candidates best first, each with a 0..1 score; several when the text is ambiguous."""
    found = _resolver(deps.places).forward(q, limit=limit)
    return [
        PlaceCandidateOut(label=c.label, lat=c.point.lat, lon=c.point.lon, kind=c.kind, score=c.score) for c in found
    ]


@router.get("/reverse", response_model=ReversePlaceOut)
def reverse(
    _actor: ActorDep,
    deps: DepsDep,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
) -> ReversePlaceOut:
    """The nearest named street and the station whose jurisdiction holds the point."""
    point = GeoPoint(lat=lat, lon=lon)
    found = _resolver(deps.places).reverse(point)
    return ReversePlaceOut(street=found.street, distance_m=found.distance_m, station=deps.org.resolve_station(point))
