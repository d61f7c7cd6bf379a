"""Forward and reverse geocoding on Andorra (Catalan, accents) and Futian, Shenzhen (Chinese)."""

import numpy as np
import pytest

from jingwu.domain.geography import GeoPoint, haversine_m
from jingwu.geo.geocoder import Geocoder, fold
from jingwu.geo.snapping import RoadSnapper, SnappedPoint


@pytest.fixture(scope="module")
def andorra_places(andorra) -> Geocoder:
    return Geocoder(andorra)


@pytest.fixture(scope="module")
def futian(shenzhen) -> Geocoder:
    return Geocoder(shenzhen)


def test_fold_is_script_accent_and_case_blind():
    assert fold("紅荔西路") == fold("红荔西路") == "红荔西路"
    assert fold("Plaça  MAJOR") == fold("placa major")
    assert fold("Av. Meritxell") == "avinguda meritxell"


def test_address_in_andorra_la_vella_resolves_to_the_street(andorra_places):
    top = andorra_places.forward("Avinguda Meritxell 25, Andorra la Vella")[0]
    assert (top.kind, top.label) == ("street", "Avinguda Meritxell")
    assert top.score >= 0.95
    assert haversine_m(top.point, GeoPoint(42.5077, 1.5270)) < 1500  # in the capital, not in Meritxell village
    # the point is on the street itself: reverse geocoding it gives the street back
    assert andorra_places.reverse(top.point).street == "Avinguda Meritxell"


@pytest.mark.parametrize("typed", ["av meritxell", "AVINGUDA MERITXELL", "Avinguda Merixtell"])
def test_abbreviations_case_and_typos(andorra_places, typed):
    assert andorra_places.forward(typed)[0].label == "Avinguda Meritxell"


def test_accents_do_not_matter(andorra_places):
    assert andorra_places.forward("Placa del Poble")[0].label == "Plaça del Poble"
    assert andorra_places.forward("carrer de la constitucio")[0].label == "Carrer de la Constituciò"


def test_ambiguous_street_gives_several_labelled_candidates(andorra_places):
    found = [c for c in andorra_places.forward("Carrer Major", limit=5) if c.score == 1.0]
    assert len(found) >= 2
    assert len({c.label for c in found}) == len(found)  # told apart by the nearest village
    assert all(c.label.startswith("Carrer Major, ") for c in found)
    assert min(haversine_m(a.point, b.point) for a in found for b in found if a is not b) > 250


def test_locality_after_comma_prefers_that_village(andorra_places):
    for place in ("Sispony", "La Massana"):
        assert andorra_places.forward(f"Carrer Major, {place}")[0].label == f"Carrer Major, {place}"


def test_intersection_in_andorra(andorra_places, andorra):
    top = andorra_places.forward("Avinguda Meritxell & Avinguda Carlemany")[0]
    assert top.kind == "intersection" and top.score >= 0.95
    # an independent check: a node touched by edges of both streets is within a few metres
    names = {n: i for i, n in enumerate(andorra.names)}
    touches = [
        set(np.concatenate([andorra.tail, andorra.head])[np.tile(andorra.name_id, 2) == names[n]].tolist())
        for n in ("Avinguda Meritxell", "Avinguda Carlemany")
    ]
    shared = touches[0] & touches[1]
    assert shared
    near = min(haversine_m(top.point, GeoPoint(float(andorra.lat[v]), float(andorra.lon[v]))) for v in shared)
    assert near < 1.0


def test_places_and_pois(andorra_places):
    assert andorra_places.forward("encamp")[0].kind == "place"
    hotel = andorra_places.forward("hotel nordic")[0]
    assert hotel.kind == "poi" and "Hotel Nordic" in hotel.label


def test_nonsense_finds_nothing_confident(andorra_places):
    assert all(c.score < 0.8 for c in andorra_places.forward("qwxz zzzz"))
    assert andorra_places.forward("   ") == []


