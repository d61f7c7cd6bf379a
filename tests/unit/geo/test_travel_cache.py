"""Kept search trees and snapped places: answers identical to fresh searches, bounded memory, traffic."""

import gc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import numpy as np
import pytest

from jingwu.domain.geography import GeoPoint
from jingwu.domain.travel import TravelEstimate, UnitOrigin
from jingwu.geo.traffic import TrafficTable
from jingwu.geo.travel import RoadTravelTimes

NIGHT = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)  # 03:00 in Andorra: night factors
RUSH = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)  # 08:00 in Andorra: rush-hour factors
TRAFFIC = TrafficTable.default("Europe/Andorra")


def _near_roads(net, rng, count: int, jitter_m: float = 20.0) -> list[GeoPoint]:
    nodes = rng.choice(net.n_nodes, count, replace=False)
    dlat, dlon = rng.normal(0, jitter_m / 111_320, count), rng.normal(0, jitter_m / 82_000, count)
    return [GeoPoint(float(net.lat[v] + a), float(net.lon[v] + b)) for v, a, b in zip(nodes, dlat, dlon, strict=True)]


def _fresh(net) -> RoadTravelTimes:
    """Keeps nothing: every question is a new search."""
    return RoadTravelTimes(net, traffic=TRAFFIC, search_cache_bytes=0, answers_kept=0, seeded_searches=False)


def _same(got: list[TravelEstimate], expected: list[TravelEstimate]) -> None:
    """The same answer; times and metres within 1e-12 relative, since a search composed of kept
    seed searches (``jingwu.geo.seeded``) adds each seed's offset after the sum, not before."""
    assert [e.unit_id for e in got] == [e.unit_id for e in expected]
    for a, b in zip(got, expected, strict=True):
        assert (a.straight_distance_m, a.method, a.note) == (b.straight_distance_m, b.method, b.note)
        assert a.eta_s == pytest.approx(b.eta_s, rel=1e-12)
        assert a.road_distance_m == pytest.approx(b.road_distance_m, rel=1e-12)
        assert a.route == b.route


def test_kept_searches_answer_as_fresh_ones_do(andorra):
    """Random questions about a few places, asked again with other units, wants and bounds."""
    kept, fresh = RoadTravelTimes(andorra, traffic=TRAFFIC), _fresh(andorra)
    rng = np.random.default_rng(2026)
    places = _near_roads(andorra, rng, 12)
    units = [UnitOrigin(f"u{i:03d}", p) for i, p in enumerate(_near_roads(andorra, rng, 120))]
    for _ in range(150):
        place = places[int(rng.integers(len(places)))]
        pool = [units[i] for i in sorted(rng.choice(len(units), int(rng.integers(1, 120)), replace=False))]
        want = int(rng.integers(1, 15))
        max_seconds = float(rng.choice([300.0, 900.0, 3600.0, 86400.0]))
        at = NIGHT if rng.random() < 0.7 else RUSH
        args = {"want": want, "max_seconds": max_seconds, "at": at}
        _same(kept.estimate(place, pool, **args), fresh.estimate(place, pool, **args))
    assert kept.trees.hits > 50 and kept.trees.misses >= len(places)
    assert fresh.trees.hits == 0 and len(fresh.trees) == 0


def test_a_route_asked_after_the_recommendation_reuses_the_search(andorra):
    travel = RoadTravelTimes(andorra, traffic=TRAFFIC)
    rng = np.random.default_rng(4)
    (incident,) = _near_roads(andorra, rng, 1)
    units = [UnitOrigin(f"u{i}", p) for i, p in enumerate(_near_roads(andorra, rng, 60))]
    best = travel.estimate(incident, units, want=10, max_seconds=3600, at=NIGHT)
    searches = travel.trees.misses
    again = travel.estimate(incident, units, want=10, max_seconds=3600, at=NIGHT)
    assert again == best and [e.route for e in again] == [e.route for e in best]
    assert travel.answer_hits == 0  # answers with routes are drawn again from the kept tree
    chosen = next(u for u in units if u.unit_id == best[0].unit_id)
    route = travel.route(chosen.point, incident, NIGHT)
    assert travel.trees.misses == searches and travel.trees.hits == 2
    assert route == _fresh(andorra).route(chosen.point, incident, NIGHT)


