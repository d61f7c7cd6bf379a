"""Run cards, candidate filtering, ranking, duplicates, timers and the org tree."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from jingwu.domain.dispatch import candidates, rank, still_needed
from jingwu.domain.duplicates import OpenIncident, possible_duplicates
from jingwu.domain.errors import DomainError
from jingwu.domain.geography import Area, GeoPoint, haversine_m
from jingwu.domain.incident import Incident, IncidentStatus
from jingwu.domain.incident_types import Capability
from jingwu.domain.org import OrgLevel, OrgTree, OrgUnit
from jingwu.domain.timers import checkin_timers, crossings, incident_timers
from jingwu.domain.travel import TravelEstimate
from jingwu.domain.unit import Unit, UnitStatus
from jingwu.services.catalogue import load_catalogue

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
P, CI = Capability.PATROL, Capability.CRIMINAL_INVESTIGATION


def mk_unit(uid: str, caps: set[Capability], status: UnitStatus = UnitStatus.AVAILABLE,
            pos: GeoPoint | None = GeoPoint(42.5, 1.5)) -> Unit:
    return Unit(id=uid, call_sign=uid, home_station="S", capabilities=frozenset(caps), status=status, position=pos)


def est(uid: str, eta: float) -> TravelEstimate:
    return TravelEstimate(uid, eta, eta * 10, eta * 8, "road")


def test_candidates_need_available_capability_and_position() -> None:
    units = [mk_unit("a", {P}), mk_unit("b", {P}, UnitStatus.DISPATCHED), mk_unit("c", {CI}),
             mk_unit("d", {P}, pos=None), mk_unit("e", {P, CI})]
    assert [u.id for u in candidates(units, P)] == ["a", "e"]


def test_still_needed_counts_each_unit_once() -> None:
    plan = {P: 2, CI: 1}
    assert still_needed(plan, []) == {P: 2, CI: 1}
    # A unit with two capabilities counts towards the one most needed.
    assert still_needed(plan, [mk_unit("x", {P, CI})]) == {P: 1, CI: 1}
    assert still_needed(plan, [mk_unit("x", {P}), mk_unit("y", {P}), mk_unit("z", {CI})]) == {}


def test_rank_fills_plan_first_then_alternatives_by_eta() -> None:
    units = {u: mk_unit(u, {P}) for u in ("p1", "p2", "p3")} | {"c1": mk_unit("c1", {CI})}
    ests = {P: [est("p1", 60), est("p2", 90), est("p3", 100)], CI: [est("c1", 300)]}
    recs = rank({P: 2, CI: 1}, ests, units, limit=10)
    assert [r.unit_id for r in recs] == ["p1", "p2", "c1", "p3"]
    assert [r.fills_plan for r in recs] == [True, True, True, False]
    assert "by road" in recs[0].reason


def test_rank_never_lists_a_unit_twice() -> None:
    both = mk_unit("x", {P, CI})
    recs = rank({P: 1, CI: 1}, {P: [est("x", 10)], CI: [est("x", 10)]}, {"x": both}, limit=5)
    assert [r.unit_id for r in recs] == ["x"]


def test_duplicates_same_family_near_in_space_and_time() -> None:
    base = Incident(id="I1", type_code="THEFT", family="property", priority=3, location=GeoPoint(42.5, 1.52),
                    station_code="S", received_at=T0, received_by="ct")
    near = GeoPoint(42.5010, 1.52)  # ~110 m north
    assert haversine_m(near, base.location) == pytest.approx(111, abs=2)
    hit = possible_duplicates("property", near, T0 + timedelta(minutes=5), [base], 300, 1800)
    assert [h.incident_id for h in hit] == ["I1"]
    assert not possible_duplicates("violent", near, T0, [base], 300, 1800)
    assert not possible_duplicates("property", GeoPoint(42.51, 1.52), T0, [base], 300, 1800)
    assert not possible_duplicates("property", near, T0 + timedelta(hours=1), [base], 300, 1800)
    base.status = IncidentStatus.CLOSED
    assert not possible_duplicates("property", near, T0, [base], 300, 1800)


def test_duplicates_read_the_stores_narrow_open_incidents_as_incidents() -> None:
    """The intake reads only what the check needs (``OpenIncident``); the answer is the same."""
    def seen(status: IncidentStatus, minutes: float, north_m: float, id_: str) -> tuple[Incident, OpenIncident]:
        where = GeoPoint(42.5 + north_m / 111_195, 1.52)
        at = T0 + timedelta(minutes=minutes)
        inc = Incident(id=id_, type_code="THEFT", family="property", priority=3, location=where, station_code="S",
                       received_at=at, received_by="ct", status=status)
        return inc, OpenIncident(id_, "THEFT", "property", status, where, at)

    pairs = [seen(IncidentStatus.RECEIVED, 0, 100, "a"), seen(IncidentStatus.ON_SCENE, 3, 20, "b"),
             seen(IncidentStatus.CLOSED, 1, 10, "c"), seen(IncidentStatus.MERGED, 2, 10, "d"),
             seen(IncidentStatus.CLEARED, 4, 250, "e"), seen(IncidentStatus.RECEIVED, 5, 400, "f")]
    at = T0 + timedelta(minutes=10)
    full = possible_duplicates("property", GeoPoint(42.5, 1.52), at, [p[0] for p in pairs], 300, 1800)
    narrow = possible_duplicates("property", GeoPoint(42.5, 1.52), at, [p[1] for p in pairs], 300, 1800)
    assert narrow == full
    assert [d.incident_id for d in narrow] == ["b", "a", "e"]


def test_timers_cross_amber_then_red_once() -> None:
    cat = load_catalogue()
    tg = cat.targets_for(1)
    inc = Incident(id="I1", type_code="FIRE", family="hazard", priority=1, location=GeoPoint(42.5, 1.52),
                   station_code="S", received_at=T0, received_by="ct")
    seen: dict[str, str] = {}
    at_amber = T0 + timedelta(seconds=tg.dispatch_s * 0.85)
    first = crossings(incident_timers(inc, tg, at_amber), seen)
    assert [(s.stage, s.level) for s in first] == [("dispatch", "amber")]
    assert crossings(incident_timers(inc, tg, at_amber), seen) == []
    late = crossings(incident_timers(inc, tg, T0 + timedelta(seconds=tg.response_s + 1)), seen)
    assert {(s.stage, s.level) for s in late} == {("dispatch", "red"), ("response", "red")}


def test_checkin_timer_runs_only_on_scene() -> None:
    u = mk_unit("u", {P}, UnitStatus.ON_SCENE)
    u.incident_id, u.checkin_at = "I", T0
    states = checkin_timers([u, mk_unit("v", {P})], 900, T0 + timedelta(seconds=901))
    assert [(s.unit_id, s.level) for s in states] == [("u", "red")]


def square(x0: float, y0: float, x1: float, y1: float) -> Area:
    return Area.from_geojson({"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]})


def test_org_tree_scopes_and_resolves_exactly_one_station() -> None:
    tree = OrgTree([
        OrgUnit("P", "province", OrgLevel.PROVINCE),
        OrgUnit("C", "city", OrgLevel.CITY, "P"),
        OrgUnit("D", "district", OrgLevel.DISTRICT, "C"),
        OrgUnit("S1", "west", OrgLevel.STATION, "D", square(0, 0, 1, 1)),
        OrgUnit("S2", "east", OrgLevel.STATION, "D", square(1, 0, 2, 1)),
    ])
    assert tree.subtree("D") == {"D", "S1", "S2"}
    assert tree.subtree("S1") == {"S1"}
    assert tree.ancestors("S2") == ["S2", "D", "C", "P"]
    assert tree.resolve_station(GeoPoint(0.5, 0.5)) == "S1"
    assert tree.resolve_station(GeoPoint(0.5, 1.5)) == "S2"
    assert tree.resolve_station(GeoPoint(0.5, 1.0)) in {"S1", "S2"}  # on the shared edge: one of them
    assert tree.resolve_station(GeoPoint(5, 5)) is None
    assert tree.under("D") == {"D", "S1", "S2"} and tree.under("S2") == {"S2"}
    assert tree.under("P") is None  # the root: no limit
    with pytest.raises(DomainError, match="unknown org unit 'X'") as refused:
        tree.under("X", "--station")
    assert refused.value.field == "--station"


def test_a_station_area_of_several_polygons_resolves_in_each() -> None:
    """An exclave far outside the station's first polygon is still its ground (asked twice: the
    second answer comes from the tree's memory of resolved points)."""
    main, exclave = square(0, 0, 1, 1).polygons[0], square(5, 5, 6, 6).polygons[0]
    tree = OrgTree([
        OrgUnit("D", "district", OrgLevel.DISTRICT),
        OrgUnit("S1", "with exclave", OrgLevel.STATION, "D", Area((main, exclave))),
        OrgUnit("S2", "between", OrgLevel.STATION, "D", square(2, 2, 4, 4)),
    ])
    for _ in range(2):
        assert tree.resolve_station(GeoPoint(5.5, 5.5)) == "S1"
        assert tree.resolve_station(GeoPoint(0.5, 0.5)) == "S1"
        assert tree.resolve_station(GeoPoint(3, 3)) == "S2"
        assert tree.resolve_station(GeoPoint(4.5, 4.5)) is None


