"""Incident and major-incident ids: readable, and wide enough that one busy day does not collide."""

import re
from datetime import UTC, datetime

from jingwu.services.ids import new_id


def test_ids_carry_the_date_and_48_random_bits():
    at = datetime(2026, 12, 7, 5, 33, tzinfo=UTC)
    assert re.fullmatch(r"INC-20261207-[0-9A-F]{12}", new_id("INC", at))


def test_a_busy_days_ids_do_not_collide():
    """100,000 ids of one day: with 32 random bits (the old tail) two would collide in ~69 % of
    runs; with 48, in ~0.002 %."""
    at = datetime(2026, 12, 7, tzinfo=UTC)
    ids = {new_id("INC", at) for _ in range(100_000)}
    assert len(ids) == 100_000
