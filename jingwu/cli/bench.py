"""`jingwu bench …`: benchmarks; each lives in its own module (figures go to docs/benchmarks.md)."""

from __future__ import annotations

import typer

from jingwu.cli import bench_dispatch, bench_drill, bench_intake, bench_ui

app = typer.Typer(help="Benchmarks (figures go to docs/benchmarks.md)", no_args_is_help=True)
app.command("intake")(bench_intake.intake)
app.command("dispatch")(bench_dispatch.dispatch)
app.command("ui")(bench_ui.ui)
app.command("drill")(bench_drill.drill)
