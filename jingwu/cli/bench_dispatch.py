"""`jingwu bench dispatch`: how long a road-ETA recommendation takes, on Andorra and a 1M-node province.

Each query is what the dispatch service does per incident and capability: ``estimate()`` for the
10 best of the units on duty within an hour, with explanations and routes. Unit positions are
snapped once (as in service, where most units have not moved since the previous call); the
first, cold call is reported separately. Objects alive after start-up are moved out of the
garbage collector's reach (``gc.freeze()``) as a long-running server should do; ``--no-gc-freeze``
shows the difference. Wall-clock and CPU time are both recorded: on a shared
2-core machine the wall-clock p99 mostly measures the neighbours.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from jingwu.domain.geography import GeoPoint
from jingwu.domain.travel import UnitOrigin
from jingwu.geo.roads import RoadNetwork, load_road_network, shipped_andorra
from jingwu.geo.snapping import RoadSnapper
from jingwu.geo.synthetic import ProvinceGrid, load_province
from jingwu.geo.traffic import TrafficTable
from jingwu.geo.travel import RoadTravelTimes

console = Console(width=130)
RUSH_HOUR = datetime(2026, 3, 4, 7, 30, tzinfo=UTC)  # 08:30 in Andorra, a Wednesday: factors apply
WANT = 10
MAX_SECONDS = 3600.0


@dataclass
class Scenario:
    name: str
    network: RoadNetwork
    travel: RoadTravelTimes
    units: list[UnitOrigin]
    incidents: list[GeoPoint]

    def query(self, i: int) -> int:
        found = self.travel.estimate(
            self.incidents[i % len(self.incidents)], self.units, want=WANT, max_seconds=MAX_SECONDS, at=RUSH_HOUR
        )
        return len(found)


def _near_roads(network: RoadNetwork, count: int, rng: np.random.Generator, jitter_m: float) -> list[GeoPoint]:
    nodes = rng.choice(network.n_nodes, count, replace=count > network.n_nodes)
    dlat = rng.normal(0, jitter_m / 111_320, count)
    dlon = rng.normal(0, jitter_m / 82_000, count)
    return [
        GeoPoint(float(network.lat[v] + a), float(network.lon[v] + b))
        for v, a, b in zip(nodes.tolist(), dlat, dlon, strict=True)
    ]


def build_scenario(
    name: str, network: RoadNetwork, units: int, incidents: int = 500, seed: int = 1, piece_m: float = 40.0
) -> Scenario:
    """Units and incidents placed near random road nodes (a few metres off, so edges are snapped to)."""
    rng = np.random.default_rng(seed)
    travel = RoadTravelTimes(
        network, traffic=TrafficTable.default("Europe/Andorra"), snap=RoadSnapper(network, piece_m=piece_m)
    )
    origins = [UnitOrigin(f"U{i:05d}", p) for i, p in enumerate(_near_roads(network, units, rng, 15.0))]
    return Scenario(name, network, travel, origins, _near_roads(network, incidents, rng, 25.0))


def measure(scenario: Scenario, queries: int) -> dict[str, float | int]:
    started = time.perf_counter()
    scenario.query(0)  # snaps every unit once
    cold_ms = (time.perf_counter() - started) * 1000
    wall, cpu = [], []
    for i in range(1, queries + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        scenario.query(i)
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return {
        "nodes": scenario.network.n_nodes,
        "edges": scenario.network.n_edges,
        "units": len(scenario.units),
        "queries": queries,
        "p50_ms": round(float(np.percentile(wall, 50)), 3),
        "p99_ms": round(float(np.percentile(wall, 99)), 3),
        "max_ms": round(max(wall), 3),
        "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 3),
        "cpu_p99_ms": round(float(np.percentile(cpu, 99)), 3),
        "cold_first_query_ms": round(cold_ms, 1),
    }


def cache_load_ms(cache_dir: Path, repeats: int = 5) -> tuple[float, float]:
    """(cold build incl. parsing, median load from the ``.npz`` cache) for the shipped Andorra, in ms."""
    for old in cache_dir.glob("roads-andorra-*.npz"):
        old.unlink()
    started = time.perf_counter()
    load_road_network(shipped_andorra(), cache_dir)
    cold = (time.perf_counter() - started) * 1000
    loads = []
    for _ in range(repeats):
        started = time.perf_counter()
        load_road_network(shipped_andorra(), cache_dir)
        loads.append((time.perf_counter() - started) * 1000)
    return round(cold, 1), round(statistics.median(loads), 2)


def dispatch(
    json_out: Path | None = typer.Option(None, "--json", help="also write the figures as JSON here"),
    queries: int = typer.Option(500, help="incidents timed per scenario"),
    province: bool = typer.Option(True, help="include the generated 1M-node province (first run builds it, ~10 s)"),
    province_side: int = typer.Option(1024, help="the province grid is side x side nodes"),
    province_units: int = typer.Option(5000, help="units on duty in the province"),
    cache_dir: Path | None = typer.Option(None, help="graph caches (default JINGWU_DATA_DIR/roads)"),
    gc_freeze: bool = typer.Option(True, help="gc.freeze() after start-up, as a server should (see docs/geo.md)"),
) -> None:
    """Time road-ETA recommendations (p50/p99) on Andorra (40, 400 units) and a 1M-node province."""
    from jingwu.config import get_settings

    cache = cache_dir or get_settings().data_dir / "roads"
    cache.mkdir(parents=True, exist_ok=True)
    cold_ms, load_ms = cache_load_ms(cache)
    andorra = load_road_network(shipped_andorra(), cache)
    scenarios = [build_scenario("andorra_40", andorra, 40), build_scenario("andorra_400", andorra, 400)]
    if province:
        with console.status("loading (or generating) the province graph…"):
            started = time.perf_counter()
            big = load_province(cache, ProvinceGrid(side=province_side))
            province_load_s = time.perf_counter() - started
        scenarios.append(build_scenario("province_1m", big, province_units, piece_m=200.0))
    if gc_freeze:
        gc.collect()
        gc.freeze()  # without it a full collection of start-up objects lands on one query in ~50 (60+ ms)
    results = {}
    for scenario in scenarios:
        with console.status(f"timing {scenario.name}…"):
            n = queries if scenario.network.n_nodes < 200_000 else max(50, queries // 2)
            results[scenario.name] = measure(scenario, n)
    table = Table(title=f"road-ETA recommendation, want={WANT}, bound {MAX_SECONDS:.0f} s (ms)")
    for col in ("scenario", "nodes", "units", "p50", "p99", "max", "cpu p50", "cpu p99", "cold 1st"):
        table.add_column(col, justify="right")
    for name, r in results.items():
        table.add_row(
            name, f"{r['nodes']:,}", f"{r['units']:,}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
            f"{r['max_ms']:.2f}", f"{r['cpu_p50_ms']:.2f}", f"{r['cpu_p99_ms']:.2f}", f"{r['cold_first_query_ms']:.0f}",
        )  # fmt: skip
    console.print(table)
    console.print(f"Andorra graph: cold build {cold_ms:.0f} ms, load from cache {load_ms:.1f} ms (median of 5)")
    load_avg = os.getloadavg()[0]
    console.print(f"load average during the run: {load_avg:.2f} on {os.cpu_count()} cores")
    if json_out is not None:
        payload = {
            "scenarios": results,
            "andorra_graph": {"cold_build_ms": cold_ms, "cache_load_ms": load_ms},
            "load_average": round(load_avg, 2),
            "gc_frozen": gc_freeze,
        }
        if province:
            payload["province_graph"] = {"load_or_generate_s": round(province_load_s, 2)}
        json_out.write_text(json.dumps(payload, indent=2))
        console.print(f"wrote {json_out}")
