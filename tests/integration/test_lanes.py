"""The operations lane: routes in it run on at most ``api_operation_threads`` threads at once, keep
their parameters and validation, and the shared pool beside it is not limited by it. And the
server's collector settings, made in the same start-up."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from jingwu.api.app import create_app
from jingwu.api.collector import FULL_GC_THRESHOLD, YOUNG_GC_THRESHOLD
from jingwu.api.lanes import _LANES, operations_lane, operations_limiter, size_operations_lane
from jingwu.api.runtime import Runtime
from tests.integration.live_server import serving


class Busy:
    """How many requests were inside a route at once, at most."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self._lock = threading.Lock()

    def run(self, seconds: float) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(seconds)
        with self._lock:
            self.now -= 1


@asynccontextmanager
async def two_lane_threads(_app: FastAPI) -> AsyncIterator[None]:
    operations_limiter().total_tokens = 2
    yield


def test_the_lane_runs_at_most_its_threads_and_the_pool_more() -> None:
    app = FastAPI(lifespan=two_lane_threads)
    lane, pool = Busy(), Busy()

    @app.get("/lane/{n}")
    @operations_lane
    def in_lane(n: int, tag: str = "") -> dict[str, object]:
        lane.run(0.2)
        return {"n": n, "tag": tag}

    @app.get("/pool/{n}")
    def in_pool(n: int) -> dict[str, int]:
        pool.run(0.2)
        return {"n": n}

    with serving(app) as base, ThreadPoolExecutor(8) as ex:
        answers = list(ex.map(lambda n: httpx.get(f"{base}/lane/{n}", params={"tag": f"t{n}"}, timeout=30),
                              range(8)))
        pooled = list(ex.map(lambda n: httpx.get(f"{base}/pool/{n}", timeout=30), range(8)))
        bad = httpx.get(f"{base}/lane/seven", timeout=30)
    assert [a.json() for a in answers] == [{"n": n, "tag": f"t{n}"} for n in range(8)]
    assert all(p.status_code == 200 for p in pooled)
    assert lane.most == 2
    assert pool.most > 2  # the same load in the shared pool overlaps more: the limit is the lane's
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "n"]


def test_the_server_sizes_the_lane_and_the_collectors_thresholds(runtime: Runtime) -> None:
    thresholds = gc.get_threshold()
    runtime.settings.api_operation_threads = 3
    runtime.settings.gc_clock_s = 0.05
    young: list[float] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 0:
            young.append(time.monotonic())

    with serving(create_app(runtime, timers=False)) as base:
        assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
        assert 3 in [lane.total_tokens for lane in _LANES.values()]  # the server's loop's lane
        assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, thresholds[1], FULL_GC_THRESHOLD)
        gc.callbacks.append(note)
        try:
            time.sleep(0.6)  # an idle server: too few objects made for the count to start one
        finally:
            gc.callbacks.remove(note)
    assert gc.get_threshold() == thresholds  # given back when the server stops
    assert len(young) >= 4  # the clock's, every 0.05 s


@asynccontextmanager
async def no_lane_threads(_app: FastAPI) -> AsyncIterator[None]:
    size_operations_lane(0)
    yield


def test_a_lane_without_threads_runs_its_routes_on_the_event_loop() -> None:
    """0 threads: each request's route runs on the loop's own thread, one at a time, and keeps
    its parameters and validation; the shared pool still runs the rest."""
    app = FastAPI(lifespan=no_lane_threads)
    lane, ran_on, loop_thread = Busy(), set(), set()

    @app.get("/loop")
    async def on_loop() -> dict[str, int]:
        loop_thread.add(threading.get_ident())
        return {}

    @app.get("/lane/{n}")
    @operations_lane
    def in_lane(n: int) -> dict[str, int]:
        ran_on.add(threading.get_ident())
        lane.run(0.05)
        return {"n": n}

    @app.get("/pool")
    def in_pool() -> dict[str, int]:
        return {"thread": threading.get_ident()}

    with serving(app) as base, ThreadPoolExecutor(6) as ex:
        httpx.get(f"{base}/loop", timeout=30)
        answers = list(ex.map(lambda n: httpx.get(f"{base}/lane/{n}", timeout=30), range(6)))
        pooled = httpx.get(f"{base}/pool", timeout=30).json()["thread"]
        bad = httpx.get(f"{base}/lane/six", timeout=30)
    assert [a.json() for a in answers] == [{"n": n} for n in range(6)]
    assert ran_on == loop_thread and lane.most == 1
    assert pooled not in loop_thread
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "n"]
