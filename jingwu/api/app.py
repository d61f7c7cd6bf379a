"""The FastAPI application: routers, error shape, security and body limits, and the outbox relay,
background loops (``background.py``) and the collector's clock (``collector.py``) started and
stopped with the app."""

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
from jingwu.api.collector import collect_on_a_clock, set_serving_collector
from jingwu.api.errors import BodySizeLimit, install_error_handlers
from jingwu.api.lanes import size_operations_lane
from jingwu.api.routes import analysis, audit, auth, events, geocode, incidents, majors, pages, reference, units
from jingwu.api.routes import map as map_routes
from jingwu.api.runtime import Runtime, build_runtime
from jingwu.api.security import SecurityMiddleware
from jingwu.config import get_settings

log = logging.getLogger(__name__)


def create_app(runtime: Runtime, *, timers: bool = True, extra_routers: list | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        thresholds = set_serving_collector()
        size_operations_lane(runtime.settings.operation_threads())
        runtime.relay.start()
        if runtime.sealer is not None:
            runtime.sealer.start()
        tasks = [asyncio.create_task(job()) for job in background_jobs(runtime)] if timers else []
        if runtime.settings.gc_clock_s > 0:
            tasks.append(asyncio.create_task(collect_on_a_clock(runtime.settings.gc_clock_s)))
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