def test_memory_stays_within_the_budget(andorra):
    budget = 2 * 2**20  # about eight Andorra trees with their routes
    travel = RoadTravelTimes(andorra, traffic=TRAFFIC, search_cache_bytes=budget, answers_kept=0,  # the trees alone
                             seeded_searches=False)  # each tree holds its routes' walks (seeds: the next test)
    fresh = _fresh(andorra)
    rng = np.random.default_rng(8)
    units = [UnitOrigin(f"u{i}", p) for i, p in enumerate(_near_roads(andorra, rng, 80))]
    places = _near_roads(andorra, rng, 40)
    for place in places:
        got = travel.estimate(place, units, want=10, max_seconds=3600, at=NIGHT)
        _same(got, fresh.estimate(place, units, want=10, max_seconds=3600, at=NIGHT))
        assert travel.trees.nbytes <= budget
    assert 1 <= len(travel.trees) < len(places)
    # the oldest places were dropped: asking about the first one searches again, the last one does not
    misses = travel.trees.misses
    travel.estimate(places[-1], units, want=10, max_seconds=3600, at=NIGHT)
    assert travel.trees.misses == misses
    _same(travel.estimate(places[0], units, want=10, max_seconds=3600, at=NIGHT),
          fresh.estimate(places[0], units, want=10, max_seconds=3600, at=NIGHT))
    assert travel.trees.misses == misses + 1


def test_seed_searches_serve_other_places_and_stay_within_their_budget(andorra):
    """Places on chains that share a seed junction reuse its kept search (and the walks of its
    routes); the seeds' searches stay within their own budget, and answers stay a fresh search's."""
    budget = 2**19  # a few dozen seeds' searches with their routes
    travel = RoadTravelTimes(andorra, traffic=TRAFFIC, answers_kept=0, seed_cache_bytes=budget)
    fresh = _fresh(andorra)
    rng = np.random.default_rng(11)
    units = [UnitOrigin(f"u{i}", p) for i, p in enumerate(_near_roads(andorra, rng, 80))]
    centre = _near_roads(andorra, rng, 1)[0]
    near = [GeoPoint(centre.lat + float(a), centre.lon + float(b))  # a busy corner: many points, few chains
            for a, b in rng.normal(0, 0.0006, (30, 2))]
    far = _near_roads(andorra, rng, 30)
    for place in near + far:
        got = travel.estimate(place, units, want=10, max_seconds=3600, at=NIGHT)
        _same(got, fresh.estimate(place, units, want=10, max_seconds=3600, at=NIGHT))
        assert travel.seed_trees.nbytes <= budget
    assert travel.trees.misses == len(near) + len(far)  # every place is a new point
    assert travel.seed_trees.hits > len(near)  # most points near the corner found their seeds kept
    assert 1 <= len(travel.seed_trees) < travel.seed_trees.misses  # and the far ones pushed old seeds out


def test_another_traffic_hour_is_another_search(andorra):
    travel, fresh = RoadTravelTimes(andorra, traffic=TRAFFIC, answers_kept=0), _fresh(andorra)
    incident = GeoPoint(42.5075, 1.5235)
    unit = [UnitOrigin("encamp", GeoPoint(42.5350, 1.5800))]
    night = travel.estimate(incident, unit, want=1, max_seconds=86400, at=NIGHT)
    rush = travel.estimate(incident, unit, want=1, max_seconds=86400, at=RUSH)
    assert travel.trees.misses == 2 and travel.trees.hits == 0
    assert rush[0].eta_s > night[0].eta_s
    _same(rush, fresh.estimate(incident, unit, want=1, max_seconds=86400, at=RUSH))
    # 04:00 has the same factors as 03:00: the same weights, so the night search answers
    later = travel.estimate(incident, unit, want=1, max_seconds=86400, at=NIGHT.replace(hour=3))
    assert travel.trees.hits == 1 and later == night


def test_other_weights_never_read_a_kept_tree(andorra):
    """The key holds the weights' id; the kept array is compared by identity, so a copy misses."""
    travel = RoadTravelTimes(andorra, traffic=TRAFFIC)
    travel.estimate(GeoPoint(42.5075, 1.5235), [UnitOrigin("u", GeoPoint(42.50145, 1.51133))], want=1,
                    max_seconds=3600, at=NIGHT)
    ((key, (kept, *_)),) = travel.trees._kept.items()
    assert travel.trees.get(key, kept.weights) is kept
    assert travel.trees.get(key, kept.weights.copy()) is None


