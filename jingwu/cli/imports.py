"""`jingwu import …`: bring road networks and records into jingwu."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Import road networks and data", no_args_is_help=True)
console = Console()


@app.command("roads")
def roads(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help=".osm.pbf, .osm, .osm.gz or OSMnx .graphml"),
    cache_dir: Path = typer.Option(None, help="where the built graph is cached (default JINGWU_DATA_DIR/roads)"),
    rebuild: bool = typer.Option(False, help="ignore an existing cache for this file"),
) -> None:
    """Build the driving network from an OpenStreetMap extract and cache it for fast start-up."""
    from jingwu.config import get_settings
    from jingwu.geo.geocoder import Geocoder
    from jingwu.geo.roads import RoadSettings, cache_key, file_sha256, load_road_network

    cache = cache_dir or get_settings().data_dir / "roads"
    if rebuild:
        key = cache_key(file_sha256(file), RoadSettings())
        for old in cache.glob(f"roads-*-{key}.npz"):
            old.unlink()
    started = time.perf_counter()
    with console.status(f"reading {file.name}…"):
        network = load_road_network(file, cache)
        geocoder = Geocoder(network)
    took = time.perf_counter() - started
    r = network.report
    table = Table(title=f"road network: {file.name}", show_header=False)
    for label, value in [
        ("nodes (largest strongly connected part)", f"{r.nodes:,}"),
        ("directed edges", f"{r.edges:,}"),
        ("dropped: unconnected parts / their nodes", f"{r.dropped_components:,} / {r.dropped_nodes:,}"),
        ("named streets (stretches)", f"{len(geocoder.street_names):,} ({len(geocoder.streets):,})"),
        ("named places and POIs", f"{len(network.places):,}"),
        ("sha256", r.sha256[:16] + "…"),
        ("from cache", "yes" if r.from_cache else "no (built now)"),
        ("time", f"{took:.2f} s"),
        ("cache", str(cache)),
    ]:
        table.add_row(label, value)
    console.print(table)
    if r.nodes == 0:
        raise typer.Exit(code=1)
