"""The intake benchmark's request through the whole app in-process: ``intake_cycle`` plus FastAPI,
its middleware, authentication, validation and serialising, without sockets or the load generator.

Each flow is ``POST /api/incidents?recommend=10&routes=true`` handed to the ASGI app as uvicorn
would hand it (one ``http.request`` message, a bearer token, an Idempotency-Key), on the event
loop as the server runs the operations lane on PostgreSQL, at the benchmark's seven places with
its jitter. Subtracting ``intake_cycle``'s figure from this one gives what the HTTP stack costs a
flow. Count instructions as for ``intake_cycle`` (run 0 and N, subtract), or time it::

    .venv/bin/python -m tests.bench.asgi_cycle 800 --timed --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python -m tests.bench.asgi_cycle 300 --profile /tmp/asgi.prof --pg …   # cProfile of the flows
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jingwu.api.app import create_app
from jingwu.api.collector import set_serving_collector
from jingwu.api.lanes import size_operations_lane
from jingwu.api.runtime import build_runtime
from jingwu.cli.bench_intake import PASSWORD, PLACES, TYPES, _drop, _prepare
from jingwu.cli.cpu_meter import CpuMeter
from jingwu.config import Settings

WARM_UP = 40
Message = dict[str, Any]


async def call(app: Callable[..., Awaitable[None]], method: str, path: str, body: bytes = b"",
               headers: dict[str, str] | None = None, query: str = "") -> tuple[int, bytes]:
    """One request through the ASGI app; its status and body."""
    raw_headers = [(b"host", b"127.0.0.1:8790"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
             "root_path": "", "headers": raw_headers, "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 8790), "state": {}}
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # as a connection that stays open
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _flows(app: Any, n: int, timed: bool, meter: CpuMeter, profile: str | None) -> int:
    form = urlencode({"username": "calltaker", "password": PASSWORD}).encode()
    status, got = await call(app, "POST", "/api/auth/token", form,
                             {"content-type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise SystemExit(f"login: {status} {got[:200]!r}")
    token = json.loads(got)["access_token"]
    rng = random.Random(0)
    query = urlencode({"recommend": 10, "routes": "true"})
    recommended = 0
    profiler = cProfile.Profile() if profile else None
    started = 0.0
    for i in range(WARM_UP + n):
        if i == WARM_UP:
            if timed:
                meter.start()
                started = time.perf_counter()
            if profiler:
                profiler.enable()
        lat, lon = rng.choice(PLACES)
        body = json.dumps({"type": rng.choice(TYPES), "description": "asgi cycle",
                           "location": {"lat": lat + rng.uniform(-.002, .002),
                                        "lon": lon + rng.uniform(-.002, .002)}}).encode()
        status, got = await call(app, "POST", "/api/incidents", body,
                                 {"content-type": "application/json", "authorization": f"Bearer {token}",
                                  "idempotency-key": uuid.uuid4().hex}, query)
        if status != 201:
            raise SystemExit(f"intake: {status} {got[:300]!r}")
        # counted in the bytes, as the load generator does: json.loads of the answer's ten routes
        # (~15 KB) is ~0.3 ms, a tenth of the flow, and would be counted as the server's
        recommended += got.count(b'"unit_id":') if i >= WARM_UP else 0
    if profiler and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    if timed:
        wall = time.perf_counter() - started
        meter.stop()
        db = f"{1e3 * meter.database_s / n:.3f}" if meter.database_s is not None else "–"
        print(f"per flow (ms): wall {1e3 * wall / n:.3f}, this process's CPU "
              f"{1e3 * (meter.client_s or 0) / n:.3f}, database CPU {db}")
    return recommended


def flows(n: int, pg_url: str | None, timed: bool = False, profile: str | None = None) -> int:
    """Seed, warm up, then run ``n`` flows through the app; returns the units recommended in all."""
    with tempfile.TemporaryDirectory(prefix="jingwu-asgi-cycle-") as tmp:
        url = _prepare("postgresql" if pg_url else "sqlite", Path(tmp), pg_url or "")
        runtime = build_runtime(Settings(database_url=url))
        app = create_app(runtime, timers=False)
        meter = CpuMeter(os.getpid(), "postgres" if pg_url else None)
        thresholds = gc.get_threshold()

        async def run() -> int:
            size_operations_lane(0)  # the lane on the loop, as the server runs it on PostgreSQL
            if timed or profile:
                set_serving_collector()
            return await _flows(app, n, timed, meter, profile)

        try:
            return asyncio.run(run())
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
            runtime.close()
            if pg_url:
                _drop(url, pg_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="flows after the warm-up")
    parser.add_argument("--pg", default=None, help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--timed", action="store_true", help="print wall and CPU time per flow")
    parser.add_argument("--profile", default=None, help="write a cProfile of the flows here")
    args = parser.parse_args()
    print(flows(args.n, args.pg, args.timed, args.profile))


if __name__ == "__main__":
    main()
