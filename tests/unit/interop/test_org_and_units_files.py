"""An agency's own tree (GeoJSON) and roster (CSV): read back what was written, and every refusal
names the feature or line and the field."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jingwu.domain.geography import GeoPoint
from jingwu.domain.incident_types import Capability
from jingwu.domain.org import OrgLevel, OrgTree
from jingwu.domain.unit import Unit, UnitStatus
from jingwu.interop.org_geojson import OrgFileError, org_units_from_geojson, org_units_to_geojson, parents_first
from jingwu.interop.units_csv import UnitsFileError, unit_records_from_csv, units_to_csv


def square(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def feature(code: str, level: str, parent: str | None, geometry: dict[str, Any] | None = None,
            **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"code": code, "name": code.lower(), "level": level, "parent": parent,
                                              **props}, "geometry": geometry}


TREE: dict[str, Any] = {"type": "FeatureCollection", "features": [
    # children before parents on purpose: the reader orders them
    feature("S1", "station", "D", square(1.50, 42.49, 1.52, 42.52), base=[1.51, 42.50],
            names={"zh-Hant": "一所", "zh-Hans": "一所", "en": "First"}),
    feature("S2", "station", "D", {"type": "MultiPolygon", "coordinates": [square(1.52, 42.49, 1.55, 42.52)[
        "coordinates"], square(1.60, 42.60, 1.61, 42.61)["coordinates"]]}),
    feature("D", "district", "P"),
    feature("P", "province", None, square(1.4, 42.4, 1.8, 42.7)),
]}


def test_a_tree_is_read_parents_first_and_written_back_unchanged() -> None:
    units = org_units_from_geojson(TREE)
    assert [u.code for u in units] == ["P", "D", "S1", "S2"]
    tree = OrgTree(units)
    assert tree.resolve_station(GeoPoint(lat=42.50, lon=1.51)) == "S1"
    assert tree.resolve_station(GeoPoint(lat=42.605, lon=1.605)) == "S2"  # its second polygon
    s1 = tree.get("S1")
    assert s1.base == GeoPoint(lat=42.50, lon=1.51) and s1.names["en"] == "First" and s1.level is OrgLevel.STATION
    again = org_units_from_geojson(json.loads(json.dumps(org_units_to_geojson(units))))
    assert again == units and [u.names for u in again] == [u.names for u in units]


REFUSALS = [
    (lambda d: d.update(type="Feature"), "FeatureCollection"),
    (lambda d: d.update(features=[]), "no features"),
    (lambda d: d["features"][0]["properties"].pop("code"), "feature 1: code"),
    (lambda d: d["features"][0]["properties"].update(code=" S1"), "feature 1: code"),
    (lambda d: d["features"][1]["properties"].update(name=""), "feature 2 (S2): name"),
    (lambda d: d["features"][2]["properties"].update(level="county"), "feature 3 (D): level: one of province"),
    (lambda d: d["features"][0].update(geometry=None), "feature 1 (S1): geometry: a station needs"),
    (lambda d: d["features"][0].update(geometry={"type": "Point", "coordinates": [1.5, 42.5]}),
     "feature 1 (S1): geometry: a Polygon"),
    (lambda d: d["features"][0].update(geometry=square(150, 42, 200, 43)), "not in longitude, latitude"),
    (lambda d: d["features"][0].update(geometry={"type": "Polygon", "coordinates": [[
        [0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}), "feature 1 (S1): geometry: not a valid polygon (Self-intersection"),
    (lambda d: d["features"][0]["properties"].update(base=[42.5]), "feature 1 (S1): base"),
    (lambda d: d["features"][0]["properties"].update(base=[True, False]), "feature 1 (S1): base"),
    (lambda d: d["features"][0]["properties"].update(base=[200.0, 42.5]), "feature 1 (S1): base"),
    (lambda d: d["features"][0]["properties"].update(names={"fr": "x"}), "feature 1 (S1): names"),
    (lambda d: d["features"][0]["properties"].update(parent=""), "feature 1 (S1): parent"),
]


@pytest.mark.parametrize(("spoil", "message"), REFUSALS)
def test_a_bad_tree_file_is_refused_naming_the_feature_and_field(spoil: Any, message: str) -> None:
    data = copy.deepcopy(TREE)
    spoil(data)
    with pytest.raises(OrgFileError) as refused:
        org_units_from_geojson(data)
    assert message in str(refused.value)


@given(st.permutations(["P", "D", "S1", "S2"]))
def test_parents_come_first_whatever_the_file_order(order: list[str]) -> None:
    by_code = {u.code: u for u in org_units_from_geojson(TREE)}
    placed = [u.code for u in parents_first(by_code[c] for c in order)]
    assert sorted(placed) == sorted(order)
    for u in by_code.values():
        if u.parent_code is not None:
            assert placed.index(u.parent_code) < placed.index(u.code)


ROSTER = """\ufeffcall_sign,home_station,capabilities,crew_size,status,lat,lon
P1-01,S1,patrol,2,available,42.5,1.51
P1-02 , S1 , patrol;traffic ,3,,,
福田巡1,S2,criminal_investigation,,out_of_service,,

