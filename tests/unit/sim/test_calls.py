"""The call generator: deterministic, calibrated volume and mix, duplicates, places inside the area."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from jingwu.services.catalogue import load_catalogue
from jingwu.sim.calls import CallGenerator, poisson_calls
from jingwu.sim.mix import parse_mix
from jingwu.sim.profile import load_call_profile

START = datetime(2026, 11, 26, 23, tzinfo=UTC)  # Friday 00:00 in Andorra


@pytest.fixture(scope="module")
def day(surfaces, mix, org):
    gen = CallGenerator(load_call_profile(), mix, surfaces, calls_per_day=3000, seed=1, timezone="Europe/Andorra",
                        in_area=lambda p: org.resolve_station(p) is not None)
    return gen, list(gen.calls(START, START + timedelta(hours=24)))


def test_same_seed_same_calls(day, surfaces, mix) -> None:
    gen, calls = day
    again = CallGenerator(load_call_profile(), mix, surfaces, calls_per_day=3000, seed=1, timezone="Europe/Andorra",
                          in_area=gen.in_area)
    assert list(again.calls(START, START + timedelta(hours=24))) == calls
    other = CallGenerator(load_call_profile(), mix, surfaces, calls_per_day=3000, seed=2, timezone="Europe/Andorra")
    assert list(other.calls(START, START + timedelta(hours=2))) != [c for c in calls if c.at < 7200]


def test_a_window_is_a_slice_of_the_longer_run(day) -> None:
    gen, calls = day
    part = list(gen.calls(START + timedelta(hours=5), START + timedelta(hours=7)))
    shifted = [c for c in calls if 5 * 3600 <= c.at < 7 * 3600]
    assert [(round(c.at + 5 * 3600, 6), c.event, c.type_code, c.point) for c in part] == [
        (round(c.at, 6), c.event, c.type_code, c.point) for c in shifted]


def test_volume_order_and_mix(day, mix) -> None:
    gen, calls = day
    expected = gen.expected_calls(START, START + timedelta(hours=24))
    assert len(calls) == pytest.approx(expected, rel=0.05)
    assert [c.at for c in calls] == sorted(c.at for c in calls)
    assert all(0 <= c.at < 24 * 3600 for c in calls)
    types = Counter(c.type_code for c in calls if not c.duplicate)
    firsts = sum(types.values())
    for share, t in zip(mix.shares, mix.types, strict=True):
        if share > 0.05:
            assert types[t.code] / firsts == pytest.approx(share, rel=0.25), t.code
    prios = Counter(c.priority for c in calls)
    assert prios[1] < prios[2] and prios[1] > 0


def test_duplicates_are_the_same_event_soon_after_nearby(day, mix) -> None:
    _gen, calls = day
    dups = [c for c in calls if c.duplicate]
    assert len(dups) / len(calls) == pytest.approx(mix.duplicate_share, rel=0.3)
    first = {c.event: c for c in calls if not c.duplicate}
    for d in dups:
        orig = first.get(d.event)
        if orig is None:  # its original came before the window
            continue
        assert d.type_code == orig.type_code and d.priority == orig.priority
        assert 0 < d.at - orig.at <= mix.duplicate_max_delay_s
        assert abs(d.point.lat - orig.point.lat) < 0.002 and abs(d.point.lon - orig.point.lon) < 0.003


def test_every_call_is_inside_the_service_area(day, org) -> None:
    _gen, calls = day
    assert all(org.resolve_station(c.point) is not None for c in calls)
    stations = Counter(org.resolve_station(c.point) for c in calls)
    assert len(stations) == 7


def test_more_calls_at_night_than_at_dawn(day) -> None:
    _gen, calls = day
    hours = Counter(int(c.at // 3600) for c in calls)
    assert hours[22] > 2 * hours[6]


def test_poisson_calls_are_poisson() -> None:
    calls = poisson_calls(60, 100, "THEFT", 3, None, 600, seed=5)  # type: ignore[arg-type]
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    assert len(calls) == pytest.approx(6000, rel=0.05)
    assert sum(gaps) / len(gaps) == pytest.approx(60, rel=0.05)
    assert sum(c.on_scene_s for c in calls) / len(calls) == pytest.approx(600, rel=0.05)


def test_mix_refuses_unknown_types_and_bad_values() -> None:
    catalogue = load_catalogue()
    base = {"processing_s": {"1": 10}, "turnout_s": {"1": 5}, "types": []}
    with pytest.raises(Exception, match="unknown incident type"):
        parse_mix(base | {"types": [{"code": "NOPE", "share": 1, "on_scene_s": 60}]}, catalogue)
    with pytest.raises(ValueError):
        parse_mix(base | {"types": [{"code": "THEFT", "share": 1, "on_scene_s": 60, "surface": "moon"}]}, catalogue)
    with pytest.raises(ValueError):
        parse_mix(base | {"types": [{"code": "THEFT", "share": 1, "on_scene_s": 60,
                                     "priorities": {"7": 1}}]}, catalogue)
    ok = parse_mix(base | {"types": [{"code": "THEFT", "share": 2, "on_scene_s": {"mean": 60, "cv": 0.5}}]},
                   catalogue)
    assert ok.types[0].priorities == ((3, 1.0),)  # the catalogue's default priority
    assert ok.shares.tolist() == [1.0]
