"""`jingwu bench …`: benchmarks; each lives in its own module and is imported when run."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Benchmarks (figures go to docs/benchmarks.md)", no_args_is_help=True)


@app.command("intake")
def intake(
    clients: int = typer.Option(16, help="concurrent clients"),
    seconds: float = typer.Option(20.0, help="how long each backend is driven"),
    backend: list[str] = typer.Option(["sqlite", "postgresql"], help="sqlite and/or postgresql"),
    pg_url: str = typer.Option("postgresql+psycopg://postgres@127.0.0.1:5432/test", envvar="JINGWU_BENCH_PG_URL",
                               help="PostgreSQL server to use (a scratch schema is created and dropped)"),
    port: int = typer.Option(8790, help="port for the server under test (127.0.0.1)"),
    json_out: Path | None = typer.Option(None, "--json", help="write the figures here"),
    workers: int = typer.Option(1, help="server worker processes for PostgreSQL (>1 uses NATS)"),
    nats_url: str = typer.Option("nats://127.0.0.1:4222", help="NATS server for --workers > 1"),
) -> None:
    """Intake throughput and latency over HTTP: create → recommend → commit → event published."""
    from jingwu.cli.bench_intake import intake as run

    run(clients, seconds, backend, pg_url, port, json_out, workers, nats_url)


from jingwu.cli import bench_ui  # noqa: E402  (the browser benchmark; playwright is imported when run)

app.command("ui")(bench_ui.ui)
