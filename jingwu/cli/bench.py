"""`jingwu bench …`: benchmarks; each lives in its own module and is imported when run."""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks (figures go to docs/benchmarks.md)", no_args_is_help=True)
