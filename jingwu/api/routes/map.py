"""What the web map needs beyond the command API: the base map drawn from the loaded road network
(there are no online tiles), the front end's configuration, and a unit-to-incident route.

The road GeoJSON is built once per process from the ``RoadNetwork`` the runtime holds (either
``runtime.extras["roads"]`` or the road travel engine's network), chained through degree-2 nodes and
rounded to ~1 m so Andorra's whole network is a few hundred kilobytes.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from jingwu import __version__
from jingwu.api.deps import ActorDep, RuntimeDep
from jingwu.api.runtime import Runtime
from jingwu.domain.access import Action
from jingwu.domain.geography import GeoPoint

router = APIRouter(prefix="/api", tags=["map"])
LANGUAGES = ("zh-Hant", "zh-Hans", "en")
_build_lock = threading.Lock()


def road_network(runtime: Runtime) -> Any | None:
    """The loaded road network, if any: the runtime's extra, else the travel engine's own."""
    network = runtime.extras.get("roads")
    if network is None:
        network = getattr(runtime.deps.travel, "network", None)
    return network if network is not None and hasattr(network, "tail") else None


def _chains(pairs: list[tuple[int, int]]) -> list[list[int]]:
    """Joins undirected segments into polylines that break only at junctions and dead ends."""
    adjacent: dict[int, list[int]] = defaultdict(list)
    for a, b in pairs:
        adjacent[a].append(b)
        adjacent[b].append(a)
    used: set[tuple[int, int]] = set()
    out: list[list[int]] = []

    def walk(start: int, nxt: int) -> list[int]:
        line = [start]
        prev, cur = start, nxt
        used.add((min(prev, cur), max(prev, cur)))
        while True:
            line.append(cur)
            if len(adjacent[cur]) != 2:
                return line
            follow = adjacent[cur][0] if adjacent[cur][1] == prev else adjacent[cur][1]
            key = (min(cur, follow), max(cur, follow))
            if key in used:
                return line
            used.add(key)
            prev, cur = cur, follow

    for node, neighbours in adjacent.items():
        if len(neighbours) != 2:
            for n in neighbours:
                if (min(node, n), max(node, n)) not in used:
                    out.append(walk(node, n))
    for a, b in pairs:  # loops made only of degree-2 nodes
        if (min(a, b), max(a, b)) not in used:
            out.append(walk(a, b))
    return out


def roads_geojson(network: Any) -> dict[str, Any]:
    """One MultiLineString feature per road class (motorway … service), coordinates as [lon, lat]."""
    from jingwu.geo.roads import ROAD_CLASSES

    tail, head, cls = network.tail.tolist(), network.head.tolist(), network.road_class.tolist()
    lat, lon = network.lat.tolist(), network.lon.tolist()
    by_class: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for a, b, c in zip(tail, head, cls, strict=True):
        if a != b:
            by_class[int(c)].add((min(a, b), max(a, b)))
    features = []
    for c in sorted(by_class):
        lines = [[[round(lon[n], 5), round(lat[n], 5)] for n in chain] for chain in _chains(sorted(by_class[c]))]
        name = ROAD_CLASSES[c] if 0 <= c < len(ROAD_CLASSES) else "road"
        features.append({"type": "Feature", "properties": {"class": name, "rank": c},
                         "geometry": {"type": "MultiLineString", "coordinates": lines}})
    return {"type": "FeatureCollection", "features": features}


@router.get("/ui-config")
def ui_config(runtime: RuntimeDep) -> dict[str, Any]:
    """Public settings the pages need before login: time zone, optional tile server, languages."""
    s = runtime.settings
    return {"timezone": s.timezone, "tile_url": s.tile_url, "tile_attribution": s.tile_attribution,
            "languages": list(LANGUAGES), "version": __version__, "checkin_interval_s": s.checkin_interval_s,
            "duplicate_radius_m": s.duplicate_radius_m, "duplicate_window_s": s.duplicate_window_s}


@router.get("/map/roads", responses={200: {"description": "GeoJSON FeatureCollection (empty without a road network)"}})
def roads(actor: ActorDep, runtime: RuntimeDep, request: Request) -> Response:
    actor.require(Action.UNIT_READ)
    network = road_network(runtime)
    if network is None:
        body = b'{"type":"FeatureCollection","features":[]}'
        return Response(body, media_type="application/geo+json", headers={"Cache-Control": "no-cache"})
    with _build_lock:
        cached = runtime.extras.get("web_roads_geojson")
        if cached is None or cached[0] is not network:
            encoded = json.dumps(roads_geojson(network), separators=(",", ":")).encode()
            cached = (network, encoded, f'"roads-{id(network):x}-{len(encoded)}"')
            runtime.extras["web_roads_geojson"] = cached
    _net, encoded, etag = cached
    headers = {"ETag": etag, "Cache-Control": "private, max-age=3600"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(encoded, media_type="application/geo+json", headers=headers)


@router.get("/map/route")
def route(
    actor: ActorDep, runtime: RuntimeDep,
    from_lat: Annotated[float, Query(ge=-90, le=90)], from_lon: Annotated[float, Query(ge=-180, le=180)],
    to_lat: Annotated[float, Query(ge=-90, le=90)], to_lon: Annotated[float, Query(ge=-180, le=180)],
) -> dict[str, Any]:
    """The road route between two points as a GeoJSON LineString, or the straight line (``road: false``)."""
    actor.require(Action.UNIT_READ)
    origin, destination = GeoPoint(lat=from_lat, lon=from_lon), GeoPoint(lat=to_lat, lon=to_lon)
    finder = getattr(runtime.deps.travel, "route", None)
    found = finder(origin, destination, runtime.deps.clock()) if callable(finder) else None
    if found:
        return {"road": True, "route": found}
    return {"road": False, "route": {"type": "LineString", "coordinates": [[from_lon, from_lat], [to_lon, to_lat]]}}
