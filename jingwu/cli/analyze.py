"""`jingwu analyze …` and `jingwu report …`: analysis and early warning on places and times.

Every command reads incidents from a CSV (``--incidents``; columns ``time,lat,lon,type`` or mapped
with ``--columns``) and defaults to the packaged Chicago sample so a new install can try it at once.
Bad rows are listed by line number; unusable input exits non-zero with the reason.
"""

from __future__ import annotations

import itertools
import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from jingwu.analytics.records import IncidentRecords, RecordsError, parse_column_map

app = typer.Typer(help="Analysis and early warning (研判預警) on places and times", no_args_is_help=True)
report_app = typer.Typer(help="Reports (response times)", no_args_is_help=True)
console = Console()
if not console.is_terminal:  # piped or captured: wide enough for the backtest table on one line per model
    console = Console(width=170)
errors = Console(stderr=True)

DEMO_FILE = "chicago_aggravated_assaults_2010_2019.csv.gz"
IncidentsOpt = Annotated[Path | None, typer.Option("--incidents", help="CSV of incidents (default: packaged "
                                                   "Chicago aggravated assaults 2010-2019)")]
ColumnsOpt = Annotated[str | None, typer.Option("--columns", help="map names to columns, e.g. time=date,type=loc_cat")]
TypeOpt = Annotated[list[str] | None, typer.Option("--type", help="only these types (repeatable)")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="only incidents from this date (YYYY-MM-DD)")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="only incidents before this date (YYYY-MM-DD)")]
FromDbOpt = Annotated[bool, typer.Option("--from-db", help="read the incidents table (JINGWU_DATABASE_URL) "
                                         "instead of a CSV")]
StationOpt = Annotated[str | None, typer.Option(
    "--station", help="with --from-db: only this org unit's area (a station, or a district branch's stations)")]


def fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", soft_wrap=True)  # a path in it stays whole, to copy
    return typer.Exit(2)


