"""Benchmarks of the intake path in-process (no HTTP), on SQLite and PostgreSQL.

Run: `.venv/bin/pytest tests/bench/test_intake_bench.py --benchmark-enable` (with
JINGWU_TEST_POSTGRES_URL set for PostgreSQL). The HTTP figures come from `jingwu bench intake`.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import pytest

from jingwu.api.runtime import Runtime
from jingwu.domain.access import SYSTEM
from jingwu.domain.geography import GeoPoint
from jingwu.services.dispatch import recommend_units
from jingwu.services.intake import ReceiveCall, receive_call

PLACES = [GeoPoint(42.5063, 1.5218), GeoPoint(42.5360, 1.5837), GeoPoint(42.4667, 1.4921)]


def test_receive_call(benchmark: Any, runtime: Runtime) -> None:
    places = itertools.cycle(PLACES)

    def one() -> str:
        cmd = ReceiveCall("THEFT", next(places), idempotency_key=uuid.uuid4().hex, request_hash="h")
        return receive_call(runtime.deps, SYSTEM, cmd).incident.id

    assert benchmark(one).startswith("INC-")


def test_receive_call_and_recommend(benchmark: Any, runtime: Runtime) -> None:
    places = itertools.cycle(PLACES)

    def one() -> int:
        inc = receive_call(runtime.deps, SYSTEM, ReceiveCall("ROBBERY_IN_PROGRESS", next(places))).incident
        return len(recommend_units(runtime.deps, SYSTEM, inc.id))

    assert benchmark(one) > 0


def test_receive_call_with_the_units_to_send(benchmark: Any, runtime: Runtime) -> None:
    """The same work as the test above in one service call (``POST …?recommend=10``): the units are
    read in the intake's transaction, not in a second read of the incident and the units."""
    places = itertools.cycle(PLACES)

    def one() -> int:
        done = receive_call(runtime.deps, SYSTEM, ReceiveCall("ROBBERY_IN_PROGRESS", next(places), recommend=10,
                                                              routes=True))
        return len(done.recommendations or [])

    assert benchmark(one) > 0


@pytest.mark.parametrize(("two_requests", "timed"), [(False, False), (True, False), (False, True)])
def test_intake_cycle_runs_the_benchmarks_flow(two_requests: bool, timed: bool,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The flow counted under callgrind (``tests/bench/intake_cycle.py``) still runs: on a fresh
    SQLite database, every flow gets recommendations, asked at intake or after it; timed, it says
    what a flow cost."""
    from tests.bench.intake_cycle import flows

    assert flows(3, None, two_requests, timed) >= 3
    assert ("per flow (ms): wall" in capsys.readouterr().out) is timed


@pytest.mark.parametrize("timed", [False, True])
def test_asgi_cycle_runs_the_benchmarks_request(timed: bool, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The benchmark's request through the whole app in-process (``tests/bench/asgi_cycle.py``) still
    runs: logged in as a call-taker, every POST is created (201) with its ten units; timed, it says
    what a flow cost; with a profile, the profile is written."""
    from tests.bench.asgi_cycle import flows

    profile = tmp_path / "asgi.prof"
    assert flows(3, None, timed, str(profile) if timed else None) == 30
    assert ("per flow (ms): wall" in capsys.readouterr().out) is timed
    assert profile.exists() is timed
