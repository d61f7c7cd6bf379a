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
"""

from __future__ import annotations

import argparse
import random
import tempfile
import uuid
from pathlib import Path

from jingwu.api.runtime import build_runtime
from jingwu.cli.bench_intake import PLACES, TYPES, _drop, _prepare
from jingwu.config import Settings
from jingwu.domain.access import Actor, Role
from jingwu.domain.geography import GeoPoint
from jingwu.services.dispatch import recommend_units
from jingwu.services.intake import ReceiveCall, receive_call

WARM_UP = 40
DISPATCHER = Actor(username="dispatcher", role=Role.DISPATCHER, org_code="", scope=None)


def flows(n: int, pg_url: str | None, two_requests: bool = False) -> int:
    """Seed, warm up, then run ``n`` flows; returns the units recommended in all."""
    with tempfile.TemporaryDirectory(prefix="jingwu-intake-cycle-") as tmp:
        url = _prepare("postgresql" if pg_url else "sqlite", Path(tmp), pg_url or "")
        runtime = build_runtime(Settings(database_url=url))  # the road cache in .jingwu, as the demo
        rng = random.Random(0)
        try:
            recommended = 0
            for i in range(WARM_UP + n):
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
        finally:
            runtime.close()
            if pg_url:
                _drop(url, pg_url)
    return recommended


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="flows after the warm-up")
    parser.add_argument("--pg", default=None, help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--two-requests", action="store_true", help="recommend in a second call, not at intake")
    args = parser.parse_args()
    print(flows(args.n, args.pg, args.two_requests))


if __name__ == "__main__":
    main()
