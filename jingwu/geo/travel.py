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

The services ask about the same incident several times (once per capability of its run card, again
when the screen reloads, again inside ``assign_unit``, then for one unit's route), so the search
tree of each recent incident position is kept (``SearchCache``, least recently used dropped first)
with the routes already walked in it: a question whose units fall within a kept tree's bound is
answered without searching, with the same answer a fresh search gives. The last few hundred
answers are kept too, without their routes, by their whole question (place, each unit's id and
position, want, bound, traffic weights): ``assign_unit`` checks, without routes, the
recommendation the dispatcher was just shown, and when no unit has moved since, that is the very
same question.
"""

from __future__ import annotations

import math
import struct
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, TypeVar

import numpy as np

from jingwu.domain.geography import GeoPoint, great_circle_m
from jingwu.domain.travel import TravelEstimate, UnitOrigin
from jingwu.geo.chain_paths import ChainPathTree
from jingwu.geo.drawing import Point, RouteDrawing, point
from jingwu.geo.reverse_search import SOURCE_FLOOR, JunctionTree, ReverseSearch, Tree
from jingwu.geo.roads import RoadNetwork, haversine_arrays, haversine_one
from jingwu.geo.seeded import Seed, SeededPaths
from jingwu.geo.snapping import RoadSnapper, SnappedArrays, SnappedPoint
from jingwu.geo.straight_line import StraightLineTravelTimes
from jingwu.geo.traffic import TrafficTable

GUESS_SPEED_MS = 25 / 3.6
"""Road speed used only to guess the first search bound from straight-line distance."""

_F64 = struct.Struct("d")
"""A float's bytes as ``np.float64(...).tobytes()`` gives them (a one-unit question's key)."""


class RoadTravelTimes:
    """``TravelTimeEstimator`` over a ``RoadNetwork`` (see ``jingwu.domain.travel``).

    A question about one unit (most of them: the chosen unit's route, the assignment check, a unit
    driving back to its post) is answered in Python scalars (``_estimate_one``) rather than on
    one-element arrays, where numpy's per-call overhead is nearly the whole cost; every figure,
    route and piece of kept state comes out bit for bit as the array path makes them.
    """

    one_unit_path = True
    """False answers one-unit questions on the array path too (for tests and benchmarks only)."""

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
        search_cache_bytes: int = 64 * 2**20,
        incident_snap_cache_size: int = 20_000,
        answers_kept: int = 256,
        seeded_searches: bool = True,
        seed_cache_bytes: int = 32 * 2**20,
    ) -> None:
        """``seeded_searches``: compose an incident's search of searches kept per seed junction
        (``jingwu.geo.seeded``) where the network's junction graph allows; ``seed_cache_bytes``
        is their budget."""
        self.network = network
        self.traffic = traffic or TrafficTable.free_flow()
        self.snapper = snap or RoadSnapper(network)
        self.off_road_ms = off_road_speed_kmh / 3.6
        self.fallback = StraightLineTravelTimes(straight_line_speed_kmh)
        self.min_bound_s = min_bound_s
        self.snap_cache_size = snap_cache_size
        self._snap_rows: dict[tuple[float, float], int] = {}
        self._snap_table: list[np.ndarray] | None = None
        self.incident_snap_cache_size = incident_snap_cache_size
        self._snapped_places: OrderedDict[tuple[float, float], _Snap] = OrderedDict()
        """(lat, lon) -> the snap's numbers: a tuple of numbers, which the garbage collector stops
        tracking, where a ``SnappedPoint`` and its ``GeoPoint`` were two objects it walked per
        place for as long as the place is kept (docs/benchmarks.md, "The collector walked the
        caches")"""
        self.search = ReverseSearch(network, local_above_nodes=local_search_above_nodes)
        self.trees = SearchCache(search_cache_bytes)
        self.seeded_searches = seeded_searches
        self.seed_trees = SearchCache(seed_cache_bytes)
        """Searches from single junctions (``jingwu.geo.seeded``), keyed (node, -1.0, -1, weights)."""
        self.answers_kept = answers_kept
        self._answers: OrderedDict[tuple[object, ...], tuple[np.ndarray, list[TravelEstimate]]] = OrderedDict()
        """Recent answers by their whole question (see ``estimate``)."""
        self.answer_hits = 0
        self._snap_lock = threading.Lock()
        self._places_lock = threading.Lock()
        self._s_per_m = 1.5 / GUESS_SPEED_MS
        n = network.n_nodes
        self._edge_keys = network.tail.astype(np.int64) * n + network.head
        self._edge_order = np.argsort(self._edge_keys)
        self._sorted_keys = self._edge_keys[self._edge_order]
        self._drawing_kept: RouteDrawing | None = None
        self._drawing_lock = threading.Lock()
        self.walks_lock = threading.Lock()
        """Held while a kept search's routes are walked (``PathTree``, ``ChainPathTree``): one lock
        for all of them, since a lock is an object the garbage collector walks for as long as its
        search is kept, and walks are microseconds long."""

    # --- the protocol -------------------------------------------------------------------------

    def estimate(
        self,
        destination: GeoPoint,
        origins: Sequence[UnitOrigin],
        *,
        want: int,
        max_seconds: float,
        at: datetime,
        routes: bool = True,
    ) -> list[TravelEstimate]:
        if want <= 0 or not origins:
            return []
        target = self.snap_place(destination)
        if not target.on_network:
            note = f"incident is {target.off_road_m:.0f} m from the nearest road: straight-line estimate"
            guesses = self.fallback.estimate(destination, origins, want=want, max_seconds=max_seconds, at=at)
            return [replace(e, note=note) for e in guesses]
        one = len(origins) == 1 and self.one_unit_path
        if one:
            unit = origins[0]
            lat_bytes, lon_bytes = _F64.pack(unit.point.lat), _F64.pack(unit.point.lon)
            ids: tuple[str, ...] = (unit.unit_id,)
        else:
            lat = np.fromiter((o.point.lat for o in origins), dtype=np.float64, count=len(origins))
            lon = np.fromiter((o.point.lon for o in origins), dtype=np.float64, count=len(origins))
            lat_bytes, lon_bytes = lat.tobytes(), lon.tobytes()
            ids = tuple(o.unit_id for o in origins)
        weights = self.network.weights(self.traffic.factors_at(at))
        question = (destination, ids, lat_bytes, lon_bytes, want, max_seconds, id(weights))
        if not routes:
            known = self._answer(question, weights)
            if known is not None:
                return known
        if one:
            found = self._estimate_one(destination, target, origins[0], want, max_seconds, weights, routes)
        else:
            found = self._estimate_on_roads(destination, target, origins, lat, lon, want, max_seconds, weights, routes)
        self._remember_answer(question, weights, [_without_route(e) for e in found] if routes else found)
        return list(found)

    def _answer(self, question: tuple[object, ...], weights: np.ndarray) -> list[TravelEstimate] | None:
        """The answer, without routes, given to the very same question (same place, units where they
        were, want, bound and traffic weights), or None. Answers are exact, so a repeat gets the same
        one: the dispatcher's assignment checks the recommendation it was just shown.

        Only route-free answers are kept: a route is thousands of Python objects, and a few hundred
        answers' routes made the server's full garbage collections long enough to show in the
        intake benchmark's p99 (routes are kept in the search's ``PathTree`` as arrays instead)."""
        if not self.answers_kept:
            return None
        with self._places_lock:
            known = self._answers.get(question)
            if known is None or known[0] is not weights:
                return None
            self._answers.move_to_end(question)
            self.answer_hits += 1
        return list(known[1])

    def _remember_answer(self, question: tuple[object, ...], weights: np.ndarray,
                         found: list[TravelEstimate]) -> None:
        if not self.answers_kept:
            return
        with self._places_lock:
            self._answers[question] = (weights, found)
            while len(self._answers) > self.answers_kept:
                self._answers.popitem(last=False)

    def _estimate_on_roads(
        self, destination: GeoPoint, target: SnappedPoint, origins: Sequence[UnitOrigin], lat: np.ndarray,
        lon: np.ndarray, want: int, max_seconds: float, weights: np.ndarray, routes: bool,
    ) -> list[TravelEstimate]:
        with self._snap_lock:
            snaps = self._snap_units(lat, lon)
        straight = haversine_arrays(lat, lon, np.full(len(lat), destination.lat), np.full(len(lat), destination.lon))
        on = snaps.on_network
        eta, via = np.full(len(lat), np.inf), np.full(len(lat), -1, dtype=np.int64)
        kept: KeptSearch | None = None
        if on.any():
            eta, via, kept = self._reach(target, snaps, straight, want, max_seconds, weights)
        found: list[TravelEstimate] = []
        if kept is not None:
            reached = on & (eta <= min(kept.limit + target.off_road_m / self.off_road_ms, max_seconds))
            for i in _best(np.flatnonzero(reached), eta, origins, want):
                args = (float(eta[i]), int(via[i]), float(straight[i]))
                unit = (float(snaps.road_lat[i]), float(snaps.road_lon[i]), float(snaps.off_road_m[i]))
                found.append(self._road_estimate(origins[i], *args, *unit, target, kept.paths, routes))
            self._resized(kept)
        guess = straight / self.fallback.speed_ms
        for i in _best(np.flatnonzero(~on & (guess <= max_seconds)), guess, origins, want):
            found.append(self._off_road_estimate(origins[i], destination, float(straight[i]), snaps.off_road_m[i]))
        found.sort(key=lambda e: (e.eta_s, e.unit_id))
        return found[:want]

    def _estimate_one(
        self, destination: GeoPoint, target: SnappedPoint, origin: UnitOrigin, want: int, max_seconds: float,
        weights: np.ndarray, routes: bool,
    ) -> list[TravelEstimate]:
        """``_estimate_on_roads`` for a single unit, in scalars: the same answer and the same kept
        state (snap table, kept searches, learnt speed), without numpy's per-call overhead."""
        lat, lon = float(origin.point.lat), float(origin.point.lon)
        with self._snap_lock:
            edge, twin, fraction, off_m, on, road_lat, road_lon = self._snap_unit(lat, lon)
        straight = haversine_one(lat, lon, float(destination.lat), float(destination.lon))
        if on:
            unit = _OneUnit(self, weights, target, edge, twin, fraction, off_m, straight)
            (eta, via), kept = self._reach_with(target, unit, want, max_seconds, weights)
            found: list[TravelEstimate] = []
            if eta <= min(kept.limit + target.off_road_m / self.off_road_ms, max_seconds):
                found.append(self._road_estimate(origin, eta, via, straight, road_lat, road_lon, off_m, target,
                                                 kept.paths, routes))
            self._resized(kept)
            return found
        if straight / self.fallback.speed_ms <= max_seconds:
            return [self._off_road_estimate(origin, destination, straight, off_m)]
        return []

    def _off_road_estimate(
        self, origin: UnitOrigin, destination: GeoPoint, straight: float, off_road_m: float
    ) -> TravelEstimate:
        est = self.fallback.one(origin, destination, straight)
        return replace(est, note=f"unit is {off_road_m:.0f} m from the nearest road: straight-line estimate")

    def route(self, origin: GeoPoint, destination: GeoPoint, at: datetime) -> dict | None:
        found = self.estimate(destination, [UnitOrigin("route", origin)], want=1, max_seconds=24 * 3600, at=at)
        return found[0].route if found and found[0].method == "road" else None

    # --- the search ---------------------------------------------------------------------------

    def _first_bound(self, kth: float | None, max_seconds: float) -> float:
        """A guess that usually reaches ``want`` units in one search without searching far beyond.

        ``kth`` is the straight-line distance to the ``want``-th nearest unit on the network (None
        when there is none). Seconds per straight-line metre to it is learnt from earlier answers
        on this network (a moving average), starting from 1.5 x detour at 25 km/h.
        """
        if kth is None:
            return max_seconds
        guess = 1.3 * self._s_per_m * kth + 60.0
        return float(min(max_seconds, max(self.min_bound_s, guess)))

    def _learn(self, kth_eta: float, kth_straight: float) -> None:
        """Move the seconds per straight-line metre towards what the ``want``-th unit showed."""
        observed = kth_eta / max(kth_straight, 50.0)
        self._s_per_m = 0.8 * self._s_per_m + 0.2 * min(max(observed, 0.02), 2.0)

    def _reach(
        self, target: SnappedPoint, snaps: SnappedArrays, straight: np.ndarray, want: int, max_seconds: float,
        weights: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, KeptSearch]:
        """ETAs and exits (see ``_etas``) of all units, exact up to the returned search's bound."""
        (eta, via), kept = self._reach_with(target, _ManyUnits(self, weights, target, snaps, straight), want,
                                            max_seconds, weights)
        return eta, via, kept

    def _reach_with(
        self, target: SnappedPoint, units: _Units[_Found], want: int, max_seconds: float, weights: np.ndarray
    ) -> tuple[_Found, KeptSearch]:
        """The units' ETAs and exits (``units.etas``), exact up to the returned search's bound.

        A kept search of the same place and weights answers when ``want`` units (or all the units on
        the network, when there are fewer) are within its bound or its bound covers ``max_seconds``;
        otherwise the bound grows from the larger of the guess and the kept bound x 2.5 until one
        of those holds, and the new search is kept instead.
        """
        enough = min(want, units.on_count)  # with every unit reached, a farther search changes nothing
        arrive_s = target.off_road_m / self.off_road_ms
        key = (target.edge, target.fraction, target.twin, id(weights))
        kept = self.trees.get(key, weights)
        bound = self._first_bound(units.kth_straight(want), max_seconds)
        if kept is not None:
            found = units.etas(kept.searched)
            reach = kept.limit + arrive_s
            if units.within(found, reach) >= enough or reach >= max_seconds:
                return found, kept
            bound = max(bound, min(max_seconds, reach * 2.5))
        seeds: list[Seed] | None = None
        source_chains: tuple[int, ...] = ()
        while True:
            limit = max(0.0, bound - arrive_s)
            composed = self._seeded_search(weights, target, limit) if self.seeded_searches else None
            searched: Tree
            if composed is not None:
                searched, seeds, source_chains = composed
            else:
                searched, seeds = self._search(weights, target, limit), None
            found = units.etas(searched)
            reached = units.within(found, bound)
            if reached >= enough or bound >= max_seconds:
                break
            bound = min(max_seconds, bound * 2.5)
        if reached >= want:
            kth = units.kth_reached(found, want)
            if kth is not None:
                self._learn(*kth)
        paths = self._paths(searched)
        if seeds is not None and isinstance(paths, ChainPathTree) and isinstance(searched, JunctionTree):
            paths = SeededPaths(paths, seeds, source_chains)
        kept = KeptSearch(key, weights, limit, searched, paths)
        self.trees.keep(kept)
        return found, kept

    def _search(self, weights: np.ndarray, target: SnappedPoint, limit: float) -> Tree:
        """Times from every node within ``limit`` seconds to the point ``target`` on its street."""
        return self.search.run(weights, self._sources(weights, target), limit, (target.road_lat, target.road_lon))

    def _sources(self, weights: np.ndarray, target: SnappedPoint) -> list[tuple[int, float]]:
        """Where a search for ``target`` starts: the nodes it is reached from, with their times."""
        net = self.network
        e, f = target.edge, target.fraction
        sources = [(int(net.tail[e]), f * float(weights[e]))]
        if target.twin >= 0:
            sources.append((int(net.tail[target.twin]), (1 - f) * float(weights[target.twin])))
        elif f >= 1 - 1e-9:  # at the end of a one-way edge: at its head node
            sources.append((int(net.head[e]), 0.0))
        return sources

    def _seeded_search(self, weights: np.ndarray, target: SnappedPoint, limit: float
                       ) -> tuple[JunctionTree, list[Seed], tuple[int, ...]] | None:
        """``_search`` on the junction graph composed of kept searches from its seed junctions
        (``jingwu.geo.seeded``), its seeds, and the chains that hold its sources; None where the
        junction graph does not serve (``_search`` then)."""
        if self.network.n_nodes > self.search.local_above_nodes:
            return None
        sources = self._sources(weights, target)
        seeded = self.search.seeds(weights, sources)
        if seeded is None:
            return None
        con, slots, inner = seeded
        c = con.chains
        dj: np.ndarray | None = None
        came: np.ndarray | None = None
        seeds: list[Seed] = []
        for j, (t, _hop) in slots:
            node = int(c.junctions[j])
            kept = self._seed_search(weights, node, max(0.0, limit - t))
            if kept is None:
                return None
            assert isinstance(kept.searched, JunctionTree)  # kept only so (``_seed_search``)
            times, preds = kept.searched.junction_times()
            here = times - SOURCE_FLOOR + t  # the seed's own floor out, the incident's offset in
            if dj is None or came is None:
                dj, came = here, preds.copy()
            else:
                better = here < dj
                dj[better] = here[better]
                came[better] = preds[better]
            seeds.append(Seed(node, t, kept))
        if dj is None or came is None:
            return None
        beyond = dj > limit
        dj[beyond] = np.inf
        came[beyond] = -9999
        dj[c.k], came[c.k] = 0.0, -9999  # the virtual source
        return (self.search.tree_from(con, dj, came, limit, slots, inner), seeds,
                tuple({ch for _, ch, _ in inner}))

    def _seed_search(self, weights: np.ndarray, node: int, limit: float) -> KeptSearch | None:
        """The kept search from junction ``node`` covering ``limit`` seconds, searched anew (to
        2.5 x the kept one's limit at least) when the kept one falls short."""
        key = (node, -1.0, -1, id(weights))
        kept = self.seed_trees.get(key, weights)
        if kept is not None and kept.limit >= limit:
            return kept
        wider = max(limit, 2.5 * kept.limit) if kept is not None else limit
        searched = self.search.run(weights, [(node, 0.0)], wider, (float(self.network.lat[node]),
                                                                      float(self.network.lon[node])))
        if not isinstance(searched, JunctionTree):
            return None
        kept = KeptSearch(key, weights, wider, searched, ChainPathTree(self, searched))
        self.seed_trees.keep(kept)
        return kept

    def _etas(
        self, weights: np.ndarray, target: SnappedPoint, snaps: SnappedArrays, searched: Tree
    ) -> tuple[np.ndarray, np.ndarray]:
        """ETAs of all units (exact up to the search's bound) and the node each leaves its street by.

        ``via`` is -1 for a unit on the incident's own street ahead of it (drives straight there).
        """
        net = self.network
        arrive_s = target.off_road_m / self.off_road_ms
        e, f = target.edge, target.fraction
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
        return eta, via

    def _etas_one(
        self, weights: np.ndarray, target: SnappedPoint, ue: int, ut: int, g: float, off_road_m: float,
        searched: Tree,
    ) -> tuple[float, int]:
        """``_etas`` of one unit on the network (on ``ue`` at ``g``, twin ``ut``), step for step in floats."""
        net = self.network
        arrive_s = target.off_road_m / self.off_road_ms
        e, f = target.edge, target.fraction
        w, head, dist_at = weights.item, net.head.item, searched.dist_at
        safe_e, safe_t = max(ue, 0), max(ut, 0)
        via_head = (1 - g) * w(safe_e) + dist_at(head(safe_e))
        via_twin = g * w(safe_t) + dist_at(head(safe_t)) if ut >= 0 else math.inf
        at_tail = dist_at(net.tail.item(safe_e)) if g <= 1e-9 else math.inf
        best = _minimum(via_head, via_twin)
        via = head(safe_e) if via_head <= via_twin else head(safe_t)
        if at_tail < best:
            via = net.tail.item(safe_e)
        best = _minimum(best, at_tail)
        direct = math.inf
        for inc_edge, inc_frac in ((e, f), (target.twin, 1 - f)):
            if inc_edge < 0:
                continue
            for own, frac in ((ue, g), (ut, 1 - g)):
                if own == inc_edge and frac <= inc_frac:
                    direct = _minimum(direct, (inc_frac - frac) * w(inc_edge))
        if direct < best:
            via = -1
        best = _minimum(best, direct)
        return best + off_road_m / self.off_road_ms + arrive_s, int(via)

    # --- explaining a result ------------------------------------------------------------------

    def _road_estimate(
        self,
        origin: UnitOrigin,
        eta: float,
        via: int,
        straight: float,
        unit_lat: float,
        unit_lon: float,
        unit_off_road_m: float,
        target: SnappedPoint,
        tree: Paths,
        with_route: bool = True,
    ) -> TravelEstimate:
        """The estimate of a unit snapped to (``unit_lat``, ``unit_lon``) ``unit_off_road_m`` from where
        it stands; its route drawn only ``with_route`` (the distance always)."""
        coords: list[Point] | None = None
        if with_route:
            start = [point(origin.point.lon, origin.point.lat), point(unit_lon, unit_lat)]
            end = [point(target.road_lon, target.road_lat), point(target.point.lon, target.point.lat)]
        if via < 0:
            metres = great_circle_m(unit_lat, unit_lon, target.road_lat, target.road_lon)
            if with_route:
                coords = _joined(start, [], end)
        else:
            last, metres, line = tree.route(via, with_route)
            net = self.network
            metres += great_circle_m(unit_lat, unit_lon, float(net.lat[via]), float(net.lon[via]))
            metres += great_circle_m(float(net.lat[last]), float(net.lon[last]), target.road_lat, target.road_lon)
            if line is not None:
                coords = _joined(start, line, end)
        return TravelEstimate(
            unit_id=origin.unit_id,
            eta_s=eta,
            road_distance_m=metres + unit_off_road_m + target.off_road_m,
            straight_distance_m=float(straight),
            method="road",
            note="",
            route={"type": "LineString", "coordinates": coords} if coords is not None else None,
        )

    def _resized(self, kept: KeptSearch) -> None:
        """Account for the routes walked on ``kept`` (and on its seeds' searches)."""
        self.trees.resized(kept)
        if isinstance(kept.paths, SeededPaths):
            for seed in kept.paths.seeds:
                self.seed_trees.resized(seed.kept)

    def _paths(self, searched: Tree) -> Paths:
        """Where a search's routes are read: a chain at a time on the junction graph's, when the
        drawing (made or to be made from ``self.search.chains()``) reads the same chain table."""
        if isinstance(searched, JunctionTree) and searched.chains is self.search.chains():
            drawing = self._drawing_kept
            if drawing is None or drawing.chains is searched.chains:
                return ChainPathTree(self, searched)
        return PathTree(self, searched)

    def _drawing(self) -> RouteDrawing:
        """How routes are drawn on this network (``drawing.RouteDrawing``), worked out at the first route."""
        drawing = self._drawing_kept
        if drawing is None:
            with self._drawing_lock:
                if self._drawing_kept is None:
                    self._drawing_kept = RouteDrawing.of(self.network, self.search.chains())
                drawing = self._drawing_kept
        return drawing

    def _edges_along(self, path: np.ndarray) -> np.ndarray:
        keys = path[:-1] * self.network.n_nodes + path[1:]
        return self._edge_order[np.searchsorted(self._sorted_keys, keys)]

    def snap_place(self, point: GeoPoint) -> SnappedPoint:
        """Snap an incident (or any destination), remembering the last few thousand places asked
        about: the intake's reverse geocoding asks first (``Geocoder(nearest_road=…)``), and the
        recommendation then finds the snap made."""
        key = (point.lat, point.lon)
        places = self._snapped_places
        with self._places_lock:
            known = places.get(key)
            if known is not None:
                places.move_to_end(key)
                return SnappedPoint(point, *known)
        snapped = self.snapper.snap(point)
        with self._places_lock:
            places[key] = (snapped.edge, snapped.twin, snapped.fraction, snapped.off_road_m, snapped.on_network,
                           snapped.road_lat, snapped.road_lon)
            while len(places) > self.incident_snap_cache_size:
                places.popitem(last=False)
        with self._snap_lock:  # units go to incidents: the first to stand here finds its snap made
            self._remember_unit_snap(key, snapped)
        return snapped

    def _remember_unit_snap(self, key: tuple[float, float], s: SnappedPoint) -> None:
        rows = self._snap_rows
        if key in rows or len(rows) >= self.snap_cache_size:
            return
        start = len(rows)
        table = self._snap_table
        if table is not None and start < len(table[0]):  # room: seven scalar writes, no arrays made
            values = (s.edge, s.twin, s.fraction, s.off_road_m, s.on_network, s.road_lat, s.road_lon)
            for column, value in zip(table, values, strict=True):
                column[start] = value
            rows[key] = start
            return
        one = SnappedArrays(
            np.array([s.edge], dtype=np.int64), np.array([s.twin], dtype=np.int64), np.array([s.fraction]),
            np.array([s.off_road_m]), np.array([s.on_network]), np.array([s.road_lat]), np.array([s.road_lon]))
        rows[key] = start
        self._snap_table = _append_rows(self._snap_table, one, start)

    def _snap_unit(self, lat: float, lon: float) -> _Snap:
        """``_snap_units`` of one position, as plain values (edge, twin, fraction, off_road_m,
        on_network, road_lat, road_lon): a row of the same table.

        A position not in the table yet (about one in five in the drill) is snapped and added by
        ``_snap_units`` itself. ``snapper.snap`` would be ~70 us faster, but
        tests/unit/geo/test_travel_cache.py counts ``snap`` calls as incident snaps.
        """
        row = self._snap_rows.get((lat, lon))
        if row is None:
            one = self._snap_units(np.array([lat]), np.array([lon]))
            columns = [one.edge, one.twin, one.fraction, one.off_road_m, one.on_network, one.road_lat, one.road_lon]
            row = 0
        else:
            table = self._snap_table
            assert table is not None
            columns = table
        edge, twin, fraction, off, on, road_lat, road_lon = columns
        return (edge.item(row), twin.item(row), fraction.item(row), off.item(row), bool(on.item(row)),
                road_lat.item(row), road_lon.item(row))

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


_Found = TypeVar("_Found")
_Snap = tuple[int, int, float, float, bool, float, float]
"""A ``SnappedPoint`` without its point: edge, twin, fraction, off_road_m, on_network, road_lat, road_lon."""


class _Units(Protocol[_Found]):
    """The units of one question as ``_reach_with`` sees them: ``_Found`` is their ETAs and exits."""

    on_count: int
    """How many stand on the network."""

    def kth_straight(self, want: int) -> float | None:
        """Straight-line metres to the ``want``-th nearest on the network (or the farthest); None if none."""
        ...

    def etas(self, searched: Tree) -> _Found: ...

    def within(self, found: _Found, bound: float) -> int:
        """How many on the network have an ETA of at most ``bound``."""
        ...

    def kth_reached(self, found: _Found, want: int) -> tuple[float, float] | None:
        """What ``_learn`` takes: the ``want``-th smallest finite ETA and straight-line distance."""
        ...


class _ManyUnits:
    """Any number of units, as numpy arrays (``_etas``)."""

    def __init__(self, travel: RoadTravelTimes, weights: np.ndarray, target: SnappedPoint, snaps: SnappedArrays,
                 straight: np.ndarray) -> None:
        self.travel, self.weights, self.target, self.snaps = travel, weights, target, snaps
        self.on = snaps.on_network
        self.on_count = int(self.on.sum())
        self.straight_on = straight[self.on]

    def kth_straight(self, want: int) -> float | None:
        straight = self.straight_on
        if len(straight) == 0:
            return None
        k = min(want, len(straight)) - 1
        return float(np.partition(straight, k)[k])

    def etas(self, searched: Tree) -> tuple[np.ndarray, np.ndarray]:
        return self.travel._etas(self.weights, self.target, self.snaps, searched)

    def within(self, found: tuple[np.ndarray, np.ndarray], bound: float) -> int:
        return int((self.on & (found[0] <= bound)).sum())

    def kth_reached(self, found: tuple[np.ndarray, np.ndarray], want: int) -> tuple[float, float] | None:
        eta, straight = found[0][self.on], self.straight_on
        finite = eta[np.isfinite(eta)]
        k = min(want, len(finite), len(straight)) - 1
        if k < 0:
            return None
        return float(np.partition(finite, k)[k]), float(np.partition(straight, k)[k])


class _OneUnit:
    """One unit on the network, as plain numbers (``_etas_one``); ``_Units`` for a single unit."""

    on_count = 1

    def __init__(self, travel: RoadTravelTimes, weights: np.ndarray, target: SnappedPoint, edge: int, twin: int,
                 fraction: float, off_road_m: float, straight: float) -> None:
        self.travel, self.weights, self.target = travel, weights, target
        self.edge, self.twin, self.fraction, self.off_road_m = edge, twin, fraction, off_road_m
        self.straight = straight

    def kth_straight(self, want: int) -> float | None:
        return self.straight

    def etas(self, searched: Tree) -> tuple[float, int]:
        return self.travel._etas_one(self.weights, self.target, self.edge, self.twin, self.fraction,
                                     self.off_road_m, searched)

    def within(self, found: tuple[float, int], bound: float) -> int:
        return 1 if found[0] <= bound else 0

    def kth_reached(self, found: tuple[float, int], want: int) -> tuple[float, float] | None:
        return found[0], self.straight


def _minimum(a: float, b: float) -> float:
    """``np.minimum`` of two floats (NaN wins, as there)."""
    return a if a <= b or a != a else b


def _joined(start: Sequence[Point], body: Sequence[Point], end: Sequence[Point]) -> list[Point]:
    """Concatenate route parts, dropping repeated points where they meet (road nodes never repeat)."""
    out: list[Point] = []
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
    first node an earlier walk passed and continues in that walk: the cost is the size of the union
    of the routes, not their summed length (mountain roads have hundreds of nodes per route). Walks
    are kept with the search (``SearchCache``) as numpy arrays and a dict of ints, not lists of
    Python lists: a kept tree holds a handful of objects for the garbage collector to scan instead
    of one per route node, and nothing is sized by the graph (a 1M-node search stays cheap to keep).

    The search's tree walks (``walk``): over an expanded tree one dict lookup and one ``pred.item``
    a node (~0.1 us); over the junction graph's (``JunctionTree``, nothing expanded) a chain of
    shape points at a time, its direction worked out once and the rest of it one slice (~0.15 us a
    node on Andorra's chains of ~8 points). Then a few numpy calls for the metres.
    """

    def __init__(self, travel: RoadTravelTimes, searched: Tree) -> None:
        self.travel = travel
        self.searched = searched
        self._passed: dict[int, int] = {searched.root: -1, -9999: -1}
        """local node -> (walk that passed it) * 2**32 + its index in that walk; -1 for the root and
        for -9999 (no predecessor, in scipy's trees and the junction graph's), so that a walk stops
        on its one lookup a node"""
        self._nodes: list[np.ndarray] = []
        """network ids of each walk's own nodes"""
        self._metres: list[np.ndarray] = []
        """metres from each of them to the end of the route"""
        self._rest: list[tuple[int, int]] = []
        """(walk, index) each walk continues in; (-1, 0) when it reaches the incident's street"""
        self.nbytes = 0
        """Memory held by the walks, roughly (for the cache's budget)."""
        self._lock = travel.walks_lock

    def route(self, start: int, with_line: bool = True) -> tuple[int, float, Sequence[Point] | None]:
        """The node the route from ``start`` leaves the network by, its metres, and its drawn points
        when ``with_line``."""
        nodes, metres = self.path(start)
        return int(nodes[-1]), metres, self.travel._drawing().line(nodes) if with_line else None

    def path(self, start: int) -> tuple[np.ndarray, float]:
        """Network nodes from ``start`` to where the route leaves for the incident's edge, and metres."""
        here = start if self.searched.nodes is None else int(self.searched.local(np.array([start]))[0])
        with self._lock:
            at = self._passed.get(here)
            if at is None:
                at = self._walk(here)
        w, k = divmod(at, 2**32)
        metres = self._metres[w].item(k)
        parts = [self._nodes[w][k:]]
        w, k = self._rest[w]
        while w >= 0:
            parts.append(self._nodes[w][k:])
            w, k = self._rest[w]
        return (parts[0] if len(parts) == 1 else np.concatenate(parts)), metres

    def _walk(self, here: int) -> int:
        """Walk from local node ``here`` until the search's root or an earlier walk; its place."""
        passed = self._passed
        walk, at = self.searched.walk(here, passed)  # to an earlier walk's node, the root or none
        rest = divmod(at, 2**32) if at >= 0 else (-1, 0)
        nodes = self.searched.network_ids(walk)
        hops, tail_m = nodes, 0.0
        if rest[0] >= 0:
            hops = np.concatenate((nodes, self._nodes[rest[0]][rest[1] : rest[1] + 1]))
            tail_m = self._metres[rest[0]].item(rest[1])
        # metres(v) = metres(next) + leg, summed from the end: the same float whichever walk came first
        metres = np.empty(len(hops))
        metres[0] = tail_m
        if len(hops) > 1:
            metres[1:] = self.travel.network.metres[self.travel._edges_along(hops)][::-1]
        metres = np.cumsum(metres, out=metres)[::-1][: len(walk)].copy()
        base = len(self._nodes) * 2**32
        self._nodes.append(nodes)
        self._metres.append(metres)
        self._rest.append(rest)
        passed.update(zip(walk, range(base, base + len(walk)), strict=False))  # same lengths
        self.nbytes += nodes.nbytes + metres.nbytes + 100 * len(walk) + 250
        return base


Paths = PathTree | ChainPathTree | SeededPaths
"""Where a kept search's routes are read."""


@dataclass(eq=False, slots=True)
class KeptSearch:
    """A search kept for the next question about the same place: exact for times up to ``limit``."""

    key: tuple[int, float, int, int]
    weights: np.ndarray
    """The weights searched; held so that their ``id`` in ``key`` cannot be reused by another array."""
    limit: float
    """Seconds from the incident's point on the road that the search covered."""
    searched: Tree
    paths: Paths

    @property
    def nbytes(self) -> int:
        return self.searched.nbytes + self.paths.nbytes


class SearchCache:
    """The search trees of recently asked places, within a memory budget (a segmented LRU).

    Keyed by the incident's snapped position (edge, fraction along it, its twin) and the identity
    of the weights array (the traffic factors of the hour pick one of a few long-lived arrays); a
    tree is exact up to its bound, so any later question it covers gets a fresh search's answer.
    An Andorra tree is ~0.2 MB, a whole 1M-node graph's ~12 MB.

    A new tree is kept on probation, least recently used dropped first. A tree asked about again
    after ``protect_after`` other trees were kept (a station, a patrol post, a busy corner: places
    asked about all shift long, not just during one incident) moves to a protected segment of up
    to half the budget, so a run of one-off incidents cannot push it out; the protected segment's
    least recently used tree goes back on probation when it is full.
    """

    def __init__(self, max_bytes: int = 64 * 2**20, *, protect_after: int = 16) -> None:
        self.max_bytes = max_bytes
        self.protect_after = protect_after
        self._kept: OrderedDict[tuple[int, float, int, int], tuple[KeptSearch, int, int]] = OrderedDict()
        """On probation: key -> (search, bytes, when kept)."""
        self._protected: OrderedDict[tuple[int, float, int, int], tuple[KeptSearch, int, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0
        self.protected_bytes = 0
        self.hits = 0
        self.misses = 0
        self._kept_count = 0

    def __len__(self) -> int:
        return len(self._kept) + len(self._protected)

    def get(self, key: tuple[int, float, int, int], weights: np.ndarray) -> KeptSearch | None:
        with self._lock:
            found = self._protected.get(key)
            if found is not None and found[0].weights is weights:
                self._protected.move_to_end(key)
                self.hits += 1
                return found[0]
            found = self._kept.get(key)
            if found is None or found[0].weights is not weights:
                self.misses += 1
                return None
            self.hits += 1
            if self._kept_count - found[2] >= self.protect_after:
                del self._kept[key]
                self._protect(key, found)
            else:
                self._kept.move_to_end(key)
            return found[0]

    def keep(self, kept: KeptSearch) -> None:
        """Keep a new search (replacing any older one of the same place), then trim to the budget."""
        with self._lock:
            self._drop(kept.key)
            size = kept.nbytes
            self._kept[kept.key] = (kept, size, self._kept_count)
            self._kept_count += 1
            self.nbytes += size
            self._trim()

    def resized(self, kept: KeptSearch) -> None:
        """Account for routes walked since ``kept`` was stored (its walks grow as units are explained)."""
        with self._lock:
            for segment in (self._kept, self._protected):
                entry = segment.get(kept.key)
                if entry is None or entry[0] is not kept:
                    continue
                size = kept.nbytes
                if size != entry[1]:
                    segment[kept.key] = (kept, size, entry[2])
                    self.nbytes += size - entry[1]
                    if segment is self._protected:
                        self.protected_bytes += size - entry[1]
                    self._trim()
                return

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._protected.clear()
            self.nbytes = self.protected_bytes = 0

    def _protect(self, key: tuple[int, float, int, int], entry: tuple[KeptSearch, int, int]) -> None:
        self._protected[key] = entry
        self.protected_bytes += entry[1]
        while self.protected_bytes > self.max_bytes // 2 and len(self._protected) > 1:
            old_key, old = self._protected.popitem(last=False)
            self.protected_bytes -= old[1]
            self._kept[old_key] = (old[0], old[1], self._kept_count)  # back on probation, newest

    def _drop(self, key: tuple[int, float, int, int]) -> None:
        old = self._kept.pop(key, None)
        if old is None:
            old = self._protected.pop(key, None)
            if old is not None:
                self.protected_bytes -= old[1]
        if old is not None:
            self.nbytes -= old[1]

    def _trim(self) -> None:
        while self.nbytes > self.max_bytes and (self._kept or self._protected):
            if self._kept:
                _, (_, size, _) = self._kept.popitem(last=False)
            else:
                _, (_, size, _) = self._protected.popitem(last=False)
                self.protected_bytes -= size
            self.nbytes -= size


def _without_route(e: TravelEstimate) -> TravelEstimate:
    """``replace(e, route=None)``, made directly: ``dataclasses.replace`` looks the fields up on every
    call, and the intake keeps ten of these a flow."""
    return TravelEstimate(e.unit_id, e.eta_s, e.road_distance_m, e.straight_distance_m, e.method, e.note, None)


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