def test_a_zero_budget_keeps_nothing(andorra):
    travel = _fresh(andorra)
    unit = [UnitOrigin("u", GeoPoint(42.50145, 1.51133))]
    for _ in range(3):
        travel.estimate(GeoPoint(42.5075, 1.5235), unit, want=1, max_seconds=3600, at=NIGHT)
    assert len(travel.trees) == 0 and travel.trees.nbytes == 0 and travel.trees.hits == 0


def test_a_place_asked_again_is_not_snapped_again(andorra, monkeypatch):
    travel = RoadTravelTimes(andorra, traffic=TRAFFIC, incident_snap_cache_size=2)
    calls = []
    real = travel.snapper.snap
    monkeypatch.setattr(travel.snapper, "snap", lambda p: calls.append(p) or real(p))
    unit = [UnitOrigin("u", GeoPoint(42.50145, 1.51133))]
    a, b, c = GeoPoint(42.5075, 1.5235), GeoPoint(42.5063, 1.5218), GeoPoint(42.5360, 1.5837)
    for place in (a, a, b, a, c, a, b):
        travel.estimate(place, unit, want=1, max_seconds=3600, at=NIGHT)
    assert calls == [a, b, c, b]  # two places remembered, least recently asked forgotten first


@pytest.mark.parametrize("workers", [4])
def test_threads_asking_about_the_same_places_get_fresh_answers(andorra, workers):
    travel, fresh = RoadTravelTimes(andorra, traffic=TRAFFIC), _fresh(andorra)
    rng = np.random.default_rng(17)
    places = _near_roads(andorra, rng, 6)
    units = [UnitOrigin(f"u{i}", p) for i, p in enumerate(_near_roads(andorra, rng, 100))]
    questions = [(places[i % len(places)], 1 + i % 12) for i in range(120)]
    expected = [fresh.estimate(p, units, want=w, max_seconds=3600, at=NIGHT) for p, w in questions]
    with ThreadPoolExecutor(workers) as pool:
        got = list(pool.map(lambda q: travel.estimate(q[0], units, want=q[1], max_seconds=3600, at=NIGHT), questions))
    for g, e in zip(got, expected, strict=True):
        _same(g, e)


def test_fewer_units_than_wanted_stops_once_all_are_reached(andorra):
    """With every unit within the bound a farther search could change nothing, so none is made."""
    travel = RoadTravelTimes(andorra, traffic=TRAFFIC)
    searched = []
    real = travel.search.run
    travel.search.run = lambda *a: searched.append(a[2]) or real(*a)
    incident = GeoPoint(42.5075, 1.5235)
    near = [UnitOrigin("a", GeoPoint(42.50145, 1.51133)), UnitOrigin("b", GeoPoint(42.5063, 1.5218))]
    got = travel.estimate(incident, near, want=10, max_seconds=86400, at=NIGHT)
    assert [e.unit_id for e in got] == ["b", "a"] and max(searched) < 3600
    _same(got, _fresh(andorra).estimate(incident, near, want=10, max_seconds=86400, at=NIGHT))


def test_a_place_asked_about_all_shift_outlives_one_off_incidents(andorra):
    """A tree asked about again well after it was kept (a patrol post) is protected from the flood
    of one-off incident trees that pushes an unprotected one out."""
    rng = np.random.default_rng(11)
    units = [UnitOrigin(f"u{i}", p) for i, p in enumerate(_near_roads(andorra, rng, 40))]
    post, *others = _near_roads(andorra, rng, 40)

    def ask(travel: RoadTravelTimes, place: GeoPoint) -> None:
        travel.estimate(place, units, want=5, max_seconds=3600, at=NIGHT)

    sizes = RoadTravelTimes(andorra, traffic=TRAFFIC, answers_kept=0)
    for place in others[:8]:
        ask(sizes, place)
    budget = sizes.trees.nbytes * 12 // 8  # room for about twelve of these searches

    for protect_after, survives in ((3, True), (10_000, False)):
        travel = RoadTravelTimes(andorra, traffic=TRAFFIC, search_cache_bytes=budget, answers_kept=0)
        travel.trees.protect_after = protect_after
        ask(travel, post)
        for place in others[:3]:
            ask(travel, place)
        ask(travel, post)  # asked again later: protected when protect_after allows
        for place in others[3:]:
            ask(travel, place)
            assert travel.trees.nbytes <= budget
        misses = travel.trees.misses
        ask(travel, post)
        assert (travel.trees.misses == misses) is survives
        _same(travel.estimate(post, units, want=5, max_seconds=3600, at=NIGHT),
              _fresh(andorra).estimate(post, units, want=5, max_seconds=3600, at=NIGHT))


