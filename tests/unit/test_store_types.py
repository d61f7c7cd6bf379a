"""UtcDateTime's one-step SQLite conversions store and read exactly what SQLAlchemy's layered form
(this type's step, then the dialect's DATETIME string conversion) does."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine
from sqlalchemy.types import TypeDecorator

from jingwu.store.tables import UtcDateTime

DIALECT = create_engine("sqlite://").dialect
ZONES = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))]
TIMES = [
    datetime(2026, 11, 27, 5, 6, 7, 123456, tzinfo=z) for z in ZONES
] + [
    datetime(2026, 1, 1, 0, 0, tzinfo=UTC), datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 0, 0, 999999, tzinfo=ZONES[1]),
]


def _layered() -> tuple[object, object]:
    impl = UtcDateTime().dialect_impl(DIALECT)
    return (TypeDecorator.bind_processor(impl, DIALECT),  # type: ignore[arg-type]
            TypeDecorator.result_processor(impl, DIALECT, None))  # type: ignore[arg-type]


def test_bind_matches_the_layered_form() -> None:
    fast = UtcDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    layered, _ = _layered()
    assert callable(fast) and callable(layered)
    for value in [None, *TIMES]:
        assert fast(value) == layered(value)
    # the same object bound again (the remembered text), then others, then back: never stale
    for value in [*TIMES, *TIMES[::-1], TIMES[0], TIMES[0], None, TIMES[1], TIMES[1]]:
        assert fast(value) == layered(value)
    equal_not_same = TIMES[0].astimezone(ZONES[1])
    assert fast(TIMES[0]) == fast(equal_not_same) == layered(TIMES[0])
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2026, 1, 1))
    # a naive time with the fields of one already remembered (equal hash) is still refused
    fast(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2026, 1, 1))
    # past the memo's size: old texts are dropped, never mixed up
    many = [TIMES[0] + timedelta(microseconds=k) for k in range(1500)]
    assert [fast(v) for v in many] == [layered(v) for v in many]
    assert [fast(v) for v in many[::7]] == [layered(v) for v in many[::7]]


def test_result_matches_the_layered_form() -> None:
    fast = UtcDateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)
    bind, layered = _layered()
    assert callable(fast) and callable(layered) and callable(bind)
    stored = [bind(v) for v in TIMES] + [None, "2026-11-27 05:06:07", "2026-11-27", "2026-11-27T05:06:07+08:00"]
    for value in stored:
        got = fast(value)
        assert got == layered(value)
        assert got is None or got.tzinfo is UTC


def test_sqlite_orders_stored_times_as_times() -> None:
    bind = UtcDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert callable(bind)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (at TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", [(bind(v),) for v in TIMES])
    order = [r[0] for r in db.execute("SELECT at FROM t ORDER BY at")]
    assert order == sorted(bind(v) for v in TIMES)
    assert [bind(v) for v in sorted(TIMES)] == order
