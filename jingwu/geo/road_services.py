"""Everything the road network gives a running jingwu, built in one call at start-up.

The API runtime, the demo and the drill simulator all need the same three things from one OSM
file (the graph, the travel-time engine over it, the geocoder over its names); building them here
keeps the cache location and the defaults in one place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from jingwu.geo.geocoder import Geocoder
from jingwu.geo.roads import RoadNetwork, RoadSettings, load_road_network, shipped_andorra
from jingwu.geo.snapping import RoadSnapper
from jingwu.geo.traffic import TrafficTable
from jingwu.geo.travel import RoadTravelTimes


@dataclass(frozen=True)
class RoadServices:
    network: RoadNetwork
    travel: RoadTravelTimes
    geocoder: Geocoder
    ready_s: float
    """Seconds from the call to ready: ~0.3 s cold for Andorra, ~0.15 s from cache."""


def load_road_services(
    path: Path | None = None,
    cache_dir: Path | None = None,
    *,
    traffic: TrafficTable | None = None,
    timezone: str | None = None,
    snap_max_distance_m: float = 300.0,
    off_road_speed_kmh: float = 10.0,
    straight_line_speed_kmh: float = 40.0,
    road_settings: RoadSettings | None = None,
) -> RoadServices:
    """Load (through the ``.npz`` cache) and wire the network; ``path=None`` is the shipped Andorra."""
    started = time.perf_counter()
    network = load_road_network(path or shipped_andorra(), cache_dir, road_settings)
    travel = RoadTravelTimes(
        network,
        traffic=traffic or TrafficTable.default(timezone),
        snap=RoadSnapper(network, max_distance_m=snap_max_distance_m),
        off_road_speed_kmh=off_road_speed_kmh,
        straight_line_speed_kmh=straight_line_speed_kmh,
    )
    geocoder = Geocoder(network, nearest_road=travel.snap_place)
    return RoadServices(network, travel, geocoder, round(time.perf_counter() - started, 3))
