"""One-unit questions: the scalar path (``RoadTravelTimes._estimate_one``) answers bit for bit as the
array path does, and leaves the estimator in the same state (learnt speed, kept searches, snap table),
so that whatever is asked next gets the same answer too."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from jingwu.domain.geography import GeoPoint
from jingwu.domain.travel import UnitOrigin
from jingwu.geo.roads import RoadNetwork
from jingwu.geo.snapping import RoadSnapper
from jingwu.geo.traffic import TrafficTable
from jingwu.geo.travel import RoadTravelTimes

NIGHT = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)  # 03:00 in Andorra: night factors
RUSH = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)  # 08:00 in Andorra: rush-hour factors
TRAFFIC = TrafficTable.default("Europe/Andorra")
BOUNDS = (20.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 86400.0)


def _pair(net: RoadNetwork, **config: int) -> tuple[RoadTravelTimes, RoadTravelTimes]:
    """(scalar path, array path), configured alike."""
    fast = RoadTravelTimes(net, traffic=TRAFFIC, **config)
    array = RoadTravelTimes(net, traffic=TRAFFIC, **config)
    array.one_unit_path = False
    return fast, array


def _kept_state(travel: RoadTravelTimes) -> tuple[object, ...]:
    trees = travel.trees
    kept = [(key[:3], entry[0].limit, entry[1], entry[2], segment)
            for segment, part in (("kept", trees._kept), ("protected", trees._protected))
            for key, entry in part.items()]
    rows = dict(travel._snap_rows)
    table = travel._snap_table
    columns = [] if table is None else [c[: len(rows)].tolist() for c in table]
    return (travel._s_per_m, kept, trees.nbytes, trees.protected_bytes, trees.hits, trees.misses, rows, columns,
            travel.answer_hits)


class _Places:
    """Random places and unit positions on Andorra of every kind the one-unit path must handle."""

    def __init__(self, net: RoadNetwork, seed: int) -> None:
        self.net = net
        self.rng = np.random.default_rng(seed)
        self.snapper = RoadSnapper(net)
        lat0, lat1 = float(net.lat.min()), float(net.lat.max())
        lon0, lon1 = float(net.lon.min()), float(net.lon.max())
        self.box = (lat0, lat1, lon0, lon1)
        self.far = [p for p in (self._in_box() for _ in range(3000)) if not self.snapper.snap(p).on_network][:40]
        assert len(self.far) >= 10

    def _in_box(self) -> GeoPoint:
        lat0, lat1, lon0, lon1 = self.box
        return GeoPoint(float(self.rng.uniform(lat0, lat1)), float(self.rng.uniform(lon0, lon1)))

    def near_road(self, jitter_m: float = 30.0) -> GeoPoint:
        v = int(self.rng.integers(self.net.n_nodes))
        return GeoPoint(float(self.net.lat[v] + self.rng.normal(0, jitter_m / 111_320)),
                        float(self.net.lon[v] + self.rng.normal(0, jitter_m / 82_000)))

    def on_node(self) -> GeoPoint:
        v = int(self.rng.integers(self.net.n_nodes))
        return GeoPoint(float(self.net.lat[v]), float(self.net.lon[v]))

    def place(self) -> GeoPoint:
        r = self.rng.random()
        if r < 0.1:
            return self.far[int(self.rng.integers(len(self.far)))]
        if r < 0.2:
            return self.on_node()
        return self.near_road(float(self.rng.choice([5.0, 30.0, 150.0])))

    def on_street_of(self, place: GeoPoint) -> GeoPoint:
        """A point along the place's own street (either direction, ahead of or behind it), on the
        road or a few metres to either side."""
        s = self.snapper.snap(place)
        if s.edge < 0:
            return self.near_road()
        net = self.net
        e = int(self.rng.choice([s.edge, s.twin])) if s.twin >= 0 else s.edge
        tail, head = int(net.tail[e]), int(net.head[e])
        r = self.rng.random()
        t = float(self.rng.uniform(0, 1)) if r < 0.7 else (0.0 if r < 0.8 else (1.0 if r < 0.9 else s.fraction))
        lat = float(net.lat[tail]) + t * (float(net.lat[head]) - float(net.lat[tail]))
        lon = float(net.lon[tail]) + t * (float(net.lon[head]) - float(net.lon[tail]))
        if self.rng.random() < 0.4:  # beside the road, left or right
            lat += float(self.rng.normal(0, 8 / 111_320))
            lon += float(self.rng.normal(0, 8 / 82_000))
        return GeoPoint(lat, lon)

    def unit(self, place: GeoPoint, known: list[GeoPoint]) -> GeoPoint:
        r = self.rng.random()
        if r < 0.25 and known:  # a unit that has not moved: its snap is a row of the table
            return known[int(self.rng.integers(len(known)))]
        if r < 0.45:
            return self.on_street_of(place)
        if r < 0.55:
            return self.on_node()
        if r < 0.65:
            return self.far[int(self.rng.integers(len(self.far)))]
        if r < 0.68:
            return place
        return self.near_road(float(self.rng.choice([10.0, 60.0, 400.0])))


def _ask_alike(net: RoadNetwork, seed: int, questions: int, **config: int) -> tuple[int, int, int]:
    fast, array = _pair(net, **config)
    gen = _Places(net, seed)
    rng = gen.rng
    places: list[GeoPoint] = []
    units: list[GeoPoint] = []
    asked: list[tuple[GeoPoint, list[UnitOrigin], dict]] = []
    answered = empty = fallback = 0
    for q in range(questions):
        if asked and rng.random() < 0.1:  # the very same question again, or without routes
            place, origins, args = asked[int(rng.integers(len(asked)))]
            args = {**args, "routes": bool(rng.random() < 0.5)}
        else:
            if places and rng.random() < 0.6:  # a place asked about before: its search is kept
                place = places[int(rng.integers(len(places)))]
            else:
                place = gen.place()
                places.append(place)
            unit = gen.unit(place, units)
            units.append(unit)
            origins = [UnitOrigin(f"u{int(rng.integers(50))}", unit)]
            want = 1 if rng.random() < 0.85 else int(rng.integers(2, 4))
            args = {"want": want, "max_seconds": float(rng.choice(BOUNDS)), "at": NIGHT if rng.random() < 0.6 else RUSH,
                    "routes": bool(rng.random() < 0.6)}
            asked.append((place, origins, args))
        got = fast.estimate(place, origins, **args)
        expected = array.estimate(place, origins, **args)
        assert got == expected, (q, place, origins, args)
        assert _kept_state(fast) == _kept_state(array), (q, place, origins, args)
        answered += bool(got)
        empty += not got
        fallback += bool(got) and got[0].method == "straight_line"
    return answered, empty, fallback


def test_one_unit_answers_and_state_match_the_array_path(andorra):
    answered, empty, fallback = _ask_alike(andorra, 2026, 2500)
    assert answered > 1000 and empty > 100 and fallback > 50


def test_with_small_caches_too(andorra):
    """The snap table reset, kept searches evicted and protected, few answers remembered."""
    config = {"snap_cache_size": 150, "search_cache_bytes": 3 * 2**20, "answers_kept": 8,
              "incident_snap_cache_size": 50}
    answered, empty, _ = _ask_alike(andorra, 7, 1500, **config)
    assert answered > 500 and empty > 50


def test_nothing_kept(andorra):
    _ask_alike(andorra, 11, 400, search_cache_bytes=0, answers_kept=0)


def test_units_on_the_incidents_own_street_are_covered(andorra):
    """The direct drive (no node on the way) and the unit standing on a node are both exercised."""
    fast, array = _pair(andorra)
    gen = _Places(andorra, 5)
    direct = on_node = 0
    for i in range(400):
        place = gen.near_road(5.0)
        unit = gen.on_street_of(place) if i % 2 else gen.on_node()
        args = {"want": 1, "max_seconds": 3600.0, "at": NIGHT, "routes": True}
        got = fast.estimate(place, [UnitOrigin("u", unit)], **args)
        assert got == array.estimate(place, [UnitOrigin("u", unit)], **args)
        assert _kept_state(fast) == _kept_state(array)
        if got and got[0].method == "road":
            coords = got[0].route["coordinates"]
            direct += i % 2 == 1 and len(coords) <= 4  # no road node between the two snapped points
            on_node += i % 2 == 0
    assert direct > 20 and on_node > 100


def test_one_unit_questions_take_the_scalar_path(andorra, monkeypatch):
    fast, _ = _pair(andorra)

    def array_path(*args, **kwargs):
        raise AssertionError("a one-unit question went down the array path")

    monkeypatch.setattr(fast, "_estimate_on_roads", array_path)
    gen = _Places(andorra, 3)
    place = gen.near_road(5.0)
    (est,) = fast.estimate(place, [UnitOrigin("u", gen.near_road(5.0))], want=1, max_seconds=86400.0, at=NIGHT)
    assert est.method == "road"
    with pytest.raises(AssertionError):
        fast.estimate(place, [UnitOrigin("u", gen.near_road()), UnitOrigin("v", gen.near_road())], want=1,
                      max_seconds=86400.0, at=NIGHT)
