"""The weekly call profile: fitting, the shipped table, and arrivals drawn from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from jingwu.sim.profile import ArrivalProcess, WeeklyProfile, fit_weekly_profile, load_call_profile

FRIDAY = datetime(2026, 11, 27, tzinfo=UTC)


def test_fit_counts_per_slot_occurrence(tmp_path: Path) -> None:
    # Two Mondays and one Tuesday: 4 records Monday 10:xx and 2 on Tuesday 10:xx are the same rate.
    rows = ["date,loc_cat", "2024-01-01 10:05,street", "2024-01-01 10:40,street", "2024-01-08 10:15,street",
            "2024-01-08 10:20,street", "2024-01-02 10:30,street", "2024-01-02 10:59,street"]
    path = tmp_path / "records.csv"
    path.write_text("\n".join(rows) + "\n")
    p = fit_weekly_profile(path, source="test")
    assert p.relative[0][10] == pytest.approx(p.relative[1][10])
    assert p.relative[0][9] == 0
    assert np.mean(p.relative) == pytest.approx(1.0)
    assert p.meta["records"] == 6 and p.meta["period"] == ["2024-01-01T10:05", "2024-01-08T10:20"]


def test_shipped_profile_has_the_shape_of_real_calls() -> None:
    p = load_call_profile()
    assert p.meta["records"] == 148_636
    assert np.mean(p.relative) == pytest.approx(1.0, abs=1e-3)
    hours = p.hour_means()
    assert min(range(24), key=hours.__getitem__) in (5, 6)  # quietest before dawn
    assert max(hours) / min(hours) > 3
    sat, tue = p.relative[5], p.relative[1]
    assert sat[2] > 2 * tue[2]  # Friday night runs into Saturday morning


def test_arrivals_follow_the_profile_and_the_volume() -> None:
    p = load_call_profile()
    process = ArrivalProcess(p, events_per_day=2400, timezone="Europe/Andorra")
    week = (FRIDAY, FRIDAY + timedelta(days=7))
    assert process.expected(*week) == pytest.approx(7 * 2400, rel=1e-6)
    counts = np.zeros(24)
    for slot in process.slots(*week):
        local_hour = (slot.start + timedelta(minutes=30)).astimezone(process.tz).hour
        counts[local_hour] += len(process.arrivals(process.rng(1, slot), slot))
    assert counts.sum() == pytest.approx(7 * 2400, rel=0.03)
    assert counts[6] < 0.5 * counts[21]


def test_each_hour_is_its_own_random_stream() -> None:
    process = ArrivalProcess(WeeklyProfile.flat(), events_per_day=240)
    early = list(process.slots(FRIDAY, FRIDAY + timedelta(hours=3)))
    late = list(process.slots(FRIDAY + timedelta(hours=2), FRIDAY + timedelta(hours=5)))
    assert early[2] == late[0]
    a = process.arrivals(process.rng(3, early[2]), early[2])
    b = process.arrivals(process.rng(3, late[0]), late[0])
    assert np.array_equal(a, b)
    assert not np.array_equal(a, process.arrivals(process.rng(4, late[0]), late[0]))


def test_profile_refuses_bad_tables() -> None:
    with pytest.raises(ValueError):
        WeeklyProfile(((1.0,) * 24,) * 6, {})
    with pytest.raises(ValueError):
        WeeklyProfile.from_json({"relative_intensity": [[0.0] * 24] * 7})
