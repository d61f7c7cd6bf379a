"""Which threads run which requests: a small lane for the command centre's short requests.

FastAPI runs a plain ``def`` route in AnyIO's shared pool of 40 threads. Under load, every request
in flight then has a thread wanting the GIL: with 8 intake clients the server spent about a third
of its CPU in the kernel switching between them (``perf``: futex waits in ``take_gil``). The
routes a call-taker, dispatcher and unit hit on every call (intake, the incident, duplicates,
transitions, recommendations, assignment, unit status and position) are short and run here, on
``Settings.operation_threads()`` threads: 2 across a network, 1 for SQLite, and none for
PostgreSQL on this machine, where they run on the event loop itself, one at a time, between the
loop's other work (a local round trip is shorter than handing a request to a thread and back).
Everything else (reports, analysis, exports, lists) stays in the shared pool, so a slow report
never holds up a dispatch.

Measured with ``jingwu bench intake --backend postgresql`` (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar
from weakref import WeakKeyDictionary, WeakSet

import anyio.to_thread
from anyio import CapacityLimiter

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_THREADS = 2
"""A lane's threads until the server sizes it (apps built without ``create_app``: tests)."""
_LANES: WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = WeakKeyDictionary()
"""One lane per event loop: an AnyIO limiter wakes its waiters from the loop that releases it, so
two servers in one process (tests, the UI benchmark) must not share one."""
_ON_THE_LOOP: WeakSet[asyncio.AbstractEventLoop] = WeakSet()
"""Event loops whose lane has no threads: its routes run on the loop itself."""


def operations_limiter() -> CapacityLimiter:
    """The operations lane of the running event loop (``create_app`` sizes it at start-up)."""
    loop = asyncio.get_running_loop()
    lane = _LANES.get(loop)
    if lane is None:
        lane = _LANES[loop] = CapacityLimiter(DEFAULT_THREADS)
    return lane


def size_operations_lane(threads: int) -> None:
    """Give the running event loop's lane ``threads`` threads; 0 runs its routes on the loop."""
    loop = asyncio.get_running_loop()
    if threads == 0:
        _ON_THE_LOOP.add(loop)
    else:
        _ON_THE_LOOP.discard(loop)
        operations_limiter().total_tokens = threads


def operations_lane(route: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Run a synchronous route in the operations lane instead of the shared pool.

    The wrapper is ``async`` (FastAPI awaits it on the event loop) and keeps the route's signature
    (``functools.wraps``), from which FastAPI reads the parameters and their annotations."""

    @functools.wraps(route)
    async def in_lane(*args: P.args, **kwargs: P.kwargs) -> R:
        if asyncio.get_running_loop() in _ON_THE_LOOP:
            return route(*args, **kwargs)
        return await anyio.to_thread.run_sync(functools.partial(route, *args, **kwargs),
                                              limiter=operations_limiter())

    return in_lane
