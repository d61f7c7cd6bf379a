"""Point in polygon by latitude bands (``RingIndex``) answers exactly as the plain walk over every edge."""

from __future__ import annotations

import itertools
import random

from hypothesis import example, given, settings
from hypothesis import strategies as st

from jingwu.domain.geography import Area, GeoPoint, Ring, RingIndex
from jingwu.services.demo import andorra_org


def _in_ring(lon: float, lat: float, ring: Ring) -> bool:
    """The even-odd rule over every edge, as jingwu resolved stations before ``RingIndex``."""
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside

coord = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False, allow_infinity=False)
# Vertices on a coarse grid as well, so that points fall exactly on vertices, edges and level runs.
grid = st.integers(min_value=-4, max_value=4).map(lambda k: k / 4)
vertex = st.tuples(st.one_of(coord, grid), st.one_of(coord, grid))


@settings(max_examples=300, deadline=None)
@given(ring=st.lists(vertex, min_size=3, max_size=80), points=st.lists(vertex, min_size=1, max_size=30))
@example(ring=[(0.0, 0.0), (1.0, 5e-324), (0.5, 0.0)], points=[(0.5, 0.0)])  # a span too thin to divide by
def test_bands_answer_as_the_plain_walk_on_any_ring(ring: list[tuple[float, float]],
                                                   points: list[tuple[float, float]]) -> None:
    closed = (*ring, ring[0])
    index = RingIndex(closed)
    probes = points + list(closed) + [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in itertools.pairwise(closed)]
    for lon, lat in probes:
        assert index.contains(lon, lat) == _in_ring(lon, lat, closed), (lon, lat)


def test_bands_answer_as_the_plain_walk_on_andorras_parishes() -> None:
    rng = random.Random(5)
    rings = [ring for unit in andorra_org() if unit.area is not None
             for poly in unit.area.polygons for ring in poly.rings]
    assert rings and max(len(r) for r in rings) > 100
    for ring in rings:
        index = RingIndex(ring)
        xs, ys = [x for x, _ in ring], [y for _, y in ring]
        for _ in range(300):
            lon, lat = rng.uniform(min(xs) - 0.01, max(xs) + 0.01), rng.uniform(min(ys) - 0.01, max(ys) + 0.01)
            assert index.contains(lon, lat) == _in_ring(lon, lat, ring)
        for lon, lat in ring[::7]:  # on the boundary itself
            assert index.contains(lon, lat) == _in_ring(lon, lat, ring)


def test_a_hole_is_outside() -> None:
    square = [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]
    hole = [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]
    area = Area.from_geojson({"type": "Polygon", "coordinates": [square, hole]})
    assert area.contains(GeoPoint(lat=0.5, lon=0.5))
    assert not area.contains(GeoPoint(lat=2, lon=2))
    assert not area.contains(GeoPoint(lat=5, lon=2))


def test_a_comb_of_long_edges_keeps_few_copies_and_the_same_answers() -> None:
    """Teeth spanning the whole height would put each long edge in every band: the bands get
    taller instead, and the answers stay the plain walk's."""
    teeth = 200
    ring = [(0.0, 0.0)]
    for k in range(teeth):
        ring += [(k + 0.0, 10.0), (k + 0.5, 10.0), (k + 0.5, 0.001 * (k % 7)), (k + 1.0, 0.001 * (k % 7))]
    ring += [(teeth + 0.0, -1.0), (0.0, -1.0), (0.0, 0.0)]
    index = RingIndex(ring)
    assert 1 < len(index._bands) < len(ring) // RingIndex.PER_BAND  # taller bands than usual
    assert sum(len(b) for b in index._bands) <= RingIndex.MAX_COPIES * len(ring) + len(index._bands)
    rng = random.Random(2)
    for _ in range(2000):
        lon, lat = rng.uniform(-1, teeth + 1), rng.uniform(-2, 11)
        assert index.contains(lon, lat) == _in_ring(lon, lat, ring)