def test_times_only_answers_match_the_full_ones(andorra):
    """``routes=False`` (what assign_unit asks) gives the same units, times and distances, no routes;
    a unit standing where an incident was snapped (the place's snap went into the unit table)
    gets the ETA a fresh engine gives."""
    travel, fresh = RoadTravelTimes(andorra, traffic=TRAFFIC), _fresh(andorra)
    rng = np.random.default_rng(5)
    units = [UnitOrigin(f"u{i}", p) for i, p in enumerate(_near_roads(andorra, rng, 60))]
    for place in _near_roads(andorra, rng, 10):
        bare = travel.estimate(place, units, want=4, max_seconds=3600, at=NIGHT, routes=False)
        full = fresh.estimate(place, units, want=4, max_seconds=3600, at=NIGHT)
        assert bare and all(e.route is None for e in bare) and all(e.route for e in full)
        assert [e.unit_id for e in bare] == [e.unit_id for e in full]
        for a, b in zip(bare, full, strict=True):  # a composed search: the same within 1e-12 (``_same``)
            assert (a.eta_s, a.road_distance_m) == pytest.approx((b.eta_s, b.road_distance_m), rel=1e-12)
        there = [*units[:5], UnitOrigin("at-scene", place)]
        _same(travel.estimate(units[-1].point, there, want=6, max_seconds=86400, at=NIGHT),
              fresh.estimate(units[-1].point, there, want=6, max_seconds=86400, at=NIGHT))


def test_a_repeated_question_gets_the_kept_answer_and_any_change_asks_afresh(andorra):
    """The answer memo's key is the whole question: a unit that moved, another want, bound or
    traffic hour is a new question, answered as a fresh search would; a question with routes is
    always drawn (routes are not kept in the memo)."""
    travel, fresh = RoadTravelTimes(andorra, traffic=TRAFFIC), _fresh(andorra)
    rng = np.random.default_rng(11)
    (incident,) = _near_roads(andorra, rng, 1)
    units = [UnitOrigin(f"u{i}", p) for i, p in enumerate(_near_roads(andorra, rng, 30))]
    args = {"want": 4, "max_seconds": 3600.0, "at": NIGHT, "routes": False}
    first = travel.estimate(incident, units, **args)
    assert travel.estimate(incident, units, **args) == first and travel.answer_hits == 1
    moved = [UnitOrigin(first[0].unit_id, incident) if u.unit_id == first[0].unit_id else u for u in units]
    variants = [
        (incident, moved, args),
        (incident, units, {**args, "want": 5}),
        (incident, units, {**args, "max_seconds": 300.0}),
        (incident, units, {**args, "routes": True}),
        (incident, units, {**args, "at": RUSH}),
        (incident, units[1:], args),
    ]
    for place, pool, kw in variants:
        got = travel.estimate(place, pool, **kw)
        _same(got, fresh.estimate(place, pool, **kw))
        assert travel.answer_hits == 1, kw
    assert travel.estimate(incident, moved, **args)[0].unit_id == first[0].unit_id  # now standing there
    assert travel.answer_hits == 2
    # asked with routes first, the same question without them is that answer with the routes left out
    drawn = travel.estimate(incident, units, **{**args, "want": 6, "routes": True})
    plain = travel.estimate(incident, units, **{**args, "want": 6})
    assert travel.answer_hits == 3 and all(e.route is None for e in plain)
    _same(plain, fresh.estimate(incident, units, **{**args, "want": 6}))
    assert [(e.unit_id, e.eta_s, e.road_distance_m) for e in plain] == [
        (e.unit_id, e.eta_s, e.road_distance_m) for e in drawn]


