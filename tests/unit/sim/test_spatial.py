"""Call surfaces from OpenStreetMap: on roads, inside the area, denser where people and traffic are."""

from __future__ import annotations

import numpy as np
import pytest

from jingwu.geo.roads import ROAD_CLASSES, shipped_andorra


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


def test_cached_surface_weights_read_back_bit_for_bit_and_miss_on_new_settings(network, tmp_path,
                                                                                 monkeypatch) -> None:
    from jingwu.sim import spatial

    osm = shipped_andorra()
    settings = spatial.load_spatial_settings()
    _, built = spatial.surface_weights_for(network, osm, settings, tmp_path)
    (cached,) = tmp_path.glob("surfaces-*.npz")

    read = []
    monkeypatch.setattr(spatial, "read_osm_context", lambda *a: read.append(a) or pytest.fail("cache missed"))
    _, again = spatial.surface_weights_for(network, osm, settings, tmp_path)
    assert sorted(again) == sorted(built)
    for name, w in built.items():
        assert again[name].tobytes() == w.tobytes()
    monkeypatch.undo()

    # An edited settings file is another key: the surfaces are built again, beside the first.
    changed = {**settings, "poi_radius_m": float(settings.get("poi_radius_m", 250)) + 50}
    _, other = spatial.surface_weights_for(network, osm, changed, tmp_path)
    assert len(list(tmp_path.glob("surfaces-*.npz"))) == 2
    assert other["people"].tobytes() != built["people"].tobytes()

    # A torn file is rebuilt, never trusted.
    cached.write_bytes(cached.read_bytes()[:100])
    _, rebuilt = spatial.surface_weights_for(network, osm, settings, tmp_path)
    assert rebuilt["people"].tobytes() == built["people"].tobytes()
    assert spatial._read_weights(cached, len(built["people"])) is not None


def test_the_extracts_hash_is_the_networks_own_when_it_came_from_that_file(network, tmp_path) -> None:
    """The surfaces' key reuses the hash ``load_road_network`` took of the same extract, and hashes
    any other file itself."""
    from jingwu.geo.roads import file_sha256
    from jingwu.sim.spatial import _extract_sha256

    osm = shipped_andorra()
    assert network.report.sha256 and _extract_sha256(network, osm) == file_sha256(osm)
    other = tmp_path / "other.osm.pbf"
    other.write_bytes(osm.read_bytes() + b"\0")
    assert _extract_sha256(network, other) == file_sha256(other) != file_sha256(osm)
