"""`jingwu bench drill`: how fast the drill runs a day (24 h of 3,000 calls with 80 units by default).

Each run builds the drill's own database and drives the real services on a simulated clock, so
the time is dominated by the services themselves; the benchmark shows where it goes: per service
call (from the drill's own timers) and, with ``--profile``, by layer (self time of the functions in
jingwu.sim, jingwu.services, jingwu.store, jingwu.geo, SQLAlchemy, the SQLite driver, numpy/scipy).
CPU time is recorded beside wall-clock time: on a shared 2-core machine the wall clock also
measures the neighbours. Repeated runs must give identical figures (the seed fixes everything).
"""

from __future__ import annotations

import cProfile
import json
import pstats
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from jingwu.config import get_settings

console = Console(width=120)

LAYERS = (
    ("jingwu/sim/", "jingwu.sim (the drill)"),
    ("jingwu/services/", "jingwu.services"),
    ("jingwu/store/", "jingwu.store"),
    ("jingwu/geo/", "jingwu.geo"),
    ("jingwu/domain/", "jingwu.domain"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("sqlite3", "SQLite driver"),
    ("numpy/", "numpy/scipy"),
    ("scipy/", "numpy/scipy"),
)


def by_layer(stats: pstats.Stats) -> dict[str, float]:
    """Self time per layer, from a cProfile of the drill."""
    out: dict[str, float] = defaultdict(float)
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        tottime = row[2]
        where = filename.replace("\\", "/")
        label = "other (Python, stdlib)"
        if "sqlite3.Cursor" in name or "sqlite3.Connection" in name:
            label = "SQLite driver"
        else:
            for prefix, layer in LAYERS:
                if prefix in where:
                    label = layer
                    break
        out[label] += tottime
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def drill(
    hours: float = typer.Option(24.0, help="simulated hours"),
    calls_per_day: float = typer.Option(3000.0, help="calls a day"),
    units: int = typer.Option(80, help="units on duty"),
    seed: int = typer.Option(1),
    travel: str = typer.Option("road", help="road or straight"),
    repeat: int = typer.Option(2, min=1, help="runs (the figures must be identical)"),
    profile: Path | None = typer.Option(None, help="also profile one run (cProfile) and write it here"),
    json_out: Path | None = typer.Option(None, "--json", help="write the timings here"),
) -> None:
    """Time the drill: a day of calls through the real services on the simulated clock."""
    from jingwu.sim.runner import DrillSpec, run_fast

    settings = get_settings()
    spec = DrillSpec(hours=hours, calls_per_day=calls_per_day, units=units, seed=seed,
                     travel=travel)  # type: ignore[arg-type]
    run_fast(settings, DrillSpec(hours=0.1, calls_per_day=100, units=units, travel=spec.travel)).world.close()  # warm
    runs: list[dict[str, Any]] = []
    figures: list[dict[str, Any]] = []
    for k in range(repeat):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        out = run_fast(settings, spec)
        out.world.close()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        sim = out.report["simulation"]
        runs.append({"run": k + 1, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                     "simulate_s": sim["simulate_s"], "events": sim["events"], "calls": out.report["calls"]})
        figures.append({key: v for key, v in out.report.items() if key != "simulation"})
        console.print(f"run {k + 1}: {out.report['calls']:,} calls, {sim['events']:,} events in {wall:.2f} s wall "
                      f"({cpu:.2f} s CPU; simulating {sim['simulate_s']:.2f} s)")
    identical = all(f == figures[0] for f in figures[1:])
    console.print(f"figures identical across runs: {'[green]yes' if identical else '[red]NO'}")
    service_calls = out.report["simulation"]["service_calls"]
    table = Table(title="Service calls in the last run (CPU time of the drill's thread, and wall clock)")
    for col in ("service call", "calls", "CPU s", "CPU ms/call", "share", "wall s"):
        table.add_column(col, justify="left" if col == "service call" else "right")
    total = sum(row["cpu_seconds"] for row in service_calls.values())
    for name, row in service_calls.items():
        table.add_row(name, f"{row['calls']:,}", f"{row['cpu_seconds']:.2f}", f"{row['cpu_ms_per_call']:.2f}",
                      f"{100 * row['cpu_seconds'] / max(total, 1e-9):.0f}%", f"{row['seconds']:.2f}")
    console.print(table)
    layers: dict[str, float] = {}
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        out = run_fast(settings, spec)
        prof.disable()
        out.world.close()
        prof.dump_stats(str(profile))
        layers = by_layer(pstats.Stats(prof))
        lt = Table(title=f"Self time by layer under cProfile ({sum(layers.values()):.1f} s; profile in {profile})")
        lt.add_column("layer")
        lt.add_column("seconds", justify="right")
        lt.add_column("share", justify="right")
        for name, secs in layers.items():
            lt.add_row(name, f"{secs:.2f}", f"{100 * secs / sum(layers.values()):.0f}%")
        console.print(lt)
    result = {"spec": spec.__dict__, "runs": runs, "identical_figures": identical, "service_calls": service_calls,
              "layers_self_s": {k: round(v, 3) for k, v in layers.items()},
              "headline": {k: figures[-1][k] for k in ("calls", "incidents", "max_queue")}}
    if json_out:
        json_out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        console.print(f"timings written to {json_out}")
