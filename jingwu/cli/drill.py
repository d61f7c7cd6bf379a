"""`jingwu drill`: run a drill (實戰演練) with the simulator.

Without ``--against`` it builds its own Andorra database and runs as fast as it can on a
simulated clock through the real services; with ``--against URL`` it drives that server over its
public HTTP API in scaled real time, as a load generator that behaves like a command centre.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from jingwu.config import get_settings

console = Console()


def _mmss(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = float(seconds)
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.0f}%"


def print_report(report: dict[str, Any], http: dict[str, Any] | None = None) -> None:
    sc = report["scenario"]
    console.rule(f"[bold]Drill 實戰演練 — {sc.get('jurisdiction', '')}")
    console.print(
        f"{sc.get('hours', 0):g} h from {sc.get('start', '')}, {sc.get('calls_per_day', 0):g} calls/day"
        f"{' (expected ' + format(sc['expected_calls'], ',.0f') + ')' if 'expected_calls' in sc else ''}, "
        f"{sc.get('units_on_duty', '?')} units on duty, seed {sc.get('seed')}, travel: {sc.get('travel')}")
    dup = report["duplicates"]
    by_p = report["incidents_by_priority"]
    console.print(
        f"[bold]{report['calls']:,}[/] calls → [bold]{report['incidents']:,}[/] incidents "
        f"(P1 {by_p['1']}, P2 {by_p['2']}, P3 {by_p['3']}, P4 {by_p['4']}); {dup['calls']} duplicate calls, "
        f"{dup['linked']} linked to the incident already on the board")
    table = Table(title="Response: call → first unit on scene (p50, p90, target, share on target); "
                        "queue: waiting for a free unit (share that waited, mean, p90)")
    for col in ("", "n", "p50", "p90", "target", "met", "waited", "q mean", "q p90", "no unit"):
        table.add_column(col, justify="right")
    rt, qw = report["response_time_s"], report["queue_wait_s"]
    for p in ("1", "2", "3", "4", "all"):
        r, q = rt[p], qw[p]
        table.add_row(f"P{p}" if p != "all" else "all", str(r["n"] + r["unreached"]), _mmss(r["p50"]),
                      _mmss(r["p90"]), _mmss(r.get("target_s")), _pct(r.get("met_share")),
                      _pct(q.get("waited_share")), _mmss(q["mean"]), _mmss(q["p90"]), str(r["unreached"]))
    console.print(table)
    util = report["utilisation"]
    ut = Table(title=f"Unit utilisation: {_pct(util.get('overall'))} of unit time on incidents "
                     f"(per unit {_pct(util['per_unit']['min'])}–{_pct(util['per_unit']['max'])})"
               if util.get("overall") is not None else "Unit utilisation")
    ut.add_column("units")
    ut.add_column("n", justify="right")
    ut.add_column("utilisation", justify="right")
    for name, row in util.get("by_kind", {}).items():
        ut.add_row(name, str(row["units"]), _pct(row["utilisation"]))
    for name, row in util.get("by_station", {}).items():
        ut.add_row(f"station {name}", str(row["units"]), _pct(row["utilisation"]))
    console.print(ut)
    travel = report["travel_s"]
    console.print(f"travel p50 {_mmss(travel['p50'])}, p90 {_mmss(travel['p90'])}; longest queue "
                  f"{report['max_queue']}; incidents never reached {report['unanswered']}")
    if report.get("recommendation_asked_again"):
        console.print(f"[yellow]{report['recommendation_asked_again']} recommended unit(s) refused at assignment "
                      "(the service re-ranked after the first assignment); the dispatcher asked again")
    sim = report.get("simulation")
    if sim:
        console.print(f"simulated {_mmss(sim['simulated_s'])} in [bold]{sim['wall_s']:.2f} s[/] "
                      f"({sim['simulate_s']:.2f} s simulating, {sim['simulate_cpu_s']:.2f} s of it on the CPU, "
                      f"{sim['events']:,} events; setup "
                      + ", ".join(f"{k} {v:.2f} s" for k, v in sim["setup_s"].items()) + ")")
        st = Table(title="Where the simulation's time went (real services, in process)")
        for col in ("service call", "calls", "seconds", "ms/call", "CPU ms/call"):
            st.add_column(col, justify="right" if col != "service call" else "left")
        for name, row in sim["service_calls"].items():
            st.add_row(name, f"{row['calls']:,}", f"{row['seconds']:.2f}", f"{row['ms_per_call']:.2f}",
                       f"{row['cpu_ms_per_call']:.2f}")
        console.print(st)
    if http:
        ht = Table(title=f"HTTP: {http['requests']:,} requests in {http['seconds']} s "
                         f"({http['requests_per_s']}/s), {http['failures']} failed")
        for col in ("endpoint", "requests", "p50 ms", "p90 ms", "p99 ms", "status"):
            ht.add_column(col, justify="right" if col not in ("endpoint", "status") else "left")
        for name, row in http["endpoints"].items():
            ht.add_row(name, f"{row['requests']:,}", str(row["p50_ms"]), str(row["p90_ms"]), str(row["p99_ms"]),
                       " ".join(f"{k}×{v}" for k, v in row["status"].items()))
        console.print(ht)


def _write(report: dict[str, Any], json_out: Path | None, chart: Path | None) -> None:
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        console.print(f"figures written to {json_out}")
    if chart:
        from jingwu.sim.charts import report_chart

        chart.parent.mkdir(parents=True, exist_ok=True)
        report_chart(report, chart)
        console.print(f"chart written to {chart}")


def drill(
    hours: float = typer.Option(24.0, min=0.01, help="simulated hours of calls"),
    calls_per_day: float = typer.Option(1200.0, min=0.0, help="calls a day on average over the week "
                                        "(the fitted profile shapes them by weekday and hour)"),
    units: int | None = typer.Option(None, min=1, help="units on duty (default: the demo fleet, 42)"),
    seed: int = typer.Option(1, help="same seed, same calls and same figures"),
    start: str = typer.Option("2026-11-27T00:00", help="local start time (ISO 8601); the default is a Friday"),
    travel: str | None = typer.Option(None, help="road (road routes at graph speeds; the default unless "
                                      "JINGWU_ROADS_ENABLED=false) or straight (straight line)"),
    json_out: Path | None = typer.Option(None, "--json", help="write the figures here"),
    chart: Path | None = typer.Option(None, "--chart", help="write a PNG of the figures here"),
    against: str | None = typer.Option(None, help="drive the running server at this URL over HTTP instead"),
    rate: str = typer.Option("5/s", help="with --against: calls per second (e.g. 50/s, 600/min)"),
    duration: float = typer.Option(60.0, min=1.0, help="with --against: seconds of calls"),
    desks: int = typer.Option(4, min=1, max=64, help="with --against: dispatchers working in parallel"),
    user: str = typer.Option("dispatcher", help="with --against: account to log in with"),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="read the password from stdin (else JINGWU_DRILL_PASSWORD)"),
) -> None:
    """Run a drill: realistic calls through the real dispatch services, with a report of response
    times, queue waits and unit utilisation."""
    settings = get_settings()
    travel = travel or ("road" if settings.roads_enabled else "straight")
    if travel not in ("road", "straight"):
        raise typer.BadParameter("travel must be road or straight", param_hint="--travel")
    if against:
        from jingwu.sim.live import LiveSpec, parse_rate, rate_to_speed, run_live

        password = sys.stdin.readline().rstrip("\n") if password_stdin else settings.drill_password
        if not password:
            console.print("[red]give the password with --password-stdin or JINGWU_DRILL_PASSWORD")
            raise typer.Exit(2)
        try:
            per_s = parse_rate(rate)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--rate") from exc
        spec = LiveSpec(url=against, username=user, password=password, speed=rate_to_speed(per_s, calls_per_day),
                        calls_per_day=calls_per_day, seed=seed, duration_s=duration, desks=desks,
                        position_every_s=None, road_legs=False, steady=True, data_dir=settings.data_dir,
                        timezone=settings.timezone, drain_s=min(30.0, duration))
        from jingwu.sim.http_desk import HttpError

        try:
            with console.status(f"driving {against} at {per_s:g} calls/s for {duration:g} s with {desks} desks…"):
                result = run_live(spec)
        except HttpError as exc:
            console.print(f"[red]{exc}")
            raise typer.Exit(1) from exc
        result.report["http"] = result.http
        if result.errors:
            result.report["errors"] = result.errors
            console.print(f"[yellow]{len(result.errors)} request(s) failed, first: {result.errors[0]}")
        print_report(result.report, result.http)
        _write(result.report, json_out, chart)
        return
    from jingwu.sim.runner import DrillSpec, run_fast

    spec_fast = DrillSpec(hours=hours, calls_per_day=calls_per_day, units=units, seed=seed, start=start,
                          travel=travel)  # type: ignore[arg-type]
    with console.status("running the drill…"):
        out = run_fast(settings, spec_fast)
    out.world.close()
    print_report(out.report)
    _write(out.report, json_out, chart)
