"""The intake benchmark's target and the median of repeated runs.

Why: issue 2 asks for ≥ 500 incidents a second, sustained, with p99 ≤ 50 ms, on two cores with
PostgreSQL, and the machines it runs on move the same code's figures by up to 2× from one run to
the next (docs/benchmarks.md). One run says little; the notes have run the benchmark again and
again by hand and quoted medians and "met in k of n runs". ``jingwu bench intake --repeat N`` does
that itself, with the rule written down once, here.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

TARGET_PER_S = 500.0
"""Flows a second the server must sustain (issue 2)."""
TARGET_P99_MS = 50.0
"""The 99th percentile of a flow's time, in ms, at that rate (issue 2)."""


def meets_target(run: Mapping[str, Any], per_s: float = TARGET_PER_S, p99_ms: float = TARGET_P99_MS) -> bool:
    """A run met the target: at least ``per_s`` flows a second, flow p99 at most ``p99_ms``, no errors."""
    done, p99, errors = run.get("throughput_per_s"), run.get("flow_p99_ms"), run.get("errors")
    if not isinstance(done, int | float) or not isinstance(p99, int | float):
        return False
    return errors == 0 and done >= per_s and p99 <= p99_ms  # a NaN p99 (no flows) fails


def median_run(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Each figure's median over ``runs`` (taken figure by figure, so not any one run's).

    Counts stay whole numbers; a text the runs share is kept, one they differ in is None; the
    machine's reference loop ("before/after") is the median of each side; the backend says how
    many runs it sums up."""
    if not runs:
        raise ValueError("no runs to take the median of")
    out: dict[str, Any] = {}
    for key in runs[0]:
        values = [r[key] for r in runs if r.get(key) is not None]
        if not values:
            out[key] = None
        elif key == "machine_ms":
            sides = [[float(x) for x in str(v).split("/")] for v in values]
            out[key] = "/".join(f"{round(statistics.median(side), 2):g}" for side in zip(*sides, strict=True))
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):  # counts stay whole
            out[key] = round(statistics.median(values))
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            out[key] = round(statistics.median(values), 2)
        else:
            out[key] = values[0] if all(v == values[0] for v in values) else None
    out["backend"] = f"{runs[0]['backend']}, median of {len(runs)}"
    return out
