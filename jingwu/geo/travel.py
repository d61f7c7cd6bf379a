"""Travel times from units to an incident along the road graph.

One bounded shortest-path search per incident: from the incident's snapped position over the
*reversed* graph (travel is unit -> incident), so every unit's ETA comes out of the same search.
The search is scipy's compiled Dijkstra with ``limit=`` (see ``reverse_search``): on a 1M-node graph
it costs ~3.4 ms of fixed set-up plus the settled region, where a pure-Python heap costs ~1 ms per
1,000 edge relaxations; docs/geo.md has the measurements behind the choice. The incident sits
part-way along an edge, so a virtual source node is wired to both ends of its street with the
partial-edge times as weights.

The bound starts from a guess based on the straight-line distance to the ``want``-th nearest unit
(scaled by what earlier answers on this network showed) and grows until ``want`` units are
reached or ``max_seconds`` passes; ETAs at or under the bound are exact. Units farther than the
snapper's distance from any road get a flagged straight-line estimate instead.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np

from jingwu.domain.geography import GeoPoint, haversine_m
from jingwu.domain.travel import TravelEstimate, UnitOrigin
from jingwu.geo.reverse_search import ReverseSearch, SearchTree
from jingwu.geo.roads import RoadNetwork, haversine_arrays
from jingwu.geo.snapping import RoadSnapper, SnappedArrays, SnappedPoint
from jingwu.geo.straight_line import StraightLineTravelTimes
from jingwu.geo.traffic import TrafficTable

GUESS_SPEED_MS = 25 / 3.6
"""Road speed used only to guess the first search bound from straight-line distance."""


class RoadTravelTimes:
    """``TravelTimeEstimator`` over a ``RoadNetwork`` (see ``jingwu.domain.travel``)."""

    def __init__(
        self,
        network: RoadNetwork,
        traffic: TrafficTable | None = None,
        snap: RoadSnapper | None = None,
        *,
        off_road_speed_kmh: float = 10.0,
        straight_line_speed_kmh: float = 40.0,
        min_bound_s: float = 120.0,
        snap_cache_size: int = 200_000,
        local_search_above_nodes: int = 3_000_000,
    ) -> None:
        self.network = network
        self.traffic = traffic or TrafficTable.free_flow()
        self.snapper = snap or RoadSnapper(network)
        self.off_road_ms = off_road_speed_kmh / 3.6
        self.fallback = StraightLineTravelTimes(straight_line_speed_kmh)
        self.min_bound_s = min_bound_s
        self.snap_cache_size = snap_cache_size
        self._snap_rows: dict[tuple[float, float], int] = {}
        self._snap_table: list[np.ndarray] | None = None
        self.search = ReverseSearch(network, local_above_nodes=local_search_above_nodes)
        self._snap_lock = threading.Lock()
        self._s_per_m = 1.5 / GUESS_SPEED_MS
        n = network.n_nodes
        self._edge_keys = network.tail.astype(np.int64) * n + network.head
        self._edge_order = np.argsort(self._edge_keys)
        self._sorted_keys = self._edge_keys[self._edge_order]

    # --- the protocol -------------------------------------------------------------------------

    def estimate(
        self,
        destination: GeoPoint,
        origins: Sequence[UnitOrigin],
        *,
        want: int,
        max_seconds: float,
        at: datetime,
    ) -> list[TravelEstimate]:
        if want <= 0 or not origins:
            return []
        target = self.snapper.snap(destination)
        if not target.on_network:
            note = f"incident is {target.off_road_m:.0f} m from the nearest road: straight-line estimate"
            guesses = self.fallback.estimate(destination, origins, want=want, max_seconds=max_seconds, at=at)
            return [replace(e, note=note) for e in guesses]
        lat = np.fromiter((o.point.lat for o in origins), dtype=np.float64, count=len(origins))
        lon = np.fromiter((o.point.lon for o in origins), dtype=np.float64, count=len(origins))
        with self._snap_lock:
            snaps = self._snap_units(lat, lon)
        straight = haversine_arrays(lat, lon, np.full(len(lat), destination.lat), np.full(len(lat), destination.lon))
        on = snaps.on_network
        weights = self.network.weights(self.traffic.factors_at(at))
        bound = self._first_bound(straight[on], want, max_seconds)
        eta, via = np.full(len(lat), np.inf), np.full(len(lat), -1, dtype=np.int64)
        searched = None
        while on.any():
            eta, via, searched = self._search(weights, target, snaps, bound)
            reached = on & (eta <= bound)
            if reached.sum() >= want or bound >= max_seconds:
                break
            bound = min(max_seconds, bound * 2.5)
        reached = on & (eta <= bound)
        if reached.sum() >= want:
            self._learn(straight[on], eta[on], want)
        found: list[TravelEstimate] = []
        tree = PathTree(self, searched) if searched is not None else None
        for i in _best(np.flatnonzero(reached & (eta <= max_seconds)), eta, origins, want):
            assert tree is not None  # reached units imply a search was made
            args = (float(eta[i]), int(via[i]), float(straight[i]))
            found.append(self._road_estimate(origins[i], i, *args, snaps, target, tree))
        guess = straight / self.fallback.speed_ms
        for i in _best(np.flatnonzero(~on & (guess <= max_seconds)), guess, origins, want):
            est = self.fallback.one(origins[i], destination, float(straight[i]))
            note = f"unit is {snaps.off_road_m[i]:.0f} m from the nearest road: straight-line estimate"
            found.append(replace(est, note=note))
        found.sort(key=lambda e: (e.eta_s, e.unit_id))
        return found[:want]

    def route(self, origin: GeoPoint, destination: GeoPoint, at: datetime) -> dict | None:
        found = self.estimate(destination, [UnitOrigin("route", origin)], want=1, max_seconds=24 * 3600, at=at)
        return found[0].route if found and found[0].method == "road" else None

    # --- the search ---------------------------------------------------------------------------

    def _first_bound(self, straight: np.ndarray, want: int, max_seconds: float) -> float:
        """A guess that usually reaches ``want`` units in one search without searching far beyond.

        Seconds per straight-line metre to the ``want``-th unit is learnt from earlier answers on
        this network (a moving average), starting from 1.5 x detour at 25 km/h.
        """
        if len(straight) == 0:
            return max_seconds
        k = min(want, len(straight)) - 1
        kth = float(np.partition(straight, k)[k])
        guess = 1.3 * self._s_per_m * kth + 60.0
        return float(min(max_seconds, max(self.min_bound_s, guess)))

    def _learn(self, straight: np.ndarray, eta: np.ndarray, want: int) -> None:
        finite = eta[np.isfinite(eta)]
        k = min(want, len(finite), len(straight)) - 1
        if k < 0:
            return
        observed = float(np.partition(finite, k)[k]) / max(float(np.partition(straight, k)[k]), 50.0)
        self._s_per_m = 0.8 * self._s_per_m + 0.2 * min(max(observed, 0.02), 2.0)

    def _search(
        self, weights: np.ndarray, target: SnappedPoint, snaps: SnappedArrays, bound: float
    ) -> tuple[np.ndarray, np.ndarray, SearchTree]:
        """ETAs of all units within ``bound``, the node each leaves its street by, and the search tree.

        ``via`` is -1 for a unit on the incident's own street ahead of it (drives straight there).
        """
        net = self.network
        arrive_s = target.off_road_m / self.off_road_ms
        limit = max(0.0, bound - arrive_s)
        e, f = target.edge, target.fraction
        sources = [(int(net.tail[e]), f * float(weights[e]))]
        if target.twin >= 0:
            sources.append((int(net.tail[target.twin]), (1 - f) * float(weights[target.twin])))
        elif f >= 1 - 1e-9:  # at the end of a one-way edge: at its head node
            sources.append((int(net.head[e]), 0.0))
        searched = self.search.run(weights, sources, limit, (target.road_lat, target.road_lon))
        dist_of = searched.dist_of
        ue, ut, g = snaps.edge, snaps.twin, snaps.fraction
        safe_e, safe_t = np.maximum(ue, 0), np.maximum(ut, 0)
        via_head = (1 - g) * weights[safe_e] + dist_of(net.head[safe_e])
        via_twin = np.where(ut >= 0, g * weights[safe_t] + dist_of(net.head[safe_t]), np.inf)
        at_tail = np.where(g <= 1e-9, dist_of(net.tail[safe_e]), np.inf)  # standing on a node: any way out
        best = np.minimum(via_head, via_twin)
        via = np.where(via_head <= via_twin, net.head[safe_e], net.head[safe_t]).astype(np.int64)
        via = np.where(at_tail < best, net.tail[safe_e], via)
        best = np.minimum(best, at_tail)
        # on the incident's own street, short of it in the direction of travel: drive straight on
        direct = np.full(len(ue), np.inf)
        for inc_edge, inc_frac in ((e, f), (target.twin, 1 - f)):
            if inc_edge < 0:
                continue
            for own, frac in ((ue, g), (ut, 1 - g)):
                here = (own == inc_edge) & (frac <= inc_frac)
                direct[here] = np.minimum(direct[here], (inc_frac - frac[here]) * weights[inc_edge])
        via = np.where(direct < best, -1, via)
        best = np.minimum(best, direct)
        eta = best + snaps.off_road_m / self.off_road_ms + arrive_s
        eta[~snaps.on_network] = np.inf
        return eta, via, searched

    # --- explaining a result ------------------------------------------------------------------

    def _road_estimate(
        self,
        origin: UnitOrigin,
        i: int,
        eta: float,
        via: int,
        straight: float,
        snaps: SnappedArrays,
        target: SnappedPoint,
        tree: PathTree,
    ) -> TravelEstimate:
        net = self.network
        unit_road = (float(snaps.road_lat[i]), float(snaps.road_lon[i]))
        goal_road = (target.road_lat, target.road_lon)
        if via < 0:
            metres = haversine_m(GeoPoint(*unit_road), GeoPoint(*goal_road))
            nodes: list[int] = []
        else:
            nodes, metres = tree.path(via)
            first, last = nodes[0], nodes[-1]
            metres += haversine_m(GeoPoint(*unit_road), GeoPoint(float(net.lat[first]), float(net.lon[first])))
            metres += haversine_m(GeoPoint(float(net.lat[last]), float(net.lon[last])), GeoPoint(*goal_road))
        body = np.column_stack([net.lon[nodes], net.lat[nodes]]).tolist() if nodes else []
        coords = _joined(
            [[origin.point.lon, origin.point.lat], [unit_road[1], unit_road[0]]],
            body,
            [[goal_road[1], goal_road[0]], [target.point.lon, target.point.lat]],
        )
        return TravelEstimate(
            unit_id=origin.unit_id,
            eta_s=eta,
            road_distance_m=metres + float(snaps.off_road_m[i]) + target.off_road_m,
            straight_distance_m=float(straight),
            method="road",
            note="",
            route={"type": "LineString", "coordinates": coords},
        )

    def _edges_along(self, path: np.ndarray) -> np.ndarray:
        keys = path[:-1] * self.network.n_nodes + path[1:]
        return self._edge_order[np.searchsorted(self._sorted_keys, keys)]

    def _snap_units(self, lat: np.ndarray, lon: np.ndarray) -> SnappedArrays:
        """Snap unit positions, remembering each one: most units have not moved since the last call.

        Known positions are rows of a table (a dict lookup per unit, then fancy indexing), so a
        call with 5,000 units costs about a millisecond instead of a fresh nearest-edge search.
        """
        rows = self._snap_rows
        keys = list(zip(lat.tolist(), lon.tolist(), strict=True))
        index = np.fromiter((rows.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
        missing = np.flatnonzero(index < 0)
        if len(missing):
            fresh = self.snapper.snap_many(lat[missing], lon[missing])
            if len(rows) + len(missing) > self.snap_cache_size:
                rows.clear()
                self._snap_table = None
                index[:] = -1
                return self._snap_units(lat, lon)
            start = len(rows)
            for j, i in enumerate(missing.tolist()):
                k = keys[i]
                if k not in rows:
                    rows[k] = start + j
                index[i] = rows[k]
            self._snap_table = _append_rows(self._snap_table, fresh, start)
        table = self._snap_table
        assert table is not None
        return SnappedArrays(*(column[index] for column in table))


def _joined(start: list[list[float]], body: list[list[float]], end: list[list[float]]) -> list[list[float]]:
    """Concatenate route parts, dropping repeated points where they meet (road nodes never repeat)."""
    out: list[list[float]] = []
    for c in start:
        if not out or out[-1] != c:
            out.append(c)
    if body:
        out.extend(body[1:] if body[0] == out[-1] else body)
    for c in end:
        if out[-1] != c:
            out.append(c)
    return out if len(out) > 1 else out * 2


def _best(candidates: np.ndarray, eta: np.ndarray, origins: Sequence[UnitOrigin], want: int) -> list[int]:
    """The ``want`` fastest candidates (ties by unit id), without sorting all of them."""
    if len(candidates) > want:
        cut = np.partition(eta[candidates], want - 1)[want - 1]
        candidates = candidates[eta[candidates] <= cut]
    ranked = sorted((int(i) for i in candidates), key=lambda i: (float(eta[i]), origins[i].unit_id))
    return ranked[:want]


class PathTree:
    """Paths to the incident read off one search's predecessors.

    The routes of the best units usually merge well before the incident, so each walk stops at the
    first node an earlier walk passed and reuses that walk's remainder: the cost is the size of the
    union of the routes, not their summed length (mountain roads have hundreds of nodes per route).
    """

    def __init__(self, travel: RoadTravelTimes, searched: SearchTree) -> None:
        self.travel = travel
        self.searched = searched
        self.known: dict[int, tuple[list[int], int, float]] = {}
        """local node -> (a path through it as network ids, its index in that path, metres to the end)"""

    def path(self, start: int) -> tuple[list[int], float]:
        """Network nodes from ``start`` to where the route leaves for the incident's edge, and metres."""
        known, pred, root = self.known, self.searched.pred, self.searched.root
        here = int(self.searched.local(np.array([start]))[0])
        if here in known:
            owner, k, metres = known[here]
            return owner[k:], metres
        walk: list[int] = []
        step = pred.item  # a Python int per call, cheaper than indexing a numpy array
        v = here
        joined = False
        while True:
            walk.append(v)
            w = step(v)
            if w == root or w < 0:
                break
            if w in known:
                joined = True
                v = w
                break
            v = w
        tail_m = 0.0
        ids = self.searched.network_ids(walk).tolist()
        full = ids
        hops = np.asarray(ids, dtype=np.int64)
        if joined:
            owner, k, tail_m = known[v]
            full = ids + owner[k:]
            hops = np.asarray([*ids, owner[k]], dtype=np.int64)
        legs = self.travel.network.metres[self.travel._edges_along(hops)] if len(hops) > 1 else np.zeros(0)
        to_end = np.cumsum(legs[::-1])[::-1] + tail_m if len(legs) else np.zeros(0)
        for k, node in enumerate(walk):
            known[node] = (full, k, float(to_end[k]) if k < len(to_end) else tail_m)
        return full, known[here][2]


def _append_rows(table: list[np.ndarray] | None, fresh: SnappedArrays, start: int) -> list[np.ndarray]:
    """Grow the snap table (doubling, amortised O(1) per unit) and write ``fresh`` at ``start``."""
    columns = [fresh.edge, fresh.twin, fresh.fraction, fresh.off_road_m, fresh.on_network]
    columns += [fresh.road_lat, fresh.road_lon]
    need = start + len(fresh.edge)
    if table is None:
        table = [np.zeros(max(need, 1024), dtype=c.dtype) for c in columns]
    elif need > len(table[0]):
        grown = max(need, 2 * len(table[0]))
        table = [np.concatenate([t, np.zeros(grown - len(t), dtype=t.dtype)]) for t in table]
    for t, c in zip(table, columns, strict=True):
        t[start:need] = c
    return table
