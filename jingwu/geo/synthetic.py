"""A generated province-scale road network, for benchmarks at a size no test extract reaches.

A perturbed grid of local streets with arterial and trunk roads every few blocks, some blocks
missing (rivers, parks) and some streets one-way, is close enough to a real province's road graph
for timing a shortest-path search: similar degree (~4), similar speed mix, and long fast corridors
that make the searched region anisotropic. Generated data is cached under the data directory and
never committed.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from jingwu.geo.roads import (
    ROAD_CLASSES,
    RoadNetwork,
    RoadSettings,
    build_network,
    haversine_arrays,
    read_network,
    save_network,
)


@dataclass(frozen=True, slots=True)
class ProvinceGrid:
    """Shape of the generated network; ``side * side`` nodes before the largest-SCC cut."""

    side: int = 1024
    spacing_m: float = 150.0
    jitter_m: float = 30.0
    arterial_every: int = 8
    trunk_every: int = 64
    missing_share: float = 0.04
    oneway_share: float = 0.08
    centre_lat: float = 23.1
    centre_lon: float = 113.3
    seed: int = 7


SPEEDS_KMH = {"residential": 30.0, "primary": 60.0, "trunk": 90.0}


def generate_province(grid: ProvinceGrid = ProvinceGrid(), settings: RoadSettings | None = None) -> RoadNetwork:
    """Build the network in memory (about 10 s and 0.5 GB at the default 1M nodes)."""
    settings = settings or RoadSettings()
    started = time.perf_counter()
    rng = np.random.default_rng(grid.seed)
    side = grid.side
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    metres_per_deg_lat = 111_320.0
    metres_per_deg_lon = metres_per_deg_lat * math.cos(math.radians(grid.centre_lat))
    y = (ii - side / 2) * grid.spacing_m + rng.normal(0, grid.jitter_m, ii.shape)
    x = (jj - side / 2) * grid.spacing_m + rng.normal(0, grid.jitter_m, jj.shape)
    lat = (grid.centre_lat + y / metres_per_deg_lat).ravel()
    lon = (grid.centre_lon + x / metres_per_deg_lon).ravel()
    node = (ii * side + jj).astype(np.int64)

    tails, heads, classes = [], [], []
    for a, b, line in (
        (node[:, :-1], node[:, 1:], ii[:, :-1]),  # east-west streets, classed by their row
        (node[:-1, :], node[1:, :], jj[:-1, :]),  # north-south streets, classed by their column
    ):
        a, b, line = a.ravel(), b.ravel(), line.ravel()
        cls = np.full(len(a), ROAD_CLASSES.index("residential"), dtype=np.int8)
        cls[line % grid.arterial_every == 0] = ROAD_CLASSES.index("primary")
        cls[line % grid.trunk_every == 0] = ROAD_CLASSES.index("trunk")
        local = cls == ROAD_CLASSES.index("residential")
        present = ~(local & (rng.random(len(a)) < grid.missing_share))
        oneway = local & (rng.random(len(a)) < grid.oneway_share)
        flip = rng.random(len(a)) < 0.5
        a, b, cls, oneway, flip = a[present], b[present], cls[present], oneway[present], flip[present]
        fwd_t, fwd_h = np.where(flip & oneway, b, a), np.where(flip & oneway, a, b)
        tails += [fwd_t, b[~oneway]]
        heads += [fwd_h, a[~oneway]]
        classes += [cls, cls[~oneway]]
    tail = np.concatenate(tails)
    head = np.concatenate(heads)
    road_class = np.concatenate(classes)
    metres = haversine_arrays(lat[tail], lon[tail], lat[head], lon[head])
    speed = np.array([SPEEDS_KMH.get(c, 30.0) for c in ROAD_CLASSES])[road_class]
    seconds = metres / (speed / 3.6)
    return build_network(
        lat, lon, tail, head, metres, seconds, road_class, np.full(len(tail), -1, dtype=np.int32),
        (), (), settings, source=f"synthetic province {side}x{side}", sha256=grid_key(grid), started=started,
    )  # fmt: skip


def grid_key(grid: ProvinceGrid) -> str:
    return hashlib.sha256(json.dumps(asdict(grid), sort_keys=True).encode()).hexdigest()[:20]


def load_province(cache_dir: Path, grid: ProvinceGrid = ProvinceGrid()) -> RoadNetwork:
    """The generated network through an ``.npz`` cache keyed on its parameters."""
    cached = Path(cache_dir) / f"province-{grid.side}-{grid_key(grid)}.npz"
    if cached.exists():
        try:
            return read_network(cached)
        except (OSError, ValueError, KeyError):
            cached.unlink(missing_ok=True)
    network = generate_province(grid)
    save_network(network, cached)
    return network
