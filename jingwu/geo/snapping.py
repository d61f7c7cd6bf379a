"""Snap points to the nearest road edge, not just the nearest node.

A unit parked in the middle of a 600 m mountain road is not at either end of it; snapping to a node
would add or remove up to a minute of driving. Edges are cut into short pieces whose midpoints go
into a k-d tree; the exact nearest segment is then found by projecting onto every segment that
could beat the nearest midpoint (a piece is at most ``piece_m`` long, so none is missed).

Segments exactly as far from the point (at a junction, where the streets meeting there all reach
the point at the junction) are settled by the lower segment id: a rule of the network itself, so
any set of candidates that holds the nearest segments gives the same answer, whatever order the
tree returns them in. Planar distances are ``sqrt(dx*dx + dy*dy)``, the same IEEE operations on
arrays and on Python floats, so ``snap`` and ``snap_many`` agree to the bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from jingwu.domain.geography import GeoPoint
from jingwu.geo.roads import RoadNetwork, haversine_arrays, haversine_one, metres_per_degree


@dataclass(frozen=True, slots=True)
class SnappedPoint:
    """Where a point meets the road: on ``edge`` at ``fraction`` of the way from its tail."""

    point: GeoPoint
    edge: int  # directed edge id, -1 when the network is empty
    twin: int  # the opposite direction of the same street, -1 for one-way roads
    fraction: float
    off_road_m: float
    on_network: bool  # False when farther than the snapper's ``max_distance_m`` from any road
    road_lat: float
    road_lon: float


@dataclass(frozen=True, slots=True)
class SnappedArrays:
    """``snap_many`` results, one row per input point (vectorised for hundreds of units)."""

    edge: np.ndarray
    twin: np.ndarray
    fraction: np.ndarray
    off_road_m: np.ndarray
    on_network: np.ndarray
    road_lat: np.ndarray
    road_lon: np.ndarray


_ScalarTables = tuple[list[int], list[tuple[float, float, float, float, float]], list[float], list[float]]
"""``RoadSnapper._scalar_tables``: piece -> segment, segment geometry, piece midpoints x and y."""


class RoadSnapper:
    """Nearest-edge snapping over a whole network, or over a subset (e.g. only named streets)."""

    def __init__(
        self,
        network: RoadNetwork,
        *,
        max_distance_m: float = 300.0,
        edge_mask: np.ndarray | None = None,
        piece_m: float = 40.0,
        first_radius_m: float = 80.0,
    ) -> None:
        """``first_radius_m``: ``snap`` asks the tree once for the pieces this near, and is done when the
        nearest of them is within ``first_radius_m - piece_m / 2`` (most places, in a town); farther
        out it asks for the nearest piece first, then for those that could beat it."""
        self.network = network
        self.max_distance_m = max_distance_m
        self.twins = network.reverse_edges()
        ids = np.arange(network.n_edges)
        single = (self.twins < 0) | (ids < self.twins)  # one entry per street segment
        if edge_mask is not None:
            single &= edge_mask
        self.segments = ids[single]
        self.lat0 = float(network.lat.mean()) if network.n_nodes else 0.0
        self.lon0 = float(network.lon.mean()) if network.n_nodes else 0.0
        self.kx, self.ky = metres_per_degree(network)
        self.x, self.y = self._project(network.lat, network.lon)
        ax, ay = self.x[network.tail[self.segments]], self.y[network.tail[self.segments]]
        bx, by = self.x[network.head[self.segments]], self.y[network.head[self.segments]]
        length = np.hypot(bx - ax, by - ay)
        pieces = np.maximum(1, np.ceil(length / piece_m)).astype(np.int64)
        self.half_piece = piece_m / 2
        owner = np.repeat(np.arange(len(self.segments)), pieces)
        start = np.cumsum(pieces) - pieces
        t = (np.arange(int(pieces.sum())) - start[owner] + 0.5) / pieces[owner]
        mids = np.column_stack([ax[owner] + t * (bx - ax)[owner], ay[owner] + t * (by - ay)[owner]])
        self.piece_owner = owner
        self.tree = cKDTree(mids) if len(mids) else None
        self.first_radius_m = max(first_radius_m, 0.0)
        self._scalar: _ScalarTables | None = None

    def _project(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(lon) - self.lon0) * self.kx, (np.asarray(lat) - self.lat0) * self.ky

    def snap(self, point: GeoPoint) -> SnappedPoint:
        """One point: the same answer as ``snap_many`` on that point, without its array machinery.

        ``snap_many`` on a single point spends nearly all its time in numpy per-call overhead, and
        this is called once or twice per incident. Here the few candidate segments are projected in
        plain floats, in the same operation order as ``_project_onto`` and ``haversine_arrays``;
        the functions whose plain-Python twins may round differently (``sin``, ``cos``, ``arcsin``)
        are numpy's own, called on scalars, so every field is bit-identical. Most places need one
        question to the tree (``first_radius_m``) instead of two.
        """
        lat, lon = float(point.lat), float(point.lon)
        tree = self.tree
        if tree is None:
            return SnappedPoint(point, -1, -1, 0.0, math.inf, False, lat, lon)
        px = (lon - self.lon0) * self.kx
        py = (lat - self.lat0) * self.ky
        piece_seg, geometry, mid_x, mid_y = self._scalar_tables()
        hits = tree.query_ball_point((px, py), r=self.first_radius_m, return_sorted=False)
        squares = []
        for piece in hits:
            qx, qy = mid_x[piece] - px, mid_y[piece] - py
            squares.append(qx * qx + qy * qy)
        nearest = math.sqrt(min(squares, default=math.inf))
        reach = nearest + self.half_piece + 1e-6
        limit = self.max_distance_m + self.half_piece
        if reach + 1e-3 <= self.first_radius_m and nearest < limit - 1e-6:
            # every piece that could hold the nearest segment (within the nearest midpoint + half a
            # piece) is among the hits, and the nearest is clearly within snapping distance (near
            # the cut-off, the tree's own figure decides, as in snap_many): those, as snap_many
            # asks for them
            within = reach * reach
            hits = [piece for piece, sq in zip(hits, squares, strict=True) if sq <= within]
        else:  # none that near: ask as snap_many does
            d0 = float(tree.query((px, py), k=1)[0])
            if not d0 <= limit:  # as in snap_many, a NaN distance is neither near nor far
                return SnappedPoint(point, -1, -1, 0.0, d0 - self.half_piece if d0 > limit else math.inf, False,
                                    lat, lon)
            hits = tree.query_ball_point((px, py), r=d0 + self.half_piece + 1e-6, return_sorted=False)
        best = -1
        best_t = 0.0
        best_d = math.nan
        seen: set[int] = set()
        for piece in hits:
            s = piece_seg[piece]
            if s in seen:
                continue
            seen.add(s)
            ax, ay, dx, dy, norm = geometry[s]
            t = ((px - ax) * dx + (py - ay) * dy) / norm if norm > 0 else 0.0
            t = 0.0 if t < 0.0 else (1.0 if t > 1.0 else t)  # np.clip, which keeps -0.0 too
            qx, qy = ax + t * dx - px, ay + t * dy - py
            d = math.sqrt(qx * qx + qy * qy)
            # as snap_many's sort: the smallest distance, then the lowest segment; NaN last
            if best < 0 or d < best_d or (d == best_d and s < best) or (best_d != best_d and (d == d or s < best)):
                best, best_t, best_d = s, t, d
        if best < 0:
            return SnappedPoint(point, -1, -1, 0.0, math.inf, False, lat, lon)
        net = self.network
        e = int(self.segments[best])
        tail, head = net.tail[e], net.head[e]
        lat_t, lon_t = float(net.lat[tail]), float(net.lon[tail])
        road_lat = lat_t + best_t * (float(net.lat[head]) - lat_t)
        road_lon = lon_t + best_t * (float(net.lon[head]) - lon_t)
        off = haversine_one(lat, lon, road_lat, road_lon)
        return SnappedPoint(
            point=point,
            edge=e,
            twin=int(self.twins[e]),
            fraction=best_t,
            off_road_m=off,
            on_network=off <= self.max_distance_m,
            road_lat=road_lat,
            road_lon=road_lon,
        )

    def _scalar_tables(self) -> _ScalarTables:
        """For ``snap``: each piece's segment (index into ``segments``), each segment's tail ``(ax,
        ay)``, direction ``(dx, dy)`` and squared length, computed as ``_project_onto`` does, and
        each piece's midpoint."""
        if self._scalar is None:
            net = self.network
            ax, ay = self.x[net.tail[self.segments]], self.y[net.tail[self.segments]]
            dx, dy = self.x[net.head[self.segments]] - ax, self.y[net.head[self.segments]] - ay
            norm = dx * dx + dy * dy
            geometry = list(zip(ax.tolist(), ay.tolist(), dx.tolist(), dy.tolist(), norm.tolist(), strict=True))
            mids = self.tree.data if self.tree is not None else np.zeros((0, 2))  # the pieces' midpoints
            self._scalar = (self.piece_owner.tolist(), geometry, mids[:, 0].tolist(), mids[:, 1].tolist())
        return self._scalar

    def snap_many(self, lat: np.ndarray, lon: np.ndarray) -> SnappedArrays:
        count = len(lat)
        edge = np.full(count, -1, dtype=np.int64)
        frac = np.zeros(count)
        off = np.full(count, np.inf)
        rlat = np.asarray(lat, dtype=np.float64).copy()
        rlon = np.asarray(lon, dtype=np.float64).copy()
        if self.tree is None or count == 0:
            return SnappedArrays(edge, edge.copy(), frac, off, np.zeros(count, bool), rlat, rlon)
        px, py = self._project(lat, lon)
        d0, _ = self.tree.query(np.column_stack([px, py]), k=1)
        # a point whose nearest piece is this far cannot be within max_distance_m of any road
        near = np.flatnonzero(d0 <= self.max_distance_m + self.half_piece)
        far = np.flatnonzero(d0 > self.max_distance_m + self.half_piece)
        off[far] = d0[far] - self.half_piece
        if len(near):
            hits = self.tree.query_ball_point(
                np.column_stack([px[near], py[near]]), r=d0[near] + self.half_piece + 1e-6, return_sorted=False
            )
            sizes = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
            flat = np.fromiter((i for h in hits for i in h), dtype=np.int64, count=int(sizes.sum()))
            who = np.repeat(near, sizes)
            seg = self.segments[self.piece_owner[flat]]
            t, dist = self._project_onto(px[who], py[who], seg)
            order = np.lexsort((seg, dist, who))  # per point: nearest first, then the lowest segment
            first = np.ones(len(order), dtype=bool)
            first[1:] = who[order][1:] != who[order][:-1]
            best = order[first]
            rows = who[best]
            edge[rows] = seg[best]
            frac[rows] = t[best]
            e = seg[best]
            net = self.network
            rlat[rows] = net.lat[net.tail[e]] + t[best] * (net.lat[net.head[e]] - net.lat[net.tail[e]])
            rlon[rows] = net.lon[net.tail[e]] + t[best] * (net.lon[net.head[e]] - net.lon[net.tail[e]])
            off[rows] = haversine_arrays(np.asarray(lat)[rows], np.asarray(lon)[rows], rlat[rows], rlon[rows])
        twin = np.where(edge >= 0, self.twins[np.maximum(edge, 0)], -1)
        on = (edge >= 0) & (off <= self.max_distance_m)
        return SnappedArrays(edge, twin, frac, off, on, rlat, rlon)

    def _project_onto(self, px: np.ndarray, py: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fraction along each segment of the closest point, and the planar distance to it."""
        net = self.network
        ax, ay = self.x[net.tail[seg]], self.y[net.tail[seg]]
        dx, dy = self.x[net.head[seg]] - ax, self.y[net.head[seg]] - ay
        norm = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(norm > 0, ((px - ax) * dx + (py - ay) * dy) / norm, 0.0)
        t = np.clip(t, 0.0, 1.0)
        qx, qy = ax + t * dx - px, ay + t * dy - py
        return t, np.sqrt(qx * qx + qy * qy)