@pytest.mark.parametrize("name", ["mixed", "parallel", "loops"])
def test_seeded_searches_answer_as_one_search_on_hand_made_chains(name):
    """Loops at a junction and without one, one-way stretches and parallel chains
    (tests/unit/geo/test_contracted_search.py's networks): a place part-way along every edge,
    a unit at every node, each place asked twice (the second time its seeds are all kept). The
    search composed of kept seed searches gives one search's units, routes, and times within
    1e-12. Metres are not compared here: a unit standing on a node whose two ways out are equally
    fast may leave by the other one when the last bits differ, and these networks' metres are not
    their drawn lengths (on Andorra's they are, and the tests above compare them)."""
    from jingwu.geo.reverse_search import ReverseSearch
    from tests.unit.geo.test_contracted_search import SMALL

    net = SMALL[name]
    seeded = RoadTravelTimes(net, search_cache_bytes=0, answers_kept=0)
    plain = RoadTravelTimes(net, search_cache_bytes=0, answers_kept=0, seeded_searches=False)
    for travel in (seeded, plain):
        travel.search = ReverseSearch(net, contract_share=1.0)  # contracted although junctions are most nodes
    units = [UnitOrigin(f"n{v:02d}", GeoPoint(float(net.lat[v]), float(net.lon[v]))) for v in range(net.n_nodes)]
    for e in range(net.n_edges):
        u, v = int(net.tail[e]), int(net.head[e])
        for f in (0.3, 0.7):
            place = GeoPoint(float(net.lat[u] + f * (net.lat[v] - net.lat[u])),
                             float(net.lon[u] + f * (net.lon[v] - net.lon[u])))
            expected = plain.estimate(place, units, want=len(units), max_seconds=86400, at=NIGHT)
            for _ in range(2):
                got = seeded.estimate(place, units, want=len(units), max_seconds=86400, at=NIGHT)
                assert [g.unit_id for g in got] == [x.unit_id for x in expected]
                for a, b in zip(got, expected, strict=True):
                    assert a.eta_s == pytest.approx(b.eta_s, rel=1e-12)
                    assert a.route == b.route
    assert seeded.seed_trees.hits > net.n_edges


def test_what_the_caches_keep_is_little_for_the_garbage_collector_to_walk(andorra):
    """Every object a cache keeps that the collector tracks is walked by its collections for as
    long as it is kept, and with a full cache they come all at once: the young generation is
    collected when more objects were made than freed, and a cache that evicts as it keeps frees
    about as many as it makes (docs/benchmarks.md, "The collector walked the caches"). A kept
    search with its walked and drawn routes, and a snapped place, keep their numbers in arrays,
    dicts of numbers and tuples of numbers, which the collector stops tracking at its first pass.
    Here (ten routes a search, forty units) a search leaves ~120 objects for that pass and ~14
    after it; with lists, sets, memoryviews and tuples of pairs it left ~160 and ~21."""
    travel = RoadTravelTimes(andorra, traffic=TRAFFIC, answers_kept=0)
    rng = np.random.default_rng(7)
    units = [UnitOrigin(f"u{i:03d}", p) for i, p in enumerate(_near_roads(andorra, rng, 40))]
    places = _near_roads(andorra, rng, 61)
    travel.estimate(places.pop(), units, want=10, max_seconds=3600.0, at=NIGHT)  # shared tables made once
    gc.collect()
    before = len(gc.get_objects())
    gc.disable()
    try:
        for place in places:
            assert len(travel.estimate(place, units, want=10, max_seconds=3600.0, at=NIGHT)) == 10
        made = len(gc.get_objects()) - before  # tracked, not yet collected (acyclic garbage is freed)
    finally:
        gc.enable()
    gc.collect()
    gc.collect()  # a tuple of tuples is untracked at the pass after its tuples'
    kept = len(gc.get_objects()) - before
    searches = len(travel.trees) + len(travel.seed_trees)
    assert searches >= len(places)
    assert made / searches <= 135, (made, searches)
    assert kept / searches <= 16, (kept, searches)


def test_an_answer_kept_without_its_route_keeps_every_other_field():
    """``_without_route`` builds the copy field by field: a field added to ``TravelEstimate`` must be
    added there too, or this fails."""
    from dataclasses import astuple, fields, replace

    from jingwu.domain.travel import TravelEstimate
    from jingwu.geo.travel import _without_route

    values = {f.name: f"value of {f.name}" for f in fields(TravelEstimate)}
    e = TravelEstimate(**values)  # type: ignore[arg-type]
    assert astuple(_without_route(e)) == astuple(replace(e, route=None))
    assert _without_route(e).route is None and e.route == "value of route"
