"""The event loop for threads and tools that run their own: uvloop, as uvicorn serves on.

uvicorn's ``standard`` extra installs uvloop (not on Windows), and the server's own loop is one.
The NATS bus's thread and the intake benchmark's load generator made theirs with
``asyncio.new_event_loop()``, asyncio's pure-Python selector loop, which spends more CPU than
uvloop on each socket read and callback: on uvloop the benchmark's load generator took 12–18 %
less CPU a flow and the server 1–6 % less (docs/benchmarks.md, "Ninth session"). Where uvloop is
missing, asyncio's loop does the same work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new loop: uvloop's where installed, asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it wherever it builds
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def new_event_loop() -> asyncio.AbstractEventLoop:
    return loop_factory()()
