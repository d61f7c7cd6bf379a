"""The intake benchmark's flow in-process, for counting instructions: what ``jingwu bench intake``
asks of the services, without HTTP, the event loop or the load generator.

A flow is ``receive_call`` asked for ten units (road ETAs and routes) in its answer, or with
``--two-requests`` ``receive_call`` then ``recommend_units`` (the same ten), at the
benchmark's seven places with the same jitter, on a freshly seeded Andorra database: SQLite by
default, PostgreSQL with ``--pg URL`` (a scratch schema, dropped at the end). Timing it on a shared
2-core machine swings by a third, so it is meant to run under callgrind twice and be subtracted
(only this process's instructions are counted, not PostgreSQL's)::

    for n in 0 300; do PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/ic.$n \
        .venv/bin/python -m tests.bench.intake_cycle $n --pg postgresql+psycopg://postgres@127.0.0.1:5432/test \
        2>&1 | grep Collected; done
    # (instructions at 300 - instructions at 0) / 300 = instructions per flow

Both runs seed, warm up and tear down alike, so the difference is the flows alone. Open incidents
pile up near the seven places as in the HTTP benchmark, so later flows find more duplicates.

With ``--timed`` it prints the flows' wall time, this process's CPU and PostgreSQL's (every
``postgres`` process, from /proc) per flow instead, with the collector set as the server sets it;
alternate two checkouts a few times and compare medians (docs/benchmarks.md, "Merged writes")::

    .venv/bin/python -m tests.bench.intake_cycle 800 --timed --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

from jingwu.api.collector import set_serving_collector
from jingwu.api.runtime import build_runtime
from jingwu.cli.bench_intake import PLACES, TYPES, _drop, _prepare
from jingwu.cli.cpu_meter import CpuMeter
from jingwu.config import Settings
from jingwu.domain.access import Actor, Role
from jingwu.domain.geography import GeoPoint
from jingwu.services.dispatch import recommend_units
from jingwu.services.intake import ReceiveCall, receive_call

WARM_UP = 40
DISPATCHER = Actor(username="dispatcher", role=Role.DISPATCHER, org_code="", scope=None)


def flows(n: int, pg_url: str | None, two_requests: bool = False, timed: bool = False) -> int:
    """Seed, warm up, then run ``n`` flows; returns the units recommended in all. ``timed``: print
    what the ``n`` flows cost (see the module's docstring)."""
    with tempfile.TemporaryDirectory(prefix="jingwu-intake-cycle-") as tmp:
        url = _prepare("postgresql" if pg_url else "sqlite", Path(tmp), pg_url or "")
        runtime = build_runtime(Settings(database_url=url))  # the road cache in .jingwu, as the demo
        rng = random.Random(0)
        meter = CpuMeter(os.getpid(), "postgres" if pg_url else None)
        thresholds = gc.get_threshold()
        if timed:
            set_serving_collector()
        try:
            recommended = 0
            for i in range(WARM_UP + n):
                if timed and i == WARM_UP:
                    meter.start()
                    started = time.perf_counter()
                lat, lon = rng.choice(PLACES)
                cmd = ReceiveCall(rng.choice(TYPES), GeoPoint(lat + rng.uniform(-.002, .002),
                                                              lon + rng.uniform(-.002, .002)),
                                  idempotency_key=uuid.uuid4().hex, request_hash="h",
                                  recommend=0 if two_requests else 10, routes=True)
                done = receive_call(runtime.deps, DISPATCHER, cmd)
                if two_requests:
                    got = len(recommend_units(runtime.deps, DISPATCHER, done.incident.id, 10))
                else:
                    got = len(done.recommendations or [])
                recommended += got if i >= WARM_UP else 0
            if timed:
                wall = time.perf_counter() - started
                meter.stop()
                db = f"{1e3 * meter.database_s / n:.3f}" if meter.database_s is not None else "–"
                print(f"per flow (ms): wall {1e3 * wall / n:.3f}, this process's CPU "
                      f"{1e3 * (meter.client_s or 0) / n:.3f}, database CPU {db}")
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
            runtime.close()
            if pg_url:
                _drop(url, pg_url)
    return recommended


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="flows after the warm-up")
    parser.add_argument("--pg", default=None, help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--two-requests", action="store_true", help="recommend in a second call, not at intake")
    parser.add_argument("--timed", action="store_true", help="print wall and CPU time per flow")
    args = parser.parse_args()
    print(flows(args.n, args.pg, args.two_requests, args.timed))


if __name__ == "__main__":
    main()
