import numpy as np

from jingwu.analytics.hotspots import benjamini_hochberg, density_surface, hex_counts, hex_hotspots
from jingwu.analytics.maps import hotspot_features


def test_benjamini_hochberg_matches_the_textbook_example():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2])
    # sorted: 0.005<=0.01, 0.01<=0.02, 0.03<=0.03, 0.04>0.04? no (0.04 <= 0.04 yes), 0.2 > 0.05
    assert benjamini_hochberg(p, 0.05).tolist() == [True, True, True, True, False]
    assert benjamini_hochberg(np.array([0.3, 0.6]), 0.05).tolist() == [False, False]


def test_hex_counts_keep_every_incident(district11):
    cells, counts = hex_counts(district11.lat, district11.lon, 9)
    assert counts.sum() == len(district11)
    assert len(set(cells.tolist())) == len(cells)


def test_density_integrates_to_the_incident_count(district11):
    surface = density_surface(district11, cell_m=100.0)
    total = surface.density.sum() * (surface.grid.cell_m / 1000) ** 2
    assert abs(total - len(district11)) / len(district11) < 0.01
    assert 100.0 <= surface.bandwidth_m <= 1200.0


def test_gi_star_finds_the_busiest_places_and_controls_false_discoveries(district11):
    spots = hex_hotspots(district11, resolution=9, permutations=999)
    assert spots.hot.any()
    assert not (spots.hot & spots.cold).any()
    assert (spots.z[spots.hot] > 0).all()
    assert (spots.z[spots.cold] < 0).all()
    # hot spots are neighbourhoods of busy hexagons (Gi* weighs the ring, so a lone busy hexagon may not be)
    assert spots.counts[spots.hot].mean() > 2.5 * spots.counts.mean()
    # FDR: every hot spot's p-value passes a threshold at most alpha
    assert spots.p_value[spots.hot].max() <= spots.alpha


def test_geojson_carries_both_layers(district11):
    surface = density_surface(district11, cell_m=150.0)
    spots = hex_hotspots(district11, permutations=99)
    geo = hotspot_features(surface, spots)
    layers = {f["properties"]["layer"] for f in geo["features"]}
    assert layers == {"gi_star", "density"}
    ring = geo["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and -88.0 < ring[0][0] < -87.5 and 41.6 < ring[0][1] < 42.1
