"""Call surfaces from OpenStreetMap: on roads, inside the area, denser where people and traffic are."""

from __future__ import annotations

import numpy as np
import pytest

from jingwu.geo.roads import ROAD_CLASSES


def test_every_surface_samples_inside_the_area(surfaces, org) -> None:
    rng = np.random.default_rng(3)
    for name in ("people", "traffic", "remote"):
        points = [surfaces.sample(rng, name) for _ in range(300)]
        assert all(org.resolve_station(p) is not None for p in points)


def test_people_surface_favours_towns(surfaces, org) -> None:
    rng = np.random.default_rng(4)
    central = {"AD-07-S1", "AD-08-S1"}  # Andorra la Vella and Escaldes: half the population
    people = [org.resolve_station(surfaces.sample(rng, "people")) for _ in range(2000)]
    remote = [org.resolve_station(surfaces.sample(rng, "remote")) for _ in range(2000)]
    share = sum(s in central for s in people) / len(people)
    assert share > 0.3
    assert share > 2 * sum(s in central for s in remote) / len(remote)


def test_traffic_surface_favours_main_roads(surfaces) -> None:
    main = np.isin(surfaces.pieces.road_class, [ROAD_CLASSES.index(c) for c in ("trunk", "primary", "secondary")])
    length_share = surfaces.pieces.metres[main & surfaces.eligible].sum() / surfaces.pieces.metres[
        surfaces.eligible].sum()
    assert length_share > 0.5  # mountain valleys: most road length is main road
    assert surfaces.share("traffic", main) > 1.2 * length_share
    assert surfaces.share("traffic", main) > surfaces.share("people", main)


def test_pieces_count_a_two_way_street_once(surfaces, network) -> None:
    twin = network.reverse_edges()
    two_way = int((twin >= 0).sum())
    assert len(surfaces.pieces.metres) == network.n_edges - two_way // 2
    assert surfaces.share("people", np.ones(len(surfaces.pieces.metres), dtype=bool)) == pytest.approx(1.0)