def test_org_tree_refuses_unknown_parent_and_duplicates() -> None:
    with pytest.raises(ValueError, match="unknown parent"):
        OrgTree([OrgUnit("S", "s", OrgLevel.STATION, "nope")])
    with pytest.raises(ValueError, match="duplicate"):
        OrgTree([OrgUnit("S", "s", OrgLevel.STATION), OrgUnit("S", "t", OrgLevel.STATION)])


def test_catalogue_has_three_languages_and_plans() -> None:
    cat = load_catalogue()
    assert len(cat.types) >= 20
    rob = cat.get("ROBBERY_IN_PROGRESS")
    assert rob.plan_for(1) == {P: 2, CI: 1}
    assert rob.plan_for(3) == {P: 1}
    for t in cat.types.values():
        assert {"zh-Hant", "zh-Hans", "en"} <= set(t.names)
        assert t.major_plan is None or t.major_plan in cat.major_plans
    assert cat.known_type("THEFT") == "THEFT" and cat.known_family("property") == "property"
    with pytest.raises(DomainError, match="unknown incident type 'THEF'") as refused:
        cat.known_type("THEF", "type_code")
    assert refused.value.field == "type_code"
    with pytest.raises(DomainError, match=r"unknown incident family 'props'; one of .*property"):
        cat.known_family("props")
    assert cat.get("FIRE").name("zh-Hans") == "火灾"


def test_a_unit_fitting_two_places_on_the_run_card_counts_the_same_in_every_process() -> None:
    """A patrol-and-traffic car on a card needing one of each counts as patrol (by name on a tie),
    whatever order this process's string hashing gives its capability set."""
    code = (
        "from jingwu.domain.dispatch import still_needed\n"
        "from jingwu.domain.incident_types import Capability as C\n"
        "from jingwu.domain.unit import Unit\n"
        "u = Unit(id='u', call_sign='u', home_station='s', capabilities=frozenset({C.TRAFFIC, C.PATROL}))\n"
        "print(sorted((c.value, n) for c, n in still_needed({C.PATROL: 1, C.TRAFFIC: 1}, [u]).items()))\n"
    )
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout for seed in range(6)}
    assert seen == {"[('traffic', 1)]\n"}
