"""Real samples cut from the Chicago aggravated-assault records (see tests/data/analytics/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jingwu.analytics.records import IncidentRecords

DATA = Path(__file__).resolve().parents[2] / "data" / "analytics"


@pytest.fixture(scope="session")
def district11() -> IncidentRecords:
    return IncidentRecords.from_csv(DATA / "chicago_district11_2018_2019.csv", {"type": "loc_cat"})


@pytest.fixture(scope="session")
def districts6_7() -> IncidentRecords:
    return IncidentRecords.from_csv(DATA / "chicago_districts6_7_2019.csv")
