"""Bounded shortest-path search towards one point over the reversed road graph.

scipy's compiled Dijkstra allocates and initialises O(n) arrays on every call: ~3.4 ms at 1M nodes
before a single node is settled. A search bounded by ``limit`` seconds cannot leave the disc of
radius ``limit x fastest speed`` around its sources, so on a very large graph only the nodes in that
disc's bounding box are cut out (a grid index of the nodes makes that a few slices) and searched.
Cutting costs about as much per region node as scipy's set-up costs per graph node, so it only pays
when the graph is much larger than the region: on the 1M-node benchmark grid with 5,000 units
(regions of ~50k nodes) it was slower (CPU p50 10.9 ms against 8.8 ms whole), hence the default
threshold of 3M nodes. Smaller graphs, or a box holding a quarter of the graph, are searched whole
with a virtual source row preallocated in the CSR. Both give the same distances within ``limit``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from jingwu.geo.roads import EARTH_RADIUS_M, RoadNetwork


@dataclass(frozen=True, slots=True)
class SearchTree:
    """Distances and predecessors of one search, in the searched graph's own numbering.

    ``nodes`` maps local ids to network node ids (sorted); ``None`` when the whole graph was searched.
    The virtual source is local id ``root``; its predecessor chain ends every path.
    """

    dist: np.ndarray
    pred: np.ndarray
    root: int
    nodes: np.ndarray | None

    def local(self, v: np.ndarray) -> np.ndarray:
        """Local ids of network nodes ``v``; -1 where a node was outside the searched region."""
        if self.nodes is None:
            return np.asarray(v, dtype=np.int64)
        v = np.asarray(v, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.nodes, v), len(self.nodes) - 1)
        return np.where(self.nodes[pos] == v, pos, -1)

    def dist_of(self, v: np.ndarray) -> np.ndarray:
        loc = self.local(v)
        return np.where(loc >= 0, self.dist[np.maximum(loc, 0)], np.inf)

    def network_ids(self, local: list[int]) -> np.ndarray:
        ids = np.asarray(local, dtype=np.int64)
        return ids if self.nodes is None else self.nodes[ids]


class ReverseSearch:
    """Searches from a few weighted sources over the reversed graph, for one weight vector at a time."""

    def __init__(self, network: RoadNetwork, *, local_above_nodes: int = 3_000_000, cell_m: float = 2000.0) -> None:
        self.network = network
        self.local_above_nodes = local_above_nodes
        self.cell_m = cell_m
        self._whole: dict[int, tuple[csr_matrix, np.ndarray]] = {}
        self._fastest: dict[int, tuple[np.ndarray, float]] = {}
        self._lock = threading.Lock()
        self._map: np.ndarray | None = None
        lat0 = float(network.lat.mean()) if network.n_nodes else 0.0
        self.kx = EARTH_RADIUS_M * math.cos(math.radians(lat0)) * math.pi / 180
        self.ky = EARTH_RADIUS_M * math.pi / 180
        x, y = network.lon * self.kx, network.lat * self.ky
        self.x0, self.y0 = (float(x.min()), float(y.min())) if network.n_nodes else (0.0, 0.0)
        ix = ((x - self.x0) // cell_m).astype(np.int64)
        iy = ((y - self.y0) // cell_m).astype(np.int64)
        self.nx = int(ix.max()) + 1 if network.n_nodes else 1
        self.ny = int(iy.max()) + 1 if network.n_nodes else 1
        cell = iy * self.nx + ix
        self.by_cell = np.argsort(cell, kind="stable").astype(np.int64)
        self.cell_start = np.zeros(self.nx * self.ny + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell, minlength=self.nx * self.ny), out=self.cell_start[1:])

    def run(
        self,
        weights: np.ndarray,
        sources: Sequence[tuple[int, float]],
        limit: float,
        near: tuple[float, float],
    ) -> SearchTree:
        """Shortest times from every node within ``limit`` to the nearest source (plus its offset).

        ``weights`` must be one of a few long-lived arrays (they key the caches by identity);
        ``near`` is (lat, lon) of the sources, the centre of the region that can be reached.
        """
        if self.network.n_nodes > self.local_above_nodes:
            region = self._region(weights, limit, near)
            if region is not None and np.isin([s for s, _ in sources], region).all():
                return self._local(weights, sources, limit, region)
        return self._whole_graph(weights, sources, limit)

    # --- whole graph --------------------------------------------------------------------------

    def _whole_graph(self, weights: np.ndarray, sources: Sequence[tuple[int, float]], limit: float) -> SearchTree:
        net = self.network
        n, m = net.n_nodes, net.n_edges
        graph, kept = self._whole.get(id(weights), (None, None))
        if graph is None or kept is not weights:
            data = np.concatenate([weights[net.rev_edges], [1.0, 1.0]])
            indices = np.concatenate([net.tail[net.rev_edges], [0, 0]]).astype(np.int32)
            indptr = np.concatenate([net.rev_indptr, [m + 2]]).astype(np.int32)
            graph = csr_matrix((data, indices, indptr), shape=(n + 1, n + 1))
            if len(self._whole) > 4:
                self._whole.clear()
            self._whole[id(weights)] = (graph, weights)  # the array is kept so its id stays unique
        (s0, w0), (s1, w1) = sources[0], sources[-1]
        with self._lock:
            graph.indices[m], graph.data[m] = s0, max(w0, 1e-6)
            graph.indices[m + 1], graph.data[m + 1] = s1, max(w1, 1e-6)
            dist, pred = dijkstra(graph, directed=True, indices=n, limit=limit, return_predecessors=True)
        return SearchTree(dist, pred, n, None)

    # --- a region cut out of a large graph ----------------------------------------------------

    def _region(self, weights: np.ndarray, limit: float, near: tuple[float, float]) -> np.ndarray | None:
        """Sorted ids of the nodes in the bounding box of the reachable disc (5% margin)."""
        known = self._fastest.get(id(weights))
        if known is None or known[0] is not weights:
            net = self.network
            known = (weights, float(np.max(net.metres / weights)) if net.n_edges else 1.0)
            if len(self._fastest) > 8:
                self._fastest.clear()
            self._fastest[id(weights)] = known
        fastest = known[1]
        radius = limit * fastest * 1.05 + self.cell_m
        cx, cy = near[1] * self.kx - self.x0, near[0] * self.ky - self.y0
        ix0, ix1 = max(0, int((cx - radius) // self.cell_m)), min(self.nx - 1, int((cx + radius) // self.cell_m))
        iy0, iy1 = max(0, int((cy - radius) // self.cell_m)), min(self.ny - 1, int((cy + radius) // self.cell_m))
        if ix0 > ix1 or iy0 > iy1:
            return None
        rows = np.arange(iy0, iy1 + 1) * self.nx
        starts, ends = self.cell_start[rows + ix0], self.cell_start[rows + ix1 + 1]
        total = int((ends - starts).sum())
        if total >= self.network.n_nodes // 4:
            return None
        picked = np.concatenate([self.by_cell[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)])
        picked.sort()
        return picked

    def _local(
        self, weights: np.ndarray, sources: Sequence[tuple[int, float]], limit: float, nodes: np.ndarray
    ) -> SearchTree:
        net = self.network
        k = len(nodes)
        first, last = net.rev_indptr[nodes], net.rev_indptr[nodes + 1]
        counts = last - first
        offsets = np.repeat(first - (np.cumsum(counts) - counts), counts)
        edges = net.rev_edges[offsets + np.arange(int(counts.sum()))]
        rows = np.repeat(np.arange(k), counts)
        with self._lock:  # one shared network-sized map, set for the region and reset after
            if self._map is None:
                self._map = np.full(net.n_nodes, -1, dtype=np.int64)
            self._map[nodes] = np.arange(k)
            cols = self._map[net.tail[edges]]
            src = self._map[[s for s, _ in sources]]
            self._map[nodes] = -1
        inside = cols >= 0
        rows, cols, data = rows[inside], cols[inside], weights[edges[inside]]
        indptr = np.zeros(k + 2, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=k), out=indptr[1 : k + 1])
        indptr[k + 1] = indptr[k] + len(sources)
        indices = np.concatenate([cols, src]).astype(np.int32)
        values = np.concatenate([data, [max(w, 1e-6) for _, w in sources]])
        graph = csr_matrix((values, indices, indptr.astype(np.int32)), shape=(k + 1, k + 1))
        dist, pred = dijkstra(graph, directed=True, indices=k, limit=limit, return_predecessors=True)
        return SearchTree(dist, pred, k, nodes)
