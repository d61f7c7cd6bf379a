"""Points, distances and polygons in plain Python, so the domain can reason about places without I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

EARTH_RADIUS_M = 6_371_008.8

Ring = Sequence[tuple[float, float]]
"""A closed ring of (lon, lat) pairs, GeoJSON order."""


@dataclass(frozen=True, slots=True)
class GeoPoint:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0) or math.isnan(self.lat):
            raise ValueError(f"lat must be within -90..90, got {self.lat}")
        if not (-180.0 <= self.lon <= 180.0) or math.isnan(self.lon):
            raise ValueError(f"lon must be within -180..180, got {self.lon}")


def haversine_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance in metres."""
    return great_circle_m(a.lat, a.lon, b.lat, b.lon)


def great_circle_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """``haversine_m`` on bare degrees, for hot loops that should not build two GeoPoints per call."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def degree_margins(lat: float, radius_m: float) -> tuple[float, float]:
    """Half-widths in degrees (lat, lon) of a box holding every point within ``radius_m`` of a point
    at latitude ``lat``: a cheap index-friendly pre-filter before exact distances."""
    dlat = radius_m / 111_000
    return dlat, dlat / max(0.01, math.cos(math.radians(lat)))


Edge = tuple[float, float, float, float]


class RingIndex:
    """A ring's edges by latitude band, so a point is tested against the edges of its band only.

    Every call resolves its place to a station, and a real boundary has hundreds to thousands of
    vertices (a parish of Andorra ~600, a Chinese district many more): walking all of them in
    Python took ~40 us a point. The even-odd rule counts the edges a ray from the point crosses,
    and only an edge whose latitudes straddle the point's can be crossed; each band holds every
    such edge for the latitudes it covers, so the count over a band is the count over the ring,
    each edge tested with the same arithmetic as the plain walk over every edge (the same answer,
    to the bit: tests/unit/domain/test_ring_index.py)."""

    __slots__ = ("_bands", "_count", "_scale", "_span", "_y0")

    PER_BAND = 8
    """Vertices per band, on average: fewer bands for small rings, at most 1,024."""

    MAX_COPIES = 16
    """Edges kept, at most, per vertex: a ring of long edges crossing many bands (a comb) gets
    fewer, taller bands instead of a copy of each edge in each."""

    def __init__(self, ring: Ring) -> None:
        ys = [y for _, y in ring] or [0.0]
        self._y0 = min(ys)
        self._span = max(ys) - self._y0
        edges: list[Edge] = []
        j = len(ring) - 1
        for i in range(len(ring)):
            xi, yi = ring[i]
            xj, yj = ring[j]
            j = i
            if yi != yj:  # a level edge is never crossed
                edges.append((xi, yi, xj, yj))
        count = max(1, min(1024, len(ring) // self.PER_BAND))
        bands = self._sorted_into(edges, count)
        kept = sum(len(b) for b in bands)
        if kept > self.MAX_COPIES * len(edges) + count:
            bands = self._sorted_into(edges, max(1, count * self.MAX_COPIES * len(edges) // kept))
        self._bands = tuple(tuple(b) for b in bands)

    def _sorted_into(self, edges: list[Edge], count: int) -> list[list[Edge]]:
        """``count`` bands, each with every edge whose latitudes reach into it."""
        self._count = count
        scale = count / self._span if self._span > 0 else 0.0
        # A span too thin to divide by (a subnormal float) gives inf, and 0 x inf is NaN: one band.
        self._scale = scale if math.isfinite(scale) else 0.0
        bands: list[list[Edge]] = [[] for _ in range(count)]
        for edge in edges:
            _xi, yi, _xj, yj = edge
            for k in range(self._band(min(yi, yj)), self._band(max(yi, yj)) + 1):
                bands[k].append(edge)
        return bands

    def _band(self, y: float) -> int:
        """The band of latitude ``y``: one monotonic formula for edges and points alike, so an edge's
        bands always include the band of any latitude between its ends."""
        return min(self._count - 1, max(0, int((y - self._y0) * self._scale)))

    def contains(self, lon: float, lat: float) -> bool:
        inside = False
        for xi, yi, xj, yj in self._bands[self._band(lat)]:
            if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
                inside = not inside
        return inside


@dataclass(frozen=True, slots=True)
class Polygon:
    """A polygon with holes: ``rings[0]`` is the shell, the rest are holes."""

    rings: tuple[tuple[tuple[float, float], ...], ...]
    _index: tuple[RingIndex, ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", tuple(RingIndex(r) for r in self.rings))

    def contains(self, p: GeoPoint) -> bool:
        if not self.rings or not self._index[0].contains(p.lon, p.lat):
            return False
        return not any(hole.contains(p.lon, p.lat) for hole in self._index[1:])

    def bbox(self) -> tuple[float, float, float, float]:
        xs = [x for x, _ in self.rings[0]]
        ys = [y for _, y in self.rings[0]]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True, slots=True)
class Area:
    """A jurisdiction's area: one or more polygons (GeoJSON Polygon or MultiPolygon)."""

    polygons: tuple[Polygon, ...]

    def contains(self, p: GeoPoint) -> bool:
        return any(poly.contains(p) for poly in self.polygons)

    @classmethod
    def from_geojson(cls, geometry: dict) -> Area:
        kind = geometry.get("type")
        coords = geometry.get("coordinates") or []
        if kind == "Polygon":
            parts = [coords]
        elif kind == "MultiPolygon":
            parts = list(coords)
        else:
            raise ValueError(f"geometry type must be Polygon or MultiPolygon, got {kind!r}")
        polys = tuple(
            Polygon(tuple(tuple((float(x), float(y)) for x, y, *_ in ring) for ring in part)) for part in parts
        )
        return cls(polys)

    def to_geojson(self) -> dict:
        if len(self.polygons) == 1:
            return {"type": "Polygon", "coordinates": [[list(pt) for pt in r] for r in self.polygons[0].rings]}
        return {
            "type": "MultiPolygon",
            "coordinates": [[[list(pt) for pt in r] for r in p.rings] for p in self.polygons],
        }

    def centroid(self) -> GeoPoint:
        """Area-weighted centroid of the shells (good enough for labels and seeding)."""
        total = cx = cy = 0.0
        for poly in self.polygons:
            ring = poly.rings[0]
            for i in range(len(ring) - 1):
                x0, y0 = ring[i]
                x1, y1 = ring[i + 1]
                cross = x0 * y1 - x1 * y0
                total += cross
                cx += (x0 + x1) * cross
                cy += (y0 + y1) * cross
        if abs(total) < 1e-15:
            x0, y0, _, _ = self.polygons[0].bbox()
            return GeoPoint(lat=y0, lon=x0)
        return GeoPoint(lat=cy / (3 * total), lon=cx / (3 * total))
