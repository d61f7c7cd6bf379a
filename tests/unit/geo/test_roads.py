import gzip
import shutil
import time

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from jingwu.geo.osm_reader import is_driving_way, oneway_rule, parse_maxspeed
from jingwu.geo.roads import RoadSettings, load_road_network, shipped_andorra

OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6">
  <node id="1" lat="42.500" lon="1.500"/>
  <node id="2" lat="42.501" lon="1.500"/>
  <node id="3" lat="42.501" lon="1.501"/>
  <node id="4" lat="42.500" lon="1.501"/>
  <node id="5" lat="42.510" lon="1.510"/>
  <node id="6" lat="42.511" lon="1.510"><tag k="place" v="village"/><tag k="name" v="Vila"/></node>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="name" v="Carrer Major"/></way>
  <way id="11"><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="highway" v="primary"/><tag k="oneway" v="yes"/><tag k="maxspeed" v="50"/></way>
  <way id="12"><nd ref="4"/><nd ref="5"/><tag k="highway" v="footway"/></way>
  <way id="13"><nd ref="3"/><nd ref="5"/><tag k="highway" v="service"/><tag k="oneway" v="yes"/></way>
</osm>
"""


def test_tags_are_read_like_routers_do():
    assert parse_maxspeed("50") == 50
    assert parse_maxspeed("30 mph") == 30 * 1.609344
    assert parse_maxspeed("90;30") == 30
    assert parse_maxspeed("ES:urban") is None
    assert oneway_rule({"oneway": "-1"}) == -1
    assert oneway_rule({"junction": "roundabout"}) == 1
    assert oneway_rule({"highway": "motorway"}) == 1
    assert oneway_rule({"highway": "motorway", "oneway": "no"}) == 0
    assert not is_driving_way({"highway": "residential", "access": "private"})
    assert is_driving_way({"highway": "residential", "access": "no", "emergency": "yes"})
    assert is_driving_way({"highway": "residential", "access": "no", "motor_vehicle": "yes"})
    assert not is_driving_way({"highway": "service", "service": "parking_aisle"})
    assert not is_driving_way({"highway": "footway"})


def test_osm_xml_and_gzip_give_driving_graph_with_oneways(tmp_path):
    xml = tmp_path / "tiny.osm"
    xml.write_text(OSM_XML)
    gz = tmp_path / "tiny.osm.gz"
    with xml.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    for path in (xml, gz):
        net = load_road_network(path, tmp_path / "cache")
        # node 5 is reachable only one way (service oneway, footway ignored): dropped from the SCC
        assert net.n_nodes == 4
        assert net.report.dropped_nodes == 1 and net.report.dropped_components == 1
        pairs = {
            (
                round(float(net.lat[t]), 3),
                round(float(net.lon[t]), 3),
                round(float(net.lat[h]), 3),
                round(float(net.lon[h]), 3),
            )
            for t, h in zip(net.tail, net.head, strict=True)
        }
        assert (42.501, 1.501, 42.5, 1.501) in pairs  # 3 -> 4 along the one-way
        assert (42.5, 1.501, 42.501, 1.501) not in pairs  # never against it
        assert net.n_edges == 6  # 1<->2<->3 both ways, 3->4->1 one way
        assert [p.name for p in net.places] == ["Vila"]
        assert "Carrer Major" in net.names


def test_speeds_and_junction_penalty(tmp_path):
    xml = tmp_path / "tiny.osm"
    xml.write_text(OSM_XML)
    net = load_road_network(xml, None, RoadSettings(junction_penalty_s=0.0))
    kmh = net.metres / net.seconds * 3.6
    primary = net.road_class == 2
    assert np.allclose(kmh[primary], 50)
    assert np.allclose(kmh[~primary], 25)  # residential default
    assert not net.penalty_s.any()


def test_andorra_is_strongly_connected_and_cached(andorra, road_cache):
    assert 15_000 < andorra.n_nodes < 17_000
    g = csr_matrix((np.ones(andorra.n_edges), (andorra.tail, andorra.head)), shape=(andorra.n_nodes,) * 2)
    assert connected_components(g, directed=True, connection="strong")[0] == 1
    assert andorra.report.dropped_components > 0
    started = time.perf_counter()
    again = load_road_network(shipped_andorra(), road_cache)
    assert time.perf_counter() - started < 1.0
    assert again.report.from_cache
    assert np.array_equal(again.head, andorra.head) and again.names == andorra.names
    # CSR adjacency agrees with the edge list
    for u in (0, 100, 5000):
        out = andorra.fwd_edges[andorra.fwd_indptr[u] : andorra.fwd_indptr[u + 1]]
        assert set(out.tolist()) == set(np.flatnonzero(andorra.tail == u).tolist())
        into = andorra.rev_edges[andorra.rev_indptr[u] : andorra.rev_indptr[u + 1]]
        assert set(into.tolist()) == set(np.flatnonzero(andorra.head == u).tolist())


def test_torn_cache_is_rebuilt(tmp_path):
    xml = tmp_path / "tiny.osm"
    xml.write_text(OSM_XML)
    load_road_network(xml, tmp_path / "c")
    (cached,) = (tmp_path / "c").glob("*.npz")
    whole = cached.read_bytes()
    cached.write_bytes(b"not a zip")
    assert load_road_network(xml, tmp_path / "c").n_nodes == 4
    cached.write_bytes(whole[: len(whole) // 2])  # cut short while written: a zip with no directory
    assert load_road_network(xml, tmp_path / "c").n_nodes == 4


def test_graphml_reads_chinese_names_and_drops_footways(shenzhen):
    assert "红荔西路" in shenzhen.names and "香蜜湖路" in shenzhen.names
    assert 5_000 < shenzhen.n_nodes < 7_000
