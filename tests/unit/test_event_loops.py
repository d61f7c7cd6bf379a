"""The loop the NATS bus's thread and the benchmark's load generator run on."""

from __future__ import annotations

import asyncio

import pytest

from jingwu.bus.loops import loop_factory, new_event_loop


def test_uvloop_where_installed_as_uvicorn_serves():
    uvloop = pytest.importorskip("uvloop")  # uvicorn[standard] brings it; the fallback is asyncio's
    loop = new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(asyncio.sleep(0, result="ran")) == "ran"
    finally:
        loop.close()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)
