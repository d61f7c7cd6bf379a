import numpy as np

from jingwu.analytics.records import IncidentRecords
from jingwu.analytics.response import response_report, write_response_report
from tests.unit.analytics.conftest import DATA

TARGETS = {1: {"dispatch_s": 60, "travel_s": 480, "response_s": 600},
           2: {"dispatch_s": 120, "travel_s": 780, "response_s": 900},
           3: {"dispatch_s": 600, "travel_s": 1200, "response_s": 1800}}


def test_stage_percentiles_by_priority_station_and_hour(tmp_path):
    records = IncidentRecords.from_csv(DATA / "response_sample.csv")
    report = response_report(records, TARGETS)
    d = report.durations
    assert len(d) == 60
    assert np.isnan(d["total"]).sum() == 1  # the cancelled call never arrived
    ok = d.dropna()
    assert np.allclose(ok["answer_to_dispatch"] + ok["dispatch_to_arrival"], ok["total"])
    assert set(report.by_station["station"]) <= {"11", "12"}
    assert report.by_priority["incidents"].sum() == 60
    row = report.by_priority.iloc[0]
    assert row["total_p50_s"] <= row["total_p90_s"]
    assert 0.0 <= row["total_within_target"] <= 1.0
    files = write_response_report(report, tmp_path, TARGETS)
    assert {p.suffix for p in files} == {".csv", ".png", ".html"}
