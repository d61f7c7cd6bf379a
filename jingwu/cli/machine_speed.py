"""How fast this machine runs Python right now: a fixed reference loop, timed beside a benchmark.

Why: the machines the benchmarks run on are shared, and the same code's throughput has moved by
2× between hours of one day (docs/benchmarks.md: 2.2–2.6 ms of server CPU a flow in a fast spell,
5–7 ms in a slow one). A figure recorded without the machine's speed at the time cannot be told
from a change in the code. The reference is the one the benchmark notes have quoted since
2026-12-06, ``python -m timeit "sum(i*i for i in range(100000))"``: the best of five repeats of
fifty loops, in milliseconds a loop. It is timed before the server starts and after it stops, so
the benchmark's own processes do not slow it.

It tells a slow machine, not every slow minute: it has read 2.84 ms on the fastest machine of the
notes and 5.1–5.6 ms on the slowest (2026-12-07), where the server's CPU a flow still moved
between 3.9 and 7.0 ms from run to run (what a tight loop leaves out: memory and caches shared
with neighbours). Runs are compared by the CPU a flow they report as well. It also times the
interpreter, not only the machine: on one machine it read 3.23–3.27 ms on Debian's optimised
Python 3.11 against 3.87–4.01 ms on an unoptimised pyenv build (2026-12-07, eighth session), so
figures compare only between runs on the same interpreter.
"""

from __future__ import annotations

import os
import platform
import sys
import timeit

STATEMENT = "sum(i*i for i in range(100000))"
LOOPS = 50
REPEATS = 5


def reference_ms(loops: int = LOOPS, repeats: int = REPEATS) -> float:
    """Milliseconds a loop of ``STATEMENT``, the best of ``repeats`` (``python -m timeit``'s figure)."""
    if loops < 1 or repeats < 1:
        raise ValueError("loops and repeats must be at least 1")
    best = min(timeit.repeat(STATEMENT, number=loops, repeat=repeats))
    return round(1000 * best / loops, 2)


def interpreter() -> str:
    """The Python that runs the benchmark and its server: version and the file it really is (a
    venv's ``python`` is a link to it). Builds of one version differ by ~10 % in the intake's CPU
    (above), and whether a build is optimised is not something ``sysconfig`` tells reliably (Debian
    builds with PGO and LTO and says neither), so the figures carry where they came from."""
    return (f"{platform.python_implementation()} {platform.python_version()} "
            f"({os.path.realpath(sys.executable)}, {platform.python_compiler()})")
