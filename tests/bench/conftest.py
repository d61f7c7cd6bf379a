"""Benchmarks run once as smoke tests in the suite (benchmarks disabled) and are timed only with
``--benchmark-enable``. Those marked ``slow`` (tens of seconds of set-up or work) run only when timed."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # As pytest-benchmark decides (addopts disables; --benchmark-enable on the command line wins).
    disabled = config.getoption("benchmark_disable", default=False) and not config.getoption(
        "benchmark_enable", default=False)
    if not disabled:
        return
    skip = pytest.mark.skip(reason="slow benchmark: run with --benchmark-enable to time it")
    for item in items:
        if "tests/bench/" in str(item.fspath) and item.get_closest_marker("slow"):
            item.add_marker(skip)