"""


def test_a_roster_is_read_with_defaults() -> None:
    a, b, c = unit_records_from_csv(ROSTER)
    assert (a.id, a.status, a.position, a.line) == ("U-P1-01", UnitStatus.AVAILABLE, GeoPoint(42.5, 1.51), 2)
    assert (b.call_sign, b.capabilities, b.crew_size, b.status, b.position) == (
        "P1-02", frozenset({Capability.PATROL, Capability.TRAFFIC}), 3, UnitStatus.OFF_DUTY, None)
    assert (c.id, c.crew_size, c.status) == ("U-福田巡1", 2, UnitStatus.OUT_OF_SERVICE)


def test_a_roster_is_written_as_it_is_read() -> None:
    units = [Unit(id=r.id, call_sign=r.call_sign, home_station=r.home_station, capabilities=r.capabilities,
                  crew_size=r.crew_size, status=r.status, position=r.position) for r in unit_records_from_csv(ROSTER)]
    back = unit_records_from_csv(units_to_csv(units))
    assert [(r.id, r.call_sign, r.home_station, r.capabilities, r.crew_size, r.status, r.position) for r in back] == \
        sorted(((u.id, u.call_sign, u.home_station, u.capabilities, u.crew_size, u.status, u.position) for u in units),
               key=lambda t: t[1])


HEADER = "call_sign,home_station,capabilities,crew_size,id,status,lat,lon\n"


@pytest.mark.parametrize(("text", "message"), [
    ("", "header row"),
    ("call_sign,station,capabilities\n", "line 1: unknown column 'station'"),
    ("call_sign,capabilities\nP1,patrol\n", "line 1: column 'home_station' is required"),
    (HEADER, "no units"),
    (HEADER + "P1,S1,patrol,2,,,,,extra\n", "line 2: more values than columns"),
    (HEADER + ",S1,patrol,,,,,\n", "line 2: call_sign"),
    (HEADER + "P 1,S1,patrol,,,,,\n", "line 2 (P 1): call_sign"),
    (HEADER + "P1,,patrol,,,,,\n", "line 2 (P1): home_station"),
    (HEADER + "P1,S1,,,,,,\n", "line 2 (P1): capabilities: required"),
    (HEADER + "P1,S1,patrol;swat,,,,,\n", "line 2 (P1): capabilities: unknown 'swat'"),
    (HEADER + "P1,S1,patrol,0,,,,\n", "line 2 (P1): crew_size"),
    (HEADER + "P1,S1,patrol,two,,,,\n", "line 2 (P1): crew_size"),
    (HEADER + "P1,S1,patrol,²,,,,\n", "line 2 (P1): crew_size"),
    (HEADER + "P1,S1,patrol,,U 1,,,\n", "line 2 (P1): id"),
    (HEADER + "P1,S1,patrol,,,on_scene,,\n", "line 2 (P1): status: one of off_duty, available, out_of_service"),
    (HEADER + "P1,S1,patrol,,,,42.5,\n", "line 2 (P1): lat, lon"),
    (HEADER + "P1,S1,patrol,,,,95,1.5\n", "line 2 (P1): lat, lon"),
    (HEADER + "P1,S1,patrol,,,,nan,1.5\n", "line 2 (P1): lat, lon"),
])
def test_a_bad_roster_is_refused_naming_the_line_and_column(text: str, message: str) -> None:
    with pytest.raises(UnitsFileError) as refused:
        unit_records_from_csv(text)
    assert message in str(refused.value)
