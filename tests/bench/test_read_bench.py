"""What a read costs on PostgreSQL in autocommit (``read_connection`` since the seventh session of
2026-12-07) against the same read in a transaction ended by COMMIT (before): the BEGIN and the
COMMIT are a round trip each. The read is what every recommendation reads, the available units
(``available_units``), on a seeded Andorra.

Run: `JINGWU_TEST_POSTGRES_URL=… .venv/bin/pytest tests/bench/test_read_bench.py --benchmark-enable
--benchmark-group-by=func` (the medians of the two are the comparison; docs/benchmarks.md, "Reads
in autocommit").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from jingwu.store.engine import checked_out
from jingwu.store.repositories import available_units
from jingwu.store.unit_of_work import read_connection
from tests.conftest import drop_pg_schema, fresh_engine


@pytest.fixture
def pg(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine, url = fresh_engine("postgresql", tmp_path, tmp_path_factory)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_pg_schema(url)


def test_a_read_in_autocommit(benchmark: Any, pg: Engine) -> None:
    def read() -> int:
        with read_connection(pg) as conn:
            return len(available_units(conn))

    assert benchmark(read) > 0


def test_the_same_read_in_a_transaction(benchmark: Any, pg: Engine) -> None:
    def read() -> int:
        with checked_out(pg) as conn:
            conn.begin()
            found = len(available_units(conn))
            conn.commit()
            return found

    assert benchmark(read) > 0
