"""`jingwu import …` and `jingwu export …`: road networks, an agency's organisation tree (GeoJSON)
and its units (CSV), in and out."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

T = TypeVar("T")

app = typer.Typer(help="Import road networks, the organisation tree and units", no_args_is_help=True)
export_app = typer.Typer(help="Export the organisation tree (GeoJSON) and units (CSV)", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)
CLI_ACTOR = "cli"
"""The actor named in the audit log for imports made with this command (run on the server itself)."""


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


def _refuse(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", soft_wrap=True, highlight=False)
    return typer.Exit(2)


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _refuse(f"{file}: not UTF-8 text") from None


def _database(migrate: bool = True) -> tuple[Engine, str]:
    """The configured database (with its schema brought up to date, for the imports) and where it is."""
    from jingwu.config import get_settings
    from jingwu.store.engine import build_engine
    from jingwu.store.migrate import upgrade

    engine = build_engine(get_settings().database_url)
    if migrate:
        upgrade(engine)
    return engine, engine.url.render_as_string(hide_password=True)


def _reading(read: Callable[[Connection], T]) -> tuple[T, str]:
    """What ``read`` makes of the configured database, and where that database is; an export
    creates nothing, so a database without jingwu's tables is refused, not made."""
    from sqlalchemy import inspect

    engine, where = _database(migrate=False)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("org_units"):
                raise _refuse(f"the database at {where} has no jingwu tables (jingwu db upgrade makes them)")
            return read(conn), where
    finally:
        engine.dispose()


def _writing(write: Callable[[Connection], T]) -> tuple[T, str]:
    """``write`` in one transaction on the configured database (its schema brought up to date
    first, its audit entries sealed after), and where that database is."""
    from jingwu.services.audit import seal_waiting

    engine, where = _database()
    try:
        with engine.begin() as conn:
            written = write(conn)
        seal_waiting(engine)
        return written, where
    finally:
        engine.dispose()


@app.command("org")
def org(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="GeoJSON FeatureCollection, one "
                                    "feature per org unit (docs/onboarding.md)")) -> None:
    """Add an agency's organisation tree and its stations' jurisdictions.

    A part of a tree may go under units already there. Checked whole, written in one
    transaction, audited."""
    import json

    from jingwu.domain.errors import DomainError
    from jingwu.interop.org_geojson import OrgFileError, org_units_from_geojson
    from jingwu.services.dependencies import utc_now
    from jingwu.services.organisation import import_org_units

    try:
        units = org_units_from_geojson(json.loads(_read(file)))
    except json.JSONDecodeError as exc:
        raise _refuse(f"{file}: not JSON: {exc}") from None
    except OrgFileError as exc:
        raise _refuse(f"{file}: {exc}") from None
    try:
        tree, where = _writing(lambda conn: import_org_units(conn, units, utc_now(), CLI_ACTOR))
    except DomainError as exc:
        raise _refuse(f"{file}: {exc.field}: {exc.message}") from None
    table = Table(title=f"organisation imported into {where}")
    table.add_column("level")
    table.add_column("added", justify="right")
    table.add_column("in all", justify="right")
    for level in dict.fromkeys(u.level for u in tree.units.values()):
        table.add_row(level.value, str(sum(u.level is level for u in units)),
                      str(sum(u.level is level for u in tree.units.values())))
    console.print(table)
    console.print("next: [bold]jingwu import units FILE.csv[/], [bold]jingwu user add …[/]; "
                  "a running server reads the tree when it starts")


@app.command("units")
def units(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV with a header row: "
                                      "call_sign,home_station,capabilities[,crew_size,id,status,lat,lon]")) -> None:
    """Add units from a roster (CSV). Checked whole, written in one transaction, audited."""
    from jingwu.domain.errors import DomainError
    from jingwu.interop.units_csv import UnitsFileError, unit_records_from_csv
    from jingwu.services.dependencies import utc_now
    from jingwu.services.organisation import load_org_tree
    from jingwu.services.units import import_units

    try:
        records = unit_records_from_csv(_read(file))
    except UnitsFileError as exc:
        raise _refuse(f"{file}: {exc}") from None
    try:
        added, where = _writing(lambda conn: import_units(conn, load_org_tree(conn), records, utc_now(), CLI_ACTOR))
    except DomainError as exc:  # the message names the line and the column
        raise _refuse(f"{file}: {exc.message}") from None
    table = Table(title=f"{len(added)} units imported into {where}")
    for column in ("station", "units", "crew", "available"):
        table.add_column(column, justify="left" if column == "station" else "right")
    for station in sorted({u.home_station for u in added}):
        mine = [u for u in added if u.home_station == station]
        table.add_row(station, str(len(mine)), str(sum(u.crew_size for u in mine)),
                      str(sum(u.status.value == "available" for u in mine)))
    console.print(table)


@export_app.command("org")
def export_org(out: Path = typer.Option(None, "--out", help="file to write (default: standard output)")) -> None:
    """The organisation tree as GeoJSON, as `jingwu import org` reads it (a template for an agency)."""
    import json

    from jingwu.interop.org_geojson import org_units_to_geojson
    from jingwu.services.organisation import load_org_tree

    tree, where = _reading(load_org_tree)
    if not tree.units:
        raise _refuse(f"the database at {where} has no organisation yet")
    _write(json.dumps(org_units_to_geojson(tree.units.values()), ensure_ascii=False, indent=1), out,
           f"{len(tree.units)} org units")


@export_app.command("units")
def export_units(out: Path = typer.Option(None, "--out", help="file to write (default: standard output)")) -> None:
    """Every unit as CSV, as `jingwu import units` reads it."""
    from jingwu.interop.units_csv import units_to_csv
    from jingwu.services.units import all_units

    found, where = _reading(all_units)
    if not found:
        raise _refuse(f"the database at {where} has no units yet")
    _write(units_to_csv(found), out, f"{len(found)} units")


def _write(text: str, out: Path | None, what: str) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    errors.print(f"wrote {what} to {out}", highlight=False)