def test_reverse_names_the_nearest_street(andorra_places, andorra):
    meritxell = andorra.names.index("Avinguda Meritxell")
    samples = np.flatnonzero(andorra.name_id == meritxell)[::7]
    named = 0
    for e in samples:
        t, h = andorra.tail[e], andorra.head[e]
        # 8 m north of the middle of a Meritxell segment
        here = GeoPoint(
            float(andorra.lat[t] + andorra.lat[h]) / 2 + 8 / 111_320, float(andorra.lon[t] + andorra.lon[h]) / 2
        )
        found = andorra_places.reverse(here)
        assert found.distance_m is not None and found.distance_m <= 8.5
        named += found.street == "Avinguda Meritxell"
    assert named >= 0.8 * len(samples)  # the rest are at junctions, where a side street is as near
    nowhere = andorra_places.reverse(GeoPoint(42.5200, 1.4700))
    assert nowhere.street is None


def test_reverse_from_the_travel_snap_names_the_same_street(andorra_places, andorra):
    """Reading the whole network's snap first (as the intake does, through the travel times)
    gives the answer of the named streets' own snap, point for point: inside segments, at their
    ends, off named roads and beyond reach."""
    whole = RoadSnapper(andorra, max_distance_m=300.0)
    asked: list[GeoPoint] = []

    def nearest_road(point: GeoPoint) -> SnappedPoint:
        asked.append(point)
        return whole.snap(point)

    shared = Geocoder(andorra, nearest_road=nearest_road)
    named_snaps = 0
    own = shared.reverse_snapper.snap

    def counted(point: GeoPoint) -> SnappedPoint:
        nonlocal named_snaps
        named_snaps += 1
        return own(point)

    shared.reverse_snapper.snap = counted  # type: ignore[method-assign]
    rng = np.random.default_rng(7)
    nodes = rng.choice(andorra.n_nodes, 1500, replace=False)
    spread = rng.uniform(-1, 1, (len(nodes), 2)) * np.where(rng.random((len(nodes), 1)) < 0.2, 0.003, 0.0003)
    points = [GeoPoint(float(andorra.lat[v] + dy), float(andorra.lon[v] + dx))
              for v, (dy, dx) in zip(nodes, spread, strict=True)]
    points += [GeoPoint(float(andorra.lat[v]), float(andorra.lon[v])) for v in nodes[:300]]  # on nodes: ends
    for p in points:
        assert shared.reverse(p) == andorra_places.reverse(p), p
    assert len(asked) == len(points)
    # a third answered from the shared snap (many of these points are off named roads), and the
    # points at a segment's end or nearest an unnamed road searched the named streets
    assert 0.8 * len(points) > named_snaps > 0.05 * len(points)
    assert len(points) - named_snaps > 0.25 * len(points)


@pytest.mark.parametrize("typed", ["红荔西路", "紅荔西路", "红荔西路 "])
def test_chinese_street_in_either_script(futian, typed):
    top = futian.forward(typed)[0]
    assert top.kind == "street" and top.label.startswith("红荔西路") and top.score == 1.0


@pytest.mark.parametrize(
    "typed", ["红荔西路与香蜜湖路交叉口", "紅荔西路與香蜜湖路交界", "红荔西路/香蜜湖路", "红荔西路和香蜜湖路"]
)
def test_chinese_intersections_resolve_to_the_junction(futian, shenzhen, typed):
    top = futian.forward(typed)[0]
    assert top.kind == "intersection"
    assert "红荔西路" in top.label and "香蜜湖路" in top.label
    # independently: nodes where an edge named 红荔西路 meets one named 香蜜湖路 (main road or its side road)
    hongli = {i for i, n in enumerate(shenzhen.names) if n == "红荔西路"}
    xiangmi = {i for i, n in enumerate(shenzhen.names) if n.startswith("香蜜湖路")}
    ends = np.concatenate([shenzhen.tail, shenzhen.head])
    ids = np.tile(shenzhen.name_id, 2)
    junctions = set(ends[np.isin(ids, list(hongli))].tolist()) & set(ends[np.isin(ids, list(xiangmi))].tolist())
    assert junctions
    nearest = min(haversine_m(top.point, GeoPoint(float(shenzhen.lat[v]), float(shenzhen.lon[v]))) for v in junctions)
    assert nearest < 50