def database_incidents(station: str | None, since: str | None, until: str | None) -> IncidentRecords:
    """The incidents table, read by the analysis service as the system actor (the operator running
    the command has the database itself)."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from jingwu.config import get_settings
    from jingwu.domain.access import SYSTEM
    from jingwu.domain.errors import DomainError
    from jingwu.services.analysis import AnalysisFilter, incident_records
    from jingwu.services.organisation import load_org_tree
    from jingwu.store.engine import build_engine
    from jingwu.store.unit_of_work import read_connection

    def moment(text: str | None, default: datetime) -> datetime:
        return default if not text else datetime.fromisoformat(text).replace(tzinfo=UTC)

    try:
        f = AnalysisFilter(since=moment(since, datetime(1970, 1, 1, tzinfo=UTC)),
                           until=moment(until, datetime.now(UTC)))
    except ValueError as exc:
        raise fail(f"--since/--until: {exc}") from exc
    engine = build_engine(get_settings().database_url)
    try:
        with read_connection(engine) as conn:
            f = replace(f, stations=load_org_tree(conn).under(station, "--station"))
            return incident_records(conn, SYSTEM, f)
    except DomainError as exc:
        raise fail(f"{exc.field}: {exc.message}") from exc
    except Exception as exc:  # a missing or unmigrated database: say which, do not dump a trace
        raise fail(f"cannot read incidents from {engine.url.render_as_string(hide_password=True)}: {exc}") from exc
    finally:
        engine.dispose()


def load_incidents(incidents: Path | None, columns: str | None, types: list[str] | None = None,
                   since: str | None = None, until: str | None = None, from_db: bool = False,
                   station: str | None = None) -> IncidentRecords:
    """Read, report bad rows, filter by type and period; exit 2 with the reason if unusable."""
    try:
        mapping = parse_column_map(columns)
        if from_db:
            if incidents is not None:
                raise fail("give either --incidents or --from-db, not both")
            records = database_incidents(station, since, until)
            if len(records) == 0:
                raise fail("no incidents in the database for that area and period")
        elif incidents is None:
            with resources.as_file(resources.files("jingwu.data") / DEMO_FILE) as demo:
                records = IncidentRecords.from_csv(demo, mapping)
        else:
            records = IncidentRecords.from_csv(incidents, mapping)
    except RecordsError as exc:
        raise fail(str(exc)) from exc
    if records.bad_rows:
        shown = "; ".join(f"line {b.line}: {b.reason}" for b in records.bad_rows[:10])
        more = f" (and {len(records.bad_rows) - 10} more)" if len(records.bad_rows) > 10 else ""
        errors.print(f"[yellow]skipped {len(records.bad_rows)} bad row(s):[/yellow] {shown}{more}")
    keep = np.ones(len(records), bool)
    if types:
        keep &= np.isin(records.type, types) | np.isin(records.family, types)
    try:
        if since:
            keep &= records.t >= np.datetime64(since, "s")
        if until:
            keep &= records.t < np.datetime64(until, "s")
    except ValueError as exc:
        raise fail(f"--since/--until: {exc}") from exc
    records = records.select(keep)
    if len(records) == 0:
        raise fail("no incidents left after filtering")
    inside = records.main_area()
    if not inside.all():
        errors.print(f"[yellow]left out {int((~inside).sum())} incident(s) far outside the area the rest fall in "
                     "(likely geocoding errors)[/yellow]")
        records = records.select(inside)
    return records


@app.command()
def hotspots(
    incidents: IncidentsOpt = None, columns: ColumnsOpt = None, type_: TypeOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, from_db: FromDbOpt = False, station: StationOpt = None,
    out: Annotated[Path, typer.Option("--out", help="directory for hotspots.geojson/.png/.html")] = Path("hotspots"),
    resolution: Annotated[int, typer.Option(help="H3 resolution (9 ≈ 0.1 km² hexagons)")] = 9,
    permutations: Annotated[int, typer.Option(help="Gi* permutations")] = 999,
    alpha: Annotated[float, typer.Option(help="false discovery rate")] = 0.05,
    bandwidth_m: Annotated[float | None, typer.Option(help="KDE bandwidth (default: cross-validated)")] = None,
    cell_m: Annotated[float, typer.Option(help="KDE grid cell, metres")] = 100.0,
    by_type: Annotated[bool, typer.Option("--by-type", help="also one map per type (≥ 30 incidents) in "
                                          "OUT/<type>/")] = False,
) -> None:
    """Kernel density, H3 counts and Getis-Ord Gi* hot/cold spots (FDR-controlled) as GeoJSON + PNG."""
    import re

    from jingwu.analytics.hotspots import density_surface, hex_hotspots
    from jingwu.analytics.maps import write_hotspot_maps

    records = load_incidents(incidents, columns, type_, since, until, from_db, station)
    selections = [(", ".join(type_) if type_ else "all types", records, out)]
    if by_type:
        kinds, counts = np.unique(records.type, return_counts=True)
        for kind in kinds[np.argsort(-counts)][counts[np.argsort(-counts)] >= 30]:
            folder = out / (re.sub(r"[^\w.-]+", "_", str(kind)).strip("_") or "type")
            selections.append((str(kind), records.select(records.type == kind), folder))
    table = Table(title=f"Hotspots (Gi* hot/cold hexagons at H3 res {resolution}, FDR {alpha:g})")
    for col in ("selection", "incidents", "KDE bandwidth", "hot", "cold", "incidents in hot spots", "files"):
        table.add_column(col, justify="left" if col in ("selection", "files") else "right")
    first, last = str(records.t[0])[:10], str(records.t[-1])[:10]
    for label, subset, folder in selections:
        with console.status(f"hotspots for {label}: {len(subset):,} incidents…"):
            surface = density_surface(subset, cell_m=cell_m, bandwidth_m=bandwidth_m)
            hexes = hex_hotspots(subset, resolution=resolution, permutations=permutations, alpha=alpha)
            write_hotspot_maps(surface, hexes, folder, f"{len(subset):,} incidents ({label}), {first} to {last}")
        share = hexes.counts[hexes.hot].sum() / max(hexes.counts.sum(), 1)
        table.add_row(label, f"{len(subset):,}", f"{surface.bandwidth_m:.0f} m", f"{int(hexes.hot.sum()):,}",
                      f"{int(hexes.cold.sum()):,}", f"{share:.1%}", f"{folder}/hotspots.{{geojson,png,html}}")
    console.print(table)


def _ci(values: dict[str, float], cis: dict[str, list[float]], key: str, pct: bool = True) -> str:
    v, (lo, hi) = values[key], cis[key]
    return f"{v:.1%} ({100 * lo:.1f}–{100 * hi:.1f})" if pct else f"{v:.2f} ({lo:.2f}–{hi:.2f})"


@app.command()
def forecast(
    backtest: Annotated[bool, typer.Option("--backtest", help="rolling-origin backtest of all four models")] = False,
    incidents: IncidentsOpt = None, columns: ColumnsOpt = None, type_: TypeOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, from_db: FromDbOpt = False, station: StationOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result as JSON")] = None,
    period: Annotated[str, typer.Option(help="day or week")] = "week",
    cell_m: Annotated[float, typer.Option("--cell-m", help="grid cell size, metres")] = 150.0,
    max_periods: Annotated[int | None, typer.Option(help="test periods (default 104 weeks / 180 days)")] = None,
    all_sources: Annotated[bool, typer.Option(help="also train on officer-initiated incidents")] = False,
    model: Annotated[str, typer.Option(help="model for the forecast map (without --backtest)")] = "seppexp",
    coverage: Annotated[float, typer.Option(help="share of the area to flag (without --backtest)")] = 0.05,
    out: Annotated[Path, typer.Option("--out", help="directory for forecast.geojson/.png")] = Path("forecast"),
) -> None:
    """Short-term grid forecasts: the next day/week as a map, or with --backtest hit rate / PAI / PEI
    per model with 95 % CIs."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from jingwu.analytics.backtest import backtest as run_backtest

    if period not in ("day", "week"):
        raise fail("--period must be day or week")
    if cell_m <= 0:
        raise fail("--cell-m must be positive")
    records = load_incidents(incidents, columns, type_, since, until, from_db, station)
    if not all_sources:
        dropped = len(records)
        records = records.public_initiated()
        dropped -= len(records)
        if dropped:
            console.print(f"left out {dropped:,} officer-initiated incidents (use --all-sources to keep them)")
    if not backtest:
        forecast_to_map(records, model, period, cell_m, coverage, out)
        return
    with Progress(TextColumn("backtest"), BarColumn(), TextColumn("{task.completed}/{task.total} periods"),
                  TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("backtest", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            result = run_backtest(records, period=period, cell_m=cell_m, max_periods=max_periods, progress=progress)
        except ValueError as exc:
            raise fail(str(exc)) from exc
    data = result.to_json()
    print_backtest(data)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(data, indent=1), encoding="utf-8")
        console.print(f"wrote {json_out}")


def forecast_to_map(records: IncidentRecords, model: str, period: str, cell_m: float, coverage: float,
                    out: Path) -> None:
    from jingwu.analytics.forecast_map import forecast_next, write_forecast

    try:
        with console.status(f"fitting {model} on {len(records):,} incidents…"):
            result = forecast_next(records, model, period, cell_m, coverage)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    console.print(f"{model}: {len(result.flagged):,} cells ({coverage:.0%} of the area) flagged for the {period} "
                  f"from {result.origin}")
    top = sorted(result.district_share.items(), key=lambda kv: -kv[1])[:8]
    console.print("flagged area by district (share of region in brackets): " + ", ".join(
        f"{d}: {s:.0%} ({result.district_area.get(d, 0):.0%})" for d, s in top))
    for path in write_forecast(result, out):
        console.print(f"wrote {path}")


def print_backtest(data: dict[str, Any]) -> None:
    table = Table(title=f"Backtest: {data['periods']} {data['period']}s, {data['test_incidents']:,} test incidents, "
                        f"{data['cell_m']:g} m cells (95 % bootstrap CIs)")
    table.add_column("model", no_wrap=True)
    for cov in ("1", "5", "10", "20"):
        table.add_column(f"hit @{cov}%", justify="right", no_wrap=True)
    table.add_column("PAI @5%", justify="right", no_wrap=True)
    table.add_column("PEI @5%", justify="right", no_wrap=True)
    table.add_column("hit @5%, grid ½ cell off", justify="right")
    for name, m in data["models"].items():
        style = "bold green" if name == data["best"] else None
        table.add_row(name, *(_ci(m["hit_rate"], m["hit_rate_ci95"], k) for k in ("0.01", "0.05", "0.1", "0.2")),
                      _ci(m["pai"], m["pai_ci95"], "0.05", pct=False), _ci(m["pei"], m["pei_ci95"], "0.05"),
                      f"{m['hit_rate_half_cell_shift']['0.05']:.1%}", style=style)
    console.print(table)
    versus = data["best_vs_retrospective_kde"]
    console.print(f"best: [bold]{data['best']}[/bold], catching {versus['ratio']:.3f}× the incidents of "
                  f"retrospective_kde at 5 % coverage (paired 95 % CI {versus['ratio_ci95'][0]:.3f}–"
                  f"{versus['ratio_ci95'][1]:.3f}); KDE bandwidth chosen from pre-test data: {data['kde_sigma_m']:g} m")
    shares = data["flagged_area_by_district"]
    best_share = shares["mean_flagged_share"][data["best"]]
    top = sorted(best_share.items(), key=lambda kv: -kv[1])[:5]
    console.print("flagged area at 5 % by district (best model, mean; share of region in brackets): " + ", ".join(
        f"{d}: {s:.0%} ({shares['district_area_share'].get(d, 0):.0%})" for d, s in top))


@app.command()
def surges(
    evaluate: Annotated[bool, typer.Option("--evaluate", help="measure detectors on injected outbreaks")] = False,
    incidents: IncidentsOpt = None, columns: ColumnsOpt = None, type_: TypeOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, from_db: FromDbOpt = False, station: StationOpt = None,
    freq: Annotated[str, typer.Option(help="day or hour")] = "day",
    last: Annotated[int, typer.Option(help="list alerts in the last N days/hours")] = 7,
    outbreaks: Annotated[int, typer.Option(help="injected outbreaks (with --evaluate)")] = 300,
    magnitude_sd: Annotated[float, typer.Option(help="outbreak size, in sds of the series, per bin")] = 2.0,
    duration: Annotated[int, typer.Option(help="outbreak length in bins")] = 3,
    json_out: Annotated[Path | None, typer.Option("--json", help="write alerts / evaluation as JSON")] = None,
) -> None:
    """Surge alerts (EARS C1/C2/C3, Poisson CUSUM) per station area and type family."""
    from jingwu.analytics.surge_evaluation import evaluate_detectors
    from jingwu.analytics.surges import count_series, surge_alerts

    if freq not in ("day", "hour"):
        raise fail("--freq must be day or hour")
    records = load_incidents(incidents, columns, type_, since, until, from_db, station)
    series = count_series(records, freq)
    unit = "area-days" if freq == "day" else "area-hours"
    if evaluate:
        try:
            ev = evaluate_detectors(series, outbreaks=outbreaks, duration=duration, magnitude_sd=magnitude_sd,
                                    eval_bins=730 if freq == "day" else 24 * 120)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        table = Table(title=f"{ev.outbreaks} injected outbreaks (+{ev.magnitude_sd:g} sd × {ev.duration} {freq}s) in "
                            f"{ev.series} real series over {ev.bins} {freq}s")
        for col in ("method", "sensitivity [95% CI]", f"false alarms / 100 {unit}", f"delay ({freq}s) mean/median"):
            table.add_column(col, justify="right")
        for s in ev.scores.values():
            table.add_row(s.method, f"{s.sensitivity:.1%} [{s.sensitivity_ci[0]:.1%}, {s.sensitivity_ci[1]:.1%}]",
                          f"{s.false_alarms_per_100:.2f}", f"{s.mean_delay:.2f} / {s.median_delay:g}")
        console.print(table)
        payload: Any = {m: {"sensitivity": s.sensitivity, "sensitivity_ci95": list(s.sensitivity_ci),
                            "false_alarms_per_100": s.false_alarms_per_100, "mean_delay": s.mean_delay,
                            "median_delay": s.median_delay} for m, s in ev.scores.items()}
    else:
        alerts = surge_alerts(series, last_bins=last)
        table = Table(title=f"Surge alerts, last {last} {freq}s")
        for col in ("at", "area", "family", "method", "observed", "expected", "statistic"):
            table.add_column(col)
        for a in alerts:
            table.add_row(a.at.isoformat(sep=" ", timespec="minutes"), a.area, a.family, a.method, str(a.observed),
                          f"{a.expected:.2f}", f"{a.statistic:.2f}")
        console.print(table)
        payload = [{"at": a.at.isoformat(), "area": a.area, "family": a.family, "method": a.method,
                    "observed": a.observed, "expected": a.expected, "statistic": a.statistic} for a in alerts]
    if json_out is not None:
        json_out.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        console.print(f"wrote {json_out}")


def _edges(text: str, name: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as exc:
        raise fail(f"{name}: expected comma-separated numbers, got {text!r}") from exc
    if len(values) < 2 or any(b <= a for a, b in itertools.pairwise(values)):
        raise fail(f"{name}: need at least two increasing edges")
    return values


@app.command()
def knox(
    incidents: IncidentsOpt = None, columns: ColumnsOpt = None, type_: TypeOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, from_db: FromDbOpt = False, station: StationOpt = None,
    last_days: Annotated[int | None, typer.Option(help="only the last N days of the records")] = 365,
    distance_bands: Annotated[str, typer.Option(help="distance band edges, metres")] = "0,100,200,300,400",
    time_bands: Annotated[str, typer.Option(help="time band edges, days")] = "0,7,14,21,28",
    permutations: Annotated[int, typer.Option(help="Monte Carlo permutations")] = 99,
    out: Annotated[Path | None, typer.Option("--out", help="directory for knox.csv and knox.png")] = None,
) -> None:
    """Knox test for near-repeats: observed/expected pairs per space-time band, Monte Carlo p-values."""
    from jingwu.analytics.nearrepeat import band_labels, knox_test, write_knox

    dist_edges, time_edges = _edges(distance_bands, "--distance-bands"), _edges(time_bands, "--time-bands")
    records = load_incidents(incidents, columns, type_, since, until, from_db, station)
    if last_days:
        records = records.select(records.t >= records.t[-1] - np.timedelta64(last_days, "D"))
    with console.status(f"Knox test on {len(records):,} incidents, {permutations} permutations…"):
        result = knox_test(records, dist_edges, time_edges, permutations)
    rows, cols = band_labels(result)
    table = Table(title=f"Knox ratios (observed/expected), {result.incidents:,} incidents; * p < 0.05")
    table.add_column("distance")
    for label in cols:
        table.add_column(label, justify="right")
    for d, label in enumerate(rows):
        table.add_row(label, *(f"{result.ratio[d, k]:.2f}{'*' if result.p_value[d, k] < 0.05 else ''}"
                               for k in range(len(cols))))
    console.print(table)
    if out is not None:
        for path in write_knox(result, out):
            console.print(f"wrote {path}")


def default_targets() -> dict[int, dict[str, int]]:
    """Stage targets per priority from the packaged incident-type catalogue."""
    text = (resources.files("jingwu.data") / "incident_types.json").read_text(encoding="utf-8")
    return {int(k): v for k, v in json.loads(text).get("targets", {}).items()}


@report_app.command()
def response(
    incidents: Annotated[Path | None, typer.Option("--incidents", help="CSV with time (received), dispatched, "
                                                   "arrived, station, priority columns")] = None,
    columns: ColumnsOpt = None, since: SinceOpt = None, until: UntilOpt = None, from_db: FromDbOpt = False,
    station: StationOpt = None,
    out: Annotated[Path, typer.Option("--out", help="directory for CSV tables, PNG charts, HTML")] = Path("response"),
    targets: Annotated[Path | None, typer.Option(help="JSON with per-priority targets (default: catalogue)")] = None,
) -> None:
    """Response-time percentiles by station, priority and hour against the targets."""
    from jingwu.analytics.response import response_report, write_response_report

    if incidents is None and not from_db:
        raise fail("give --incidents FILE.csv (with dispatched and arrived columns) or --from-db")
    records = load_incidents(incidents, columns, None, since, until, from_db, station)
    try:
        goal = default_targets() if targets is None else {
            int(k): v for k, v in json.loads(targets.read_text(encoding="utf-8")).get("targets", {}).items()}
    except (OSError, ValueError, AttributeError) as exc:
        raise fail(f"--targets: {exc}") from exc
    try:
        report = response_report(records, goal)
    except ValueError as exc:
        raise fail(f"{exc} (map them with --columns dispatched=…,arrived=…)") from exc
    table = Table(title="Response times by priority (seconds)")
    for col in ("priority", "incidents", "dispatch p50/p90", "arrival p50/p90", "total p50/p90", "total in target"):
        table.add_column(col, justify="right")
    for _, row in report.by_priority.iterrows():
        table.add_row(str(int(row["priority"])), str(int(row["incidents"])),
                      *(f"{row[f'{s}_p50_s']:.0f} / {row[f'{s}_p90_s']:.0f}"
                        for s in ("answer_to_dispatch", "dispatch_to_arrival", "total")),
                      f"{row['total_within_target']:.0%}")
    console.print(table)
    for path in write_response_report(report, out, goal):
        console.print(f"wrote {path}")
