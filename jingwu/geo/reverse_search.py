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

Road graphs read from OSM are mostly shape points: 92% of Andorra's 16,148 nodes have exactly two
neighbours. When fewer than half the nodes are junctions, the search runs on the junction graph
(``_contracted_search``): each chain of shape points between two junctions is one edge whose time is
the chain's (fastest of parallel chains, per weights vector), a source inside a chain is wired to
the chain ends it can be reached from, and every node's time and predecessor are then expanded from
its chain's ends with numpy (plus, in the sources' own chain, the way along it to a source). The
tree means exactly what the whole graph's does, in the same numbering, within floating-point
summation. On Andorra (tests/bench/test_contracted_search_bench.py) it costs ~0.31 ms a search
whatever the bound against ~0.93 ms unbounded, ~0.85 ms at 2,000 s and ~0.40 ms at 1,000 s for the
whole graph, but ~0.16 ms against ~0.09 ms at 300 s: scipy's call and the expansion cost ~0.1 ms
however few nodes are reached. Choosing by bound would let a kept search and a fresh one of the same
place (travel.py) differ in the last bits, so the choice is made once per network.
"""

from __future__ import annotations

import itertools
import math
import threading
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from jingwu.geo.roads import RoadNetwork, metres_per_degree


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

    def dist_at(self, v: int) -> float:
        """``dist_of`` one network node, as a float (the one-unit travel question's path)."""
        nodes = self.nodes
        if nodes is None:
            return self.dist.item(v)
        pos = min(int(np.searchsorted(nodes, v)), len(nodes) - 1)
        return self.dist.item(pos) if nodes.item(pos) == v else math.inf

    def network_ids(self, local: list[int]) -> np.ndarray:
        ids = np.asarray(local, dtype=np.int64)
        return ids if self.nodes is None else self.nodes[ids]

    def walk(self, here: int, seen: Mapping[int, int]) -> tuple[list[int], int]:
        """Local nodes from ``here`` along the predecessors up to the first one in ``seen`` (which
        must hold the root and -9999), and ``seen``'s value for it."""
        step, known = self.pred.item, seen.get  # Python ints, cheaper than indexing
        walk: list[int] = []
        add = walk.append
        v = here
        while True:
            add(v)
            v = step(v)
            at = known(v)
            if at is not None:
                return walk, at

    @property
    def nbytes(self) -> int:
        return self.dist.nbytes + self.pred.nbytes + (self.nodes.nbytes if self.nodes is not None else 0)


def _item_reader(a: np.ndarray) -> array:
    """A copy of ``a`` that reads an element as a Python number, as its memoryview (``a.data``)
    would, as one object the garbage collector walks in a step instead of two (a memoryview and
    its buffer; numpy's ``frombuffer`` over the copy would add a memoryview again). Every object a
    kept search holds is walked by the collector's passes until it is evicted (docs/benchmarks.md,
    "The collector walked the caches"); the price is the array's memory twice, counted in
    ``nbytes``."""
    return array(a.dtype.char, a.tobytes())


class JunctionTree:
    """A search run on the junction graph, expanded to the shape points only where it is read.

    Expanding every node's time and predecessor out of its chain's ends costs ~0.25 ms on Andorra
    (a dozen passes over 16k-element arrays), three times scipy's search of the junction graph,
    while a question reads a few dozen nodes (the units' streets) and a few routes. Here a node's
    time and predecessor are worked out when asked, by the same float operations as the expansion
    (``dist``/``pred``, kept for tests and other readers), so both give the same bits. Chains that
    hold a source are worked out whole when the tree is made (``fixed``).

    A route is walked a chain at a time: once a shape point's predecessor points along its chain,
    every later point of that chain points the same way up to the junction at its end (times
    along a chain are prefix sums, and rounding keeps them monotonic), so the rest of the chain is
    one slice of the chain table.
    """

    __slots__ = ("_at_came", "_at_dj", "_bound", "_c", "_came", "_con", "_dj", "_first_hops", "_fixed",
                 "_fixed_time", "_full", "_stretches", "root")

    nodes = None

    def __init__(self, chains: _Chains, con: _Contracted, dj: np.ndarray, came: np.ndarray, bound: float,
                 first_hops: dict[int, int], fixed_time: dict[int, float], fixed: dict[int, int]) -> None:
        self._c, self._con = chains, con
        self._dj, self._came = dj, came
        self._at_dj, self._at_came = _item_reader(dj), _item_reader(came)
        self._bound = bound
        self._first_hops = first_hops
        """junction id -> the node after it, for junctions reached straight from the sources"""
        self._fixed_time = fixed_time
        self._fixed = fixed
        """node -> time and node -> predecessor for the shape points of chains that hold a source"""
        self.root = chains.network.n_nodes
        self._full: tuple[np.ndarray, np.ndarray] | None = None
        """every node's time and predecessor, made when first asked for (tests, other readers)"""
        self._stretches: dict[int, tuple[int, array, array]] = {}
        """chain with a source -> (its first position, the stretch end of each position driving
        forward, and driving back), made at the first walk into it (``_stretch_end``)"""

    def junction_times(self) -> tuple[np.ndarray, np.ndarray]:
        """The junction graph's times and predecessors (the virtual source's last), as searched."""
        return self._dj, self._came

    # --- read where asked ---------------------------------------------------------------------

    def dist_at(self, v: int) -> float:
        fixed = self._fixed_time.get(v)
        if fixed is not None:
            return fixed
        c, con, dj = self._c, self._con, self._at_dj
        d_end = con.at_to_end[v] + dj[c.at_end[v]]
        d_start = con.at_to_start[v] + dj[c.at_start[v]]
        d = d_start if d_start < d_end else d_end
        return d if d <= self._bound else math.inf

    def dist_of(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.int64)
        d, _ = _out_of_chains(self._c, self._con, self._dj, self._bound, v)
        if self._fixed_time:
            get = self._fixed_time.get
            for i, node in enumerate(v.tolist()):
                fixed = get(node)
                if fixed is not None:
                    d[i] = fixed
        return d

    def pred_at(self, v: int) -> int:
        if v == self.root:
            return -9999
        fixed = self._fixed.get(v)
        if fixed is not None:
            return fixed
        c = self._c
        j = c.at_jid[v]
        if j >= 0:
            return self._junction_pred(j)
        return self._shape_point_pred(v)

    def _junction_pred(self, j: int) -> int:
        if not self._at_dj[j] <= self._bound:
            return -9999
        k = self._c.k
        came = self._at_came[j]
        if came < k:
            return self._con.hop_of()[j * (k + 1) + came]
        return self._first_hops.get(j, -9999)

    def _shape_point_pred(self, v: int) -> int:
        """The predecessor of a shape point outside the chains that hold a source."""
        c, con, dj = self._c, self._con, self._at_dj
        d_end = con.at_to_end[v] + dj[c.at_end[v]]
        d_start = con.at_to_start[v] + dj[c.at_start[v]]
        if d_start < d_end:
            return c.at_prev[v] if d_start <= self._bound else -9999
        return c.at_next[v] if d_end <= self._bound else -9999

    def walk(self, here: int, seen: Mapping[int, int]) -> tuple[list[int], int]:
        """``SearchTree.walk``, a chain at a time (``_shape_point_pred`` and ``_junction_pred``
        written out: a walk crosses ~16 chains of ~8 points on Andorra)."""
        c, con, fixed, bound, root = self._c, self._con, self._fixed, self._bound, self.root
        at_pos, at_jid, at_chain, at_node = c.at_pos, c.at_jid, c.at_chain, c.at_node
        at_end, at_start, at_first, at_last = c.at_end, c.at_start, c.at_first, c.at_last
        to_end, to_start, dj, came_from = con.at_to_end, con.at_to_start, self._at_dj, self._at_came
        k = c.k
        hop_of = con.hop_of()
        known = seen.get
        disjoint = seen.keys().isdisjoint
        walk: list[int] = []
        add, extend = walk.append, walk.extend
        v = here
        while True:
            add(v)
            pos = at_pos[v] if v != root else -1
            if pos < 0 or v in fixed:  # a junction, the root or a point of a chain with a source
                p = self.pred_at(v)
            else:
                d_end = to_end[v] + dj[at_end[v]]
                d_start = to_start[v] + dj[at_start[v]]
                ch = at_chain[pos]
                if d_start < d_end:
                    rest = at_node[at_first[ch] : pos].tolist()[::-1] if d_start <= bound else None
                else:
                    rest = at_node[pos + 1 : at_last[ch] + 1].tolist() if d_end <= bound else None
                if rest is None:
                    p = -9999
                else:  # the rest of its chain, then the junction at its end
                    if disjoint(rest):
                        extend(rest)
                    else:
                        for u in rest:
                            at = known(u)
                            if at is not None:
                                return walk, at
                            add(u)
                    j = at_jid[rest[-1]]
                    if not dj[j] <= bound:
                        p = -9999
                    else:
                        came = came_from[j]
                        p = hop_of[j * (k + 1) + came] if came < k else self._first_hops.get(j, -9999)
            at = known(p)
            if at is not None:
                return walk, at
            v = p

    def runs(self, here: int, seen: Mapping[int, int], pieces: Mapping[int, tuple[int, ...]]) -> tuple[list[Run], int]:
        """``walk`` without listing the nodes of a chain: the way from ``here`` as runs, and where it
        joins an earlier way.

        A run ``(chain, a, stop, end)`` drives positions ``a`` to ``stop`` of a chain's table towards
        position ``end``: the junction at the chain's end or, in a chain with a source, the last
        point before the way turns off it (for the root); ``stop`` is ``end`` unless the way joins
        an earlier one before it. ``(-1, node, 0, 0)`` is one node (a junction, or a point where
        the way leaves a chain with a source). The way stops at the first node in ``seen`` (which
        must hold the root and -9999), answering ``seen``'s value, or at the first position ``p``
        that an earlier way covers (``pieces``: chain -> flat ``(lo, hi, place)`` triples),
        answering that piece's ``place + p``."""
        c, con, fixed, bound = self._c, self._con, self._fixed, self._bound
        at_pos, at_jid, at_chain, at_node = c.at_pos, c.at_jid, c.at_chain, c.at_node
        at_end, at_start, at_first, at_last = c.at_end, c.at_start, c.at_first, c.at_last
        to_end, to_start, dj, came_from = con.at_to_end, con.at_to_start, self._at_dj, self._at_came
        k = c.k
        hop_of = con.hop_of()
        known, fixed_at, first_hop = seen.get, fixed.get, self._first_hops.get
        out: list[Run] = []
        add = out.append
        v = here
        while True:
            pos = at_pos[v]  # never the root: ``seen`` holds it
            j = -1  # a junction the way goes on from
            if pos < 0:
                add((-1, v, 0, 0))
                j = at_jid[v]
            else:
                ch = at_chain[pos]
                f = fixed_at(v)
                if f is not None:  # a chain with a source: a run as far as the way keeps along it
                    p = f
                    back = p == at_node[pos - 1]
                    if not back and p != at_node[pos + 1]:
                        add((-1, v, 0, 0))  # it leaves the chain here (for the root, or nowhere)
                        v = -1
                    else:
                        end = self._stretch_end(ch, pos, back)
                else:
                    d_end = to_end[v] + dj[at_end[v]]
                    d_start = to_start[v] + dj[at_start[v]]
                    back = d_start < d_end
                    if not (d_start if back else d_end) <= bound:
                        add((-1, v, 0, 0))
                        p, v = -9999, -1
                    else:
                        end = at_first[ch] if back else at_last[ch]
                if v >= 0:  # positions pos .. end, end included
                    got = pieces.get(ch)
                    if got is not None:  # an earlier way covers part of this stretch: the first met
                        join, place = -1, 0
                        for q in range(0, len(got), 3):
                            lo, hi = got[q], got[q + 1]
                            if back:
                                if lo <= pos and hi >= end and (hi if hi < pos else pos) > join:
                                    join, place = (hi if hi < pos else pos), got[q + 2]
                            elif hi >= pos and lo <= end and (join < 0 or (lo if lo > pos else pos) < join):
                                join, place = (lo if lo > pos else pos), got[q + 2]
                        if join >= 0:
                            if join != pos:
                                add((ch, pos, join + 1 if back else join - 1, end))
                            return out, place + join
                    last = at_node[end]
                    at = known(last)
                    if at is not None:
                        add((ch, pos, end + 1 if back else end - 1, end))
                        return out, at
                    add((ch, pos, end, end))
                    if at_pos[last] >= 0:  # a point of a chain with a source, where the way leaves it
                        p = fixed[last]
                    else:
                        j = at_jid[last]
            if j >= 0:
                if not dj[j] <= bound:
                    p = -9999
                else:
                    came = came_from[j]
                    p = hop_of[j * (k + 1) + came] if came < k else first_hop(j, -9999)
            at = known(p)
            if at is not None:
                return out, at
            v = p

    def _stretch_end(self, chain: int, pos: int, back: bool) -> int:
        """In a chain with a source, the position where the way from ``pos`` (towards the chain's
        start when ``back``) stops following the chain: its end junction, or the point where it
        turns off for the root. Worked out for the whole chain at its first walk (numpy), since
        every walk to the incident crosses it and a mountain road's chain has hundreds of points."""
        ends = self._stretches.get(chain)
        if ends is None:
            c = self._c
            first, last = int(c.first[chain]), int(c.last[chain])
            nodes = c.node[first : last + 1]
            pred = np.array([self._fixed[v] for v in nodes[1:-1].tolist()], dtype=np.int64)
            at = np.arange(first, last + 1)
            ahead = np.concatenate([[False], pred == nodes[2:], [False]])  # drives on to the next position
            behind = np.concatenate([[False], pred == nodes[:-2], [False]])
            stop_ahead = at[~ahead]  # positions where a way driving forward stops (ends always)
            stop_behind = at[~behind]
            forward = stop_ahead[np.searchsorted(stop_ahead, at + 1)[:-1]]
            backward = stop_behind[np.searchsorted(stop_behind, at[1:] - 1, side="right") - 1]
            ends = self._stretches[chain] = (first, _item_reader(np.concatenate([forward, [last]])),
                                             _item_reader(np.concatenate([[first], backward])))
        first, forward_end, backward_end = ends
        return backward_end[pos - first] if back else forward_end[pos - first]

    @property
    def chains(self) -> _Chains:
        return self._c

    def local(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(v, dtype=np.int64)

    def network_ids(self, local: list[int]) -> np.ndarray:
        return np.asarray(local, dtype=np.int64)

    @property
    def nbytes(self) -> int:
        # the arrays twice (numpy's and ``_item_reader``'s), and the two dicts of the chain points
        own = 2 * (self._dj.nbytes + self._came.nbytes) + 150 * len(self._fixed) + 60 * len(self._first_hops) + 300
        return own + (self._full[0].nbytes + self._full[1].nbytes if self._full is not None else 0)

    # --- every node at once -------------------------------------------------------------------

    @property
    def dist(self) -> np.ndarray:
        return self._expanded()[0]

    @property
    def pred(self) -> np.ndarray:
        return self._expanded()[1]

    def _expanded(self) -> tuple[np.ndarray, np.ndarray]:
        """Every node's time and predecessor, as ``dist_at`` and ``pred_at`` give them one by one."""
        if self._full is None:
            self._full = self._expand()
        return self._full

    def _expand(self) -> tuple[np.ndarray, np.ndarray]:
        c, con, dj, bound = self._c, self._con, self._dj, self._bound
        n, k = self.root, c.k
        dist, pred = _out_of_chains(c, con, dj, bound, None)
        dist[n] = 0.0
        if self._fixed:
            at = np.fromiter(self._fixed, dtype=np.int64, count=len(self._fixed))
            dist[at] = [self._fixed_time[v] for v in self._fixed]
            pred[at] = list(self._fixed.values())
        # junctions: along the chain to the junction scipy came from, or towards the sources
        came = np.asarray(self._came)[:k]
        got = np.flatnonzero(dj[:k] <= bound)
        from_j = came[got]
        via = from_j < k
        pred[c.junctions[got[via]]] = con.pair_hop[np.searchsorted(con.pair_key, got[via] * (k + 1) + from_j[via])]
        for j, first_hop in self._first_hops.items():
            if came[j] == k:
                pred[c.junctions[j]] = first_hop
        pred[n] = -9999
        return dist, pred


def _out_of_chains(
    c: _Chains, con: _Contracted, dj: np.ndarray, bound: float, v: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Times and predecessors of nodes ``v`` (every node, the virtual source too, when None), each
    leaving its chain at the end that is sooner from the junction graph's times ``dj``; inf and
    -9999 beyond ``bound``. A junction is its own end. ``JunctionTree``'s scalar readers work out
    one node with the same operations in the same order."""
    if v is None:
        to_end, to_start, end_of, start_of = con.to_end, con.to_start, c.end_of, c.start_of
        after, before = c.next, c.prev
    else:
        to_end, to_start, end_of, start_of = con.to_end[v], con.to_start[v], c.end_of[v], c.start_of[v]
        after, before = c.next[v], c.prev[v]
    d_end = to_end + np.take(dj, end_of)
    d_start = to_start + np.take(dj, start_of)
    pred = np.where(d_start < d_end, before, after)
    dist = np.minimum(d_end, d_start)
    beyond = ~(dist <= bound)
    np.putmask(dist, beyond, np.inf)
    np.putmask(pred, beyond, -9999)
    return dist, pred


Tree = SearchTree | JunctionTree
"""What a search gives: every node's time and predecessor, or the junction graph's, read lazily."""

Run = tuple[int, int, int, int]
"""A piece of a way read off a ``JunctionTree`` (``JunctionTree.runs``)."""


SOURCE_FLOOR = 1e-6
"""The least time a junction-graph search gives a source (scipy's graphs drop zero-weight edges)."""


class ReverseSearch:
    """Searches from a few weighted sources over the reversed graph, for one weight vector at a time."""

    def __init__(
        self,
        network: RoadNetwork,
        *,
        local_above_nodes: int = 3_000_000,
        cell_m: float = 2000.0,
        contract_share: float = 0.5,
        walk_below: int = 64,
    ) -> None:
        self.network = network
        self.local_above_nodes = local_above_nodes
        self.cell_m = cell_m
        self._whole: dict[int, tuple[csr_matrix, np.ndarray]] = {}
        self._fastest: dict[int, tuple[np.ndarray, float]] = {}
        self._lock = threading.Lock()
        self._map: np.ndarray | None = None
        self.contract_share = contract_share
        self.walk_below = walk_below
        self._chains: _Chains | None = None
        self._contracted: dict[int, _Contracted] = {}
        self._build_lock = threading.Lock()
        # a shape point has at most 2 edges out and 2 in: too few such nodes and contraction cannot pay
        out, into = np.diff(network.fwd_indptr), np.diff(network.rev_indptr)
        few = int(((out <= 2) & (into <= 2)).sum())
        self._may_contract = network.n_nodes > 0 and network.n_nodes - few < contract_share * network.n_nodes
        self.kx, self.ky = metres_per_degree(network)
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
    ) -> Tree:
        """Shortest times from every node within ``limit`` to the nearest source (plus its offset).

        ``weights`` must be one of a few long-lived arrays (they key the caches by identity);
        ``near`` is (lat, lon) of the sources, the centre of the region that can be reached.
        """
        if self.network.n_nodes > self.local_above_nodes:
            region = self._region(weights, limit, near)
            if region is not None and np.isin([s for s, _ in sources], region).all():
                return self._local(weights, sources, limit, region)
        if self._may_contract:
            tree = self._contracted_search(weights, sources, limit)
            if tree is not None:
                return tree
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
            graph.indices[m], graph.data[m] = s0, max(w0, SOURCE_FLOOR)
            graph.indices[m + 1], graph.data[m + 1] = s1, max(w1, SOURCE_FLOOR)
            dist, pred = dijkstra(graph, directed=True, indices=n, limit=limit, return_predecessors=True)
        return SearchTree(dist, pred, n, None)

    # --- the junction graph ---------------------------------------------------------------------

    def chains(self) -> _Chains:
        """The network's chains of shape points: the junction graph's when it is built (drawing
        routes reads them too), else made for the asker."""
        return self._junction_chains() or network_chains(self.network)

    def _junction_chains(self) -> _Chains | None:
        """The network's chains (built on first use), or None when contraction does not pay."""
        chains = self._chains
        if chains is not None or not self._may_contract:
            return chains
        with self._build_lock:
            if self._chains is None and self._may_contract:
                net = self.network
                n = net.n_nodes
                tail, head = net.tail.astype(np.int64), net.head.astype(np.int64)
                proper = tail != head
                directed = np.unique(tail[proper] * n + head[proper])
                degree = _degree(net)
                junctions = int((degree != 2).sum())
                # parallel edges would need a choice per weights; networks are built without them
                if len(directed) < int(proper.sum()) or junctions >= self.contract_share * n:
                    self._may_contract = False
                else:
                    self._chains = _Chains(net, degree)
            return self._chains

    def _contracted_search(
        self, weights: np.ndarray, sources: Sequence[tuple[int, float]], limit: float
    ) -> JunctionTree | None:
        """The whole graph's search, run on the junction graph (expanded to a node when it is read).

        None when the network has no contraction or the sources touch more junctions than the
        virtual source's preallocated row holds (more than two sources).
        """
        seeded = self.seeds(weights, sources)
        if seeded is None:
            return None
        con, slots, inner = seeded
        graph, m, k = con.graph, con.m, con.chains.k
        with self._lock:
            # unused slots: loops on the virtual source
            graph.indices[m : m + con.SLOTS] = [j for j, _ in slots] + [k] * (con.SLOTS - len(slots))
            graph.data[m : m + con.SLOTS] = [t for _, (t, _) in slots] + [1.0] * (con.SLOTS - len(slots))
            dj, pj = dijkstra(graph, directed=True, indices=k, limit=limit, return_predecessors=True)
        return self.tree_from(con, dj, pj, limit, slots, inner)

    def seeds(self, weights: np.ndarray, sources: Sequence[tuple[int, float]]) -> Seeds | None:
        """Where a search from ``sources`` starts on the junction graph: each seed junction's id
        with its time to the sources and the node after it towards them, and the sources inside
        chains (position, chain, offset). None as for ``_contracted_search``."""
        c = self._junction_chains()
        if c is None:
            return None
        con = self._contracted.get(id(weights))
        if con is None or con.weights is not weights:
            con = _Contracted(c, weights)
            if len(self._contracted) > 4:
                self._contracted.clear()
            self._contracted[id(weights)] = con
        n = self.network.n_nodes
        af, ab, nf, nb = con.af, con.ab, con.nf, con.nb
        best: dict[int, tuple[float, int]] = {}  # junction -> (time to the sources, next node)
        inner: list[tuple[int, int, float]] = []  # interior sources: (position, chain, offset)

        def offer(j: int, t: float, hop: int) -> None:
            if t < best.get(j, (np.inf, 0))[0]:
                best[j] = (t, hop)

        for s, w in sources:
            o = max(float(w), SOURCE_FLOOR)
            j = int(c.jid[s])
            if j >= 0:
                offer(j, o, n)
                continue
            p = int(c.pos_of[s])
            ch = int(c.chain_of[p])
            f, last = int(c.first[ch]), int(c.last[ch])
            if nf[p] == nf[f]:  # from the chain's first junction forward to the source
                offer(int(c.jid[c.node[f]]), o + float(af[p] - af[f]), int(c.node[f + 1]))
            if nb[last] == nb[p]:  # from its last junction back to the source
                offer(int(c.jid[c.node[last]]), o + float(ab[last] - ab[p]), int(c.node[last - 1]))
            inner.append((p, ch, o))
        if len(best) > con.SLOTS:
            return None
        return con, list(best.items()), inner

    def tree_from(self, con: _Contracted, dj: np.ndarray, pj: np.ndarray, limit: float,
                  slots: list[tuple[int, tuple[float, int]]], inner: list[tuple[int, int, float]]) -> JunctionTree:
        """The tree of a search whose junction times and predecessors are ``dj`` and ``pj`` (the
        junction graph's Dijkstra, or one composed of kept searches), with the chains that hold a
        source worked out along them."""
        c = con.chains
        bound = min(limit, float(np.finfo(np.float64).max))  # within it: reached (never inf)
        fixed_time: dict[int, float] = {}
        fixed: dict[int, int] = {}
        for ch in {ch for _, ch, _ in inner}:  # a chain with a source: along it to the source, or out of it
            here = [(pos, o) for pos, in_ch, o in inner if in_ch == ch]
            f, last = int(c.first[ch]), int(c.last[ch])
            v = c.node[f + 1 : last]
            d, pv = _out_of_chains(c, con, dj, bound, v)
            if last - f <= self.walk_below:
                times, hops = d.tolist(), pv.tolist()
                self._walk_to_sources(con, f, last, here, times, hops, limit)
            else:
                self._sweep_to_sources(con, f, last, here, d, pv, limit)
                times, hops = d.tolist(), pv.tolist()
            at = v.tolist()
            fixed_time.update(zip(at, times, strict=True))
            fixed.update(zip(at, hops, strict=True))
        first_hops = {j: hop for j, (_, hop) in slots}
        return JunctionTree(c, con, dj, pj, bound, first_hops, fixed_time, fixed)

    def _walk_to_sources(
        self,
        con: _Contracted,
        f: int,
        last: int,
        here: list[tuple[int, float]],
        best: list[float],
        hop: list[int],
        limit: float,
    ) -> None:
        """Lower the times (``best``) of a short chain's interior nodes that drive along it to a
        source in it, and set their next node (``hop``).

        Walks out from each source while it improves: the times already there (out of the chain,
        or to an earlier source) grow by at least each step's time moving away from the source,
        so once a node is not improved no farther one is.
        """
        c, n = self._chains, self.network.n_nodes
        assert c is not None
        nodes = c.node[f : last + 1].tolist()
        af, ab = con.af[f : last + 1].tolist(), con.ab[f : last + 1].tolist()
        nf, nb = con.nf[f : last + 1].tolist(), con.nb[f : last + 1].tolist()
        for pos, o in here:
            i = pos - f  # index in the chain; interior node i is best[i - 1]
            if o <= limit and o < best[i - 1]:
                best[i - 1], hop[i - 1] = o, n
            base = af[i] + o
            for j in range(i - 1, 0, -1):  # driving forward to the source
                t = base - af[j]
                if nf[j] != nf[i] or t > limit or t >= best[j - 1]:
                    break
                best[j - 1], hop[j - 1] = t, nodes[j + 1]
            base = o - ab[i]
            for j in range(i + 1, last - f):  # driving back to it
                t = ab[j] + base
                if nb[j] != nb[i] or t > limit or t >= best[j - 1]:
                    break
                best[j - 1], hop[j - 1] = t, nodes[j - 1]

    def _sweep_to_sources(
        self,
        con: _Contracted,
        f: int,
        last: int,
        here: list[tuple[int, float]],
        dist: np.ndarray,
        pred: np.ndarray,
        limit: float,
    ) -> None:
        """``_walk_to_sources`` for a long chain, over all its interior nodes at once (``dist`` and
        ``pred`` are theirs, in chain order)."""
        c, n = self._chains, self.network.n_nodes
        assert c is not None
        af, ab, nf, nb = con.af, con.ab, con.nf, con.nb
        at = np.array([[pos] for pos, _ in here])
        off = np.array([[o] for _, o in here])
        q = np.arange(f + 1, last)
        ahead = np.where(  # driving forward to a source
            (q < at) & (nf[f + 1 : last] == nf[at]), (af[at] + off) - af[f + 1 : last], np.inf
        )
        behind = np.where(  # driving back to it
            (q > at) & (nb[f + 1 : last] == nb[at]), ab[f + 1 : last] - (ab[at] - off), np.inf
        )
        t = np.minimum(ahead, behind)
        hop = np.where(ahead <= behind, c.node[f + 2 : last + 1], c.node[f : last - 1])
        on = q == at
        t[on] = np.broadcast_to(off, t.shape)[on]
        hop[on] = n
        if len(here) > 1:
            pick = np.argmin(t, axis=0), np.arange(len(q))
            t, hop = t[pick], hop[pick]
        else:
            t, hop = t[0], hop[0]
        better = np.flatnonzero((t < dist) & (t <= limit))
        dist[better] = t[better]
        pred[better] = hop[better]

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
        values = np.concatenate([data, [max(w, SOURCE_FLOOR) for _, w in sources]])
        graph = csr_matrix((values, indices, indptr.astype(np.int32)), shape=(k + 1, k + 1))
        dist, pred = dijkstra(graph, directed=True, indices=k, limit=limit, return_predecessors=True)
        return SearchTree(dist, pred, k, nodes)


# --- the junction graph: chains of shape points contracted to single edges -------------------


def _degree(network: RoadNetwork) -> np.ndarray:
    """Each node's count of distinct (undirected) neighbours, loops left out."""
    n = network.n_nodes
    tail, head = network.tail.astype(np.int64), network.head.astype(np.int64)
    proper = tail != head
    und = np.unique(np.minimum(tail, head)[proper] * n + np.maximum(tail, head)[proper])
    return np.bincount(und // n, minlength=n) + np.bincount(und % n, minlength=n)


def network_chains(network: RoadNetwork) -> _Chains:
    """The network's chains of shape points between junctions (drawing routes reads them too)."""
    return _Chains(network, _degree(network))


class _Chains:
    """Everything about the chains of shape points that depends only on the network.

    A junction is a node whose count of distinct (undirected) neighbours is not 2, plus one node
    of each cycle that has none. Every other node is interior to exactly one chain: the path of
    such nodes between two junctions (the same one for a loop). Chains are laid out end to end,
    each with both its junctions, in position arrays (``node``, ``fwd``/``bwd``: the edge from a
    position to the next one and back, -1 where the network has none).
    """

    def __init__(self, network: RoadNetwork, degree: np.ndarray) -> None:
        net = self.network = network
        n = net.n_nodes
        tail, head = net.tail.astype(np.int64), net.head.astype(np.int64)
        proper = tail != head
        und = np.unique(np.minimum(tail, head)[proper] * n + np.maximum(tail, head)[proper])
        a, b = und // n, und % n
        ends = np.concatenate([a, b])
        order = np.argsort(ends, kind="stable")
        nb = np.concatenate([b, a])[order].tolist()
        nb_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(ends, minlength=n), out=nb_ptr[1:])
        ptr = nb_ptr.tolist()
        is_j = (degree != 2).tolist()
        visited = [False] * n
        chains: list[list[int]] = []

        def walk(j: int, u: int) -> None:
            nodes, prev, cur = [j], j, u
            while not is_j[cur]:
                nodes.append(cur)
                visited[cur] = True
                k = ptr[cur]
                nxt = nb[k] if nb[k] != prev else nb[k + 1]
                prev, cur = cur, nxt
            nodes.append(cur)
            chains.append(nodes)

        def from_junction(j: int) -> None:
            for u in nb[ptr[j] : ptr[j + 1]]:
                if is_j[u]:
                    if j < u:
                        chains.append([j, u])
                elif not visited[u]:
                    walk(j, u)

        for j in np.flatnonzero(degree != 2).tolist():
            from_junction(j)
        for v in np.flatnonzero(degree == 2).tolist():  # cycles without a junction: one node stands for each
            if not visited[v]:
                is_j[v] = True
                from_junction(v)

        self.junctions = np.flatnonzero(np.asarray(is_j, dtype=bool))
        k = self.k = len(self.junctions)
        self.jid = np.full(n, -1, dtype=np.int64)
        self.jid[self.junctions] = np.arange(k)
        lengths = np.fromiter((len(c) for c in chains), dtype=np.int64, count=len(chains))
        self.node = np.fromiter(itertools.chain.from_iterable(chains), dtype=np.int64, count=int(lengths.sum()))
        self.first = np.zeros(len(chains), dtype=np.int64)
        np.cumsum(lengths[:-1], out=self.first[1:])
        self.last = self.first + lengths - 1
        total = len(self.node)
        # edge of each step (position -> position + 1 and back), from a sorted (tail, head) key
        key = tail * n + head
        sort = np.argsort(key, kind="stable")
        skey = key[sort]

        def edge(u: np.ndarray, v: np.ndarray) -> np.ndarray:
            want = u * n + v
            pos = np.minimum(np.searchsorted(skey, want), max(len(skey) - 1, 0))
            found = skey[pos] == want if len(skey) else np.zeros(len(want), dtype=bool)
            return np.where(found, sort[pos] if len(skey) else -1, -1)

        step = np.ones(total, dtype=bool)
        step[self.last] = False  # the last position of a chain steps nowhere
        here, there = self.node[:-1], self.node[1:]
        self.fwd = np.full(total, -1, dtype=np.int64)
        self.bwd = np.full(total, -1, dtype=np.int64)
        if total:
            self.fwd[:-1] = np.where(step[:-1], edge(here, there), -1)
            self.bwd[:-1] = np.where(step[:-1], edge(there, here), -1)
        self.step = step
        chain_of = np.repeat(np.arange(len(chains)), lengths)
        self.chain_of = chain_of
        interior = np.ones(total, dtype=bool)
        interior[self.first] = False
        interior[self.last] = False
        self.ipos = np.flatnonzero(interior)
        """positions of interior nodes, chain by chain"""
        self.inode = self.node[self.ipos]
        self.pos_of = np.full(n, -1, dtype=np.int64)
        self.pos_of[self.inode] = self.ipos
        ichain = chain_of[self.ipos]
        self.istart, self.iend = self.first[ichain], self.last[ichain]
        # by node id, with the virtual source as node n: the junction each node leaves its chain by
        # going forward (a junction: itself) or back (a junction: none), and its neighbours there
        self.end_of = np.append(self.jid, k)
        self.end_of[self.inode] = self.jid[self.node[self.iend]]
        self.start_of = np.full(n + 1, k, dtype=np.int64)
        self.start_of[self.inode] = self.jid[self.node[self.istart]]
        self.next = np.full(n + 1, -9999, dtype=np.int32)
        self.next[self.inode] = self.node[self.ipos + 1]
        self.prev = np.full(n + 1, -9999, dtype=np.int32)
        self.prev[self.inode] = self.node[self.ipos - 1]
        # one node at a time (JunctionTree): a memoryview (``.data``) reads an element as a Python
        # number in half the time of ``ndarray.item``, without copying the arrays into lists
        self.at_jid, self.at_pos, self.at_chain = self.jid.data, self.pos_of.data, chain_of.data
        self.at_first, self.at_last, self.at_node = self.first.data, self.last.data, self.node.data
        self.at_next, self.at_prev = self.next.data, self.prev.data
        self.at_end, self.at_start = self.end_of.data, self.start_of.data
        # metres of each step driven forward (position -> position + 1) and back (position + 1 ->
        # position), 0 where the network has no such edge, and their prefix sums: driving from
        # position p to q > p is along_f[q] - along_f[p], from q back to p along_b[q] - along_b[p]
        # (for reading routes a chain at a time, chain_paths.py); the two ways of a street may differ
        metres = np.asarray(net.metres, dtype=np.float64)
        self.step_f = np.where(self.fwd >= 0, metres[np.maximum(self.fwd, 0)], 0.0) if total else np.zeros(0)
        self.step_b = np.where(self.bwd >= 0, metres[np.maximum(self.bwd, 0)], 0.0) if total else np.zeros(0)
        self.along_f = np.concatenate([[0.0], np.cumsum(self.step_f)])
        self.along_b = np.concatenate([[0.0], np.cumsum(self.step_b)])
        self.at_step_f, self.at_step_b = self.step_f.data, self.step_b.data
        self.at_along_f, self.at_along_b = self.along_f.data, self.along_b.data
        self._junction_steps: dict[int, float] | None = None

    def junction_steps(self) -> dict[int, float]:
        """Metres of each edge between two junctions (a chain of two positions), by ``from * n + to``
        (made at first use)."""
        steps = self._junction_steps
        if steps is None:
            short = np.flatnonzero(self.last - self.first == 1)
            a, b = self.node[self.first[short]], self.node[self.last[short]]
            n = self.network.n_nodes
            steps = self._junction_steps = dict(zip((a * n + b).tolist() + (b * n + a).tolist(),
                                                    self.step_f[self.first[short]].tolist()
                                                    + self.step_b[self.first[short]].tolist(), strict=True))
        return steps


class _Contracted:
    """The junction graph and chain times for one weight vector (kept per ``id(weights)``)."""

    SLOTS = 4

    def __init__(self, chains: _Chains, weights: np.ndarray) -> None:
        self.weights = weights  # kept so that its id stays unique while cached
        self.chains = chains
        c = chains
        k = c.k
        fw = np.where(c.fwd >= 0, weights[np.maximum(c.fwd, 0)], 0.0)
        bw = np.where(c.bwd >= 0, weights[np.maximum(c.bwd, 0)], 0.0)
        # prefix sums over all positions; a stretch is drivable when no blocked step lies in it
        self.af = np.concatenate([[0.0], np.cumsum(fw)])
        self.ab = np.concatenate([[0.0], np.cumsum(bw)])
        self.nf = np.concatenate([[0], np.cumsum(c.step & (c.fwd < 0))])
        self.nb = np.concatenate([[0], np.cumsum(c.step & (c.bwd < 0))])
        n = chains.network.n_nodes
        self.to_end = np.zeros(n + 1)
        self.to_end[c.inode] = self._along(self.af, self.nf, c.ipos, c.iend)
        """time from each node forward to the last junction of its chain (0 at a junction)"""
        self.to_start = np.full(n + 1, np.inf)
        self.to_start[c.inode] = self._along(self.ab, self.nb, c.istart, c.ipos)
        """time from each node back to the first junction of its chain (inf at a junction)"""
        self.at_to_end, self.at_to_start = self.to_end.data, self.to_start.data

        # chains as edges of the reversed junction graph: row = where one drives to, col = from
        s, e = c.first, c.last
        ja, jb = c.jid[c.node[s]], c.jid[c.node[e]]
        whole_f = self._along(self.af, self.nf, s, e)
        whole_b = self._along(self.ab, self.nb, s, e)
        rows = np.concatenate([jb, ja])
        cols = np.concatenate([ja, jb])
        data = np.concatenate([whole_f, whole_b])
        hop = np.concatenate([c.node[np.minimum(s + 1, e)], c.node[np.maximum(e - 1, s)]])
        ok = np.isfinite(data) & (rows != cols)
        rows, cols, data, hop = rows[ok], cols[ok], data[ok], hop[ok]
        pair = cols * (k + 1) + rows  # (from, to): keep the fastest chain of each
        order = np.lexsort((data, pair))
        keep = np.ones(len(order), dtype=bool)
        keep[1:] = pair[order][1:] != pair[order][:-1]
        order = order[keep]
        self.pair_key, self.pair_hop = pair[order], hop[order].astype(np.int32)  # sorted by pair
        self._hop_of: dict[int, int] | None = None
        by_row = order[np.argsort(rows[order], kind="stable")]
        indptr = np.zeros(k + 2, dtype=np.int64)
        np.cumsum(np.bincount(rows[by_row], minlength=k), out=indptr[1 : k + 1])
        m = int(indptr[k])
        indptr[k + 1] = m + self.SLOTS
        indices = np.concatenate([cols[by_row], np.full(self.SLOTS, k)]).astype(np.int32)
        values = np.concatenate([data[by_row], np.ones(self.SLOTS)])
        self.m = m
        self.graph = csr_matrix((values, indices, indptr.astype(np.int32)), shape=(k + 1, k + 1))

    def hop_of(self) -> dict[int, int]:
        """``pair_hop`` by ``pair_key``, for one junction at a time (made on first use)."""
        if self._hop_of is None:
            self._hop_of = dict(zip(self.pair_key.tolist(), self.pair_hop.tolist(), strict=True))
        return self._hop_of

    @staticmethod
    def _along(prefix: np.ndarray, blocked: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Time over positions ``lo .. hi`` (``lo <= hi``, same chain), inf where a step is missing."""
        return np.where(blocked[hi] == blocked[lo], prefix[hi] - prefix[lo], np.inf)


Seeds = tuple[_Contracted, list[tuple[int, tuple[float, int]]], list[tuple[int, int, float]]]
"""``ReverseSearch.seeds``: the weights' junction graph, the seed junctions (id, (time, next
node)) and the sources inside chains (position, chain, offset)."""
