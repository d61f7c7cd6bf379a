from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from jingwu.analytics.records import IncidentRecords, RecordsError, parse_column_map
from tests.unit.analytics.conftest import DATA


def test_reads_chicago_sample_with_aliases(district11):
    assert len(district11) == 2860
    assert set(np.unique(district11.station)) == {"11"}
    assert np.all(np.diff(district11.t.astype(np.int64)) >= 0)
    assert "street" in set(district11.type)
    assert district11.bad_rows == ()


def test_bad_rows_are_reported_by_line_number_not_dropped_silently():
    records = IncidentRecords.from_csv(DATA / "chicago_bad_rows.csv")
    lines = {b.line: b.reason for b in records.bad_rows}
    assert set(lines) == {5, 9, 14}  # header is line 1; data rows 3, 7 and 12 are broken
    assert "not an ISO date" in lines[5]
    assert "latitude" in lines[9]
    assert "longitude" in lines[14]
    assert len(records) == 17


def test_column_map_and_missing_columns():
    assert parse_column_map("time=date, type=loc_cat") == {"time": "date", "type": "loc_cat"}
    with pytest.raises(RecordsError, match="unknown name"):
        parse_column_map("when=date")
    with pytest.raises(RecordsError, match="not in the file"):
        IncidentRecords.from_csv(DATA / "chicago_bad_rows.csv", {"time": "nope"})
    with pytest.raises(RecordsError, match="no such file"):
        IncidentRecords.from_csv(DATA / "missing.csv")


def test_from_rows_as_read_from_the_incidents_table():
    start = datetime(2026, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    rows = [
        {"received_at": start + timedelta(minutes=k), "lat": 22.54 + k / 1000, "lon": 114.05, "type_code": "theft",
         "family": "property", "source": src, "station_code": "FT01", "priority": 3,
         "dispatched_at": start + timedelta(minutes=k + 2), "arrived_at": None}
        for k, src in enumerate(["public_call", "officer_initiated", "online_report"])
    ]
    records = IncidentRecords.from_rows(rows)
    assert str(records.t[0]) == "2026-01-01T00:00:00"  # converted to UTC
    assert list(records.family) == ["property"] * 3
    assert records.arrived is not None and np.isnat(records.arrived).all()
    public = records.public_initiated()
    assert list(public.source) == ["public_call", "online_report"]


def test_a_stray_location_far_away_is_left_out_of_the_area(district11):
    from dataclasses import replace

    stray = replace(district11, lat=district11.lat.copy())
    stray.lat[100] = 10.0  # a geocoding error thousands of km south
    inside = stray.main_area()
    assert not inside[100] and inside.sum() == len(district11) - 1
    assert district11.main_area().all()
