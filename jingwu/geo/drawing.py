"""Which of a road network's shape points a route's line needs, and how finely to write them.

OSM draws mountain roads with a shape point every few metres: a unit's route across Andorra had
~350 of them, and the ten routes of one intake answer were 40 KB of JSON, most of the answer's
serialising time. A dispatch map (zoom 13–16, 2–15 m a pixel) cannot show detail under a couple
of metres, so each chain of shape points between two junctions is simplified once
(Douglas–Peucker, shapely) to ``ROUTE_TOLERANCE_M`` and a route's line keeps only the points that
survive. Junctions always stay, so every route still follows the roads it takes; the route's
times and metres are worked out on the whole network, never on the drawn line.

Coordinates are written with ``COORDINATE_DECIMALS`` decimals, as RFC 7946 (GeoJSON) advises:
6 decimals of a degree are ~10 cm, far finer than a GPS fix, and half the characters of a full
float.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from jingwu.geo.reverse_search import _Chains, network_chains
from jingwu.geo.roads import RoadNetwork, metres_per_degree

Point = tuple[float, float]
"""(lon, lat) of a route's point, written as a GeoJSON position."""
Line = tuple[Point, ...]

ROUTE_TOLERANCE_M = 2.0
"""How far a drawn route may stray from the road's shape points (under one pixel at zoom 16)."""
COORDINATE_DECIMALS = 6


def drawn_nodes(network: RoadNetwork, chains: _Chains | None = None,
                tolerance_m: float = ROUTE_TOLERANCE_M) -> np.ndarray:
    """A flag per node: whether a route through it draws it (junctions, and the shape points a
    simplification of their chain keeps). ``chains``: the network's, if already made (the search's)."""
    n = network.n_nodes
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    if chains is None:
        chains = network_chains(network)
    keep[chains.junctions] = True
    node = chains.node
    kx, ky = metres_per_degree(network)
    xy = np.column_stack([network.lon[node] * kx, network.lat[node] * ky])
    lengths = chains.last - chains.first + 1
    which = np.repeat(np.arange(len(lengths)), lengths)
    lines = shapely.linestrings(xy, indices=which)
    simple = shapely.simplify(lines, tolerance_m, preserve_topology=False)
    kept_xy, kept_of = shapely.get_coordinates(simple, return_index=True)
    # Douglas–Peucker keeps a subsequence of each chain's points, bit for bit: match them in order.
    starts = np.searchsorted(kept_of, np.arange(len(lengths) + 1))
    xs, ys = xy[:, 0].tolist(), xy[:, 1].tolist()
    kx_list, ky_list = kept_xy[:, 0].tolist(), kept_xy[:, 1].tolist()
    node_list = node.tolist()
    firsts, lasts = chains.first.tolist(), chains.last.tolist()
    kept: list[int] = []
    for c, (lo, hi) in enumerate(zip(firsts, lasts, strict=True)):
        j, j_end = int(starts[c]), int(starts[c + 1])
        if j_end - j < 2:  # collapsed (a tiny loop): draw every point
            kept.extend(node_list[lo : hi + 1])
            continue
        for p in range(lo, hi + 1):
            if j < j_end and xs[p] == kx_list[j] and ys[p] == ky_list[j]:
                kept.append(node_list[p])
                j += 1
    keep[np.asarray(kept, dtype=np.int64)] = True
    return keep


@dataclass(frozen=True, slots=True)
class RouteDrawing:
    """How a network's routes are drawn, worked out at its first route: the nodes a line keeps
    (``drawn_nodes``) and every node's [lon, lat] as written (16 bytes a node: 16 MB for 1M nodes),
    so that a route's line is one gather and one ``tolist``, not a stack and a rounding each.

    A point is a ``(lon, lat)`` tuple: immutable, so that routes can share them, and of floats, so
    that the garbage collector stops tracking it (and a tuple of them) after its first collection;
    lists kept in a search's routes made the collector's passes longer (docs/geo.md). Routes read a
    chain at a time (chain_paths.py) take each chain's drawn points made once (``chain_points``):
    a slice copies references, no float is made again. They are kept for the network's life, ~130
    bytes a drawn point (a junction counts once per chain) for the chains routes have crossed: 1.5
    MB for every chain of Andorra, tens of MB if every chain of a 1M-node city were crossed."""

    drawn: np.ndarray
    lonlat: np.ndarray
    chains: _Chains
    drawn_before: np.ndarray
    """per chain-table position: how many drawn positions come before it (one more entry at the end)"""
    _points: dict[int, tuple[Line, Line]]
    at_drawn: memoryview
    """``drawn`` and ``drawn_before`` one element at a time, as Python values (``_Chains``' ``at_``)"""
    at_drawn_before: memoryview

    @classmethod
    def of(cls, network: RoadNetwork, chains: _Chains | None = None) -> RouteDrawing:
        """``chains``: the network's, if already made (the search's)."""
        if chains is None:
            chains = network_chains(network)
        lonlat = np.column_stack([network.lon, network.lat]).round(COORDINATE_DECIMALS)
        drawn = drawn_nodes(network, chains)
        before = np.zeros(len(chains.node) + 1, dtype=np.int64)
        np.cumsum(drawn[chains.node], out=before[1:])
        return cls(drawn, lonlat, chains, before, {}, drawn.data, before.data)

    def chain_points(self, chain: int) -> tuple[Line, Line]:
        """The drawn points of a chain in the order of its table, and reversed (made at first use)."""
        got = self._points.get(chain)
        if got is None:
            c = self.chains
            nodes = c.node[c.first[chain] : c.last[chain] + 1]
            forward = self.points(nodes[self.drawn[nodes]])
            got = self._points.setdefault(chain, (forward, forward[::-1]))
        return got

    def points(self, nodes: np.ndarray) -> Line:
        """The points of ``nodes``, as written."""
        lonlat = self.lonlat[nodes]
        return tuple(zip(lonlat[:, 0].tolist(), lonlat[:, 1].tolist(), strict=True))

    def line(self, nodes: np.ndarray) -> Line:
        """The drawn points of a path of network nodes (its two ends always)."""
        mask = self.drawn[nodes]
        mask[0] = mask[-1] = True
        return self.points(nodes[mask])


_SCALE = 10.0**COORDINATE_DECIMALS


def point(lon: float, lat: float) -> Point:
    """One (lon, lat) as routes write them: rounded as numpy rounds ``RouteDrawing``'s points (half to
    even of the scaled float), so a unit standing on a node writes that node's very numbers."""
    return (round(lon * _SCALE) / _SCALE, round(lat * _SCALE) / _SCALE)
