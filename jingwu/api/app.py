"""The FastAPI application: routers, error shape, security and body limits, and the outbox relay
and background loops (``background.py``) started and stopped with the app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from jingwu import __version__
from jingwu.api.background import background_jobs
from jingwu.api.errors import BodySizeLimit, install_error_handlers
from jingwu.api.lanes import size_operations_lane
from jingwu.api.routes import analysis, audit, auth, events, geocode, incidents, majors, pages, reference, units
from jingwu.api.routes import map as map_routes
from jingwu.api.runtime import Runtime, build_runtime
from jingwu.api.security import SecurityMiddleware
from jingwu.config import get_settings

log = logging.getLogger(__name__)


YOUNG_GC_THRESHOLD = 20_000
"""Collect the young generation once 20,000 more objects were made than freed (CPython: 700)."""
FULL_GC_THRESHOLD = 100
"""Collect every generation once per 100 collections of the middle one (CPython: 10)."""


def set_serving_collector() -> tuple[int, int, int]:
    """Set the collector as the server runs it; returns the thresholds it replaced.

    Start-up objects (road graph, geocoder, catalogue) live for the whole run: freezing them keeps
    them out of the collector's way, or a full collection lands on one request in ~50 (see
    docs/geo.md). Requests make and drop thousands of objects: collecting the young generation once
    20,000 more have been made than freed, instead of 700, took ~5 % off the server's CPU per
    intake flow (docs/benchmarks.md, intake, sixth pass). A full collection walks every object made
    since start-up (the road searches kept, the row memo), and the worker waits; once per 100
    middle collections instead of 10 took the intake's p99 at 150 calls a second from a median of
    68 ms to 40 (docs/benchmarks.md, "The collector's full collections, ten times rarer"). The
    intake makes little cyclic garbage for it to free: the workers' memory after 40 s of that load
    was the same either way. The bench harnesses call this too, to measure what the server runs."""
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, thresholds[1], FULL_GC_THRESHOLD)
    return thresholds


def create_app(runtime: Runtime, *, timers: bool = True, extra_routers: list | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        thresholds = set_serving_collector()
        size_operations_lane(runtime.settings.operation_threads())
        runtime.relay.start()
        if runtime.sealer is not None:
            runtime.sealer.start()
        tasks = [asyncio.create_task(job()) for job in background_jobs(runtime)] if timers else []
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            runtime.relay.stop()
            if runtime.sealer is not None:
                runtime.sealer.stop()

    app = FastAPI(title="jingwu (警務)", version=__version__, lifespan=lifespan,
                  description="Public-safety command and service platform: 110 intake, dispatch, command centre.")
    app.state.runtime = runtime
    install_error_handlers(app)
    for r in (auth, incidents, units, reference, events, majors, audit, geocode, analysis, map_routes, pages):
        app.include_router(r.router)
    app.mount("/static", pages.static_files(), name="static")
    for router in extra_routers or []:
        app.include_router(router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "database": runtime.engine.dialect.name})

    app.add_middleware(SecurityMiddleware, settings=runtime.settings)  # headers, CSRF, rate limits
    app.add_middleware(BodySizeLimit, limit=runtime.settings.max_body_bytes)
    return app


def app_from_environment() -> FastAPI:
    """An app built from the environment's settings: the factory each worker process calls."""
    return create_app(build_runtime(get_settings(), migrate=False))
