"""`jingwu serve` and `jingwu demo`: run the command system over HTTP."""

from __future__ import annotations

import secrets
from pathlib import Path

import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from jingwu.api.app import create_app
from jingwu.api.runtime import Runtime, build_runtime
from jingwu.cli.workers import SERVER_OPTIONS, check_port_free, serve_workers
from jingwu.config import Settings, get_settings
from jingwu.domain.errors import DomainError
from jingwu.services.accounts import check_password_rules
from jingwu.services.demo import DEMO_USERS, seed_andorra, staffed_units
from jingwu.store import tables as t
from jingwu.store.engine import build_engine
from jingwu.store.migrate import upgrade

console = Console()


def _serve(runtime: Runtime, host: str, port: int) -> None:
    app = create_app(runtime)
    uvicorn.run(app, host=host, port=port, **SERVER_OPTIONS)


def serve(
    host: str = typer.Option(None, help="address to listen on (default JINGWU_HOST or 127.0.0.1)"),
    port: int = typer.Option(None, help="port (default JINGWU_PORT or 8000)"),
    workers: int = typer.Option(1, min=1, max=64, help="worker processes (more than one needs JINGWU_BUS_URL=nats://…)"),
) -> None:
    """Serve jingwu on the database at JINGWU_DATABASE_URL."""
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    if workers > 1:
        if not settings.bus_url.startswith("nats://"):
            console.print("[red]--workers > 1 needs a shared event bus: set JINGWU_BUS_URL=nats://host:4222")
            raise typer.Exit(2)
        if settings.database_url.startswith("sqlite"):
            console.print("[red]--workers > 1 needs PostgreSQL (JINGWU_DATABASE_URL=postgresql+psycopg://…)")
            raise typer.Exit(2)
        if "secret_key" not in settings.model_fields_set:
            console.print("[red]--workers > 1 needs JINGWU_SECRET_KEY, so every worker accepts the same tokens")
            raise typer.Exit(2)
        upgrade(build_engine(settings.database_url))
        try:
            check_port_free(host, port)
        except OSError as exc:
            console.print(f"[red]--port: cannot listen on {host}:{port}: {exc.strerror or exc}")
            raise typer.Exit(2) from exc
        console.print(f"jingwu serving on [bold]http://{host}:{port}[/] with {workers} workers")
        serve_workers(host, port, workers)
        return
    runtime = build_runtime(settings)
    console.print(f"jingwu serving on [bold]http://{host}:{port}[/] (API docs at /docs)")
    if not runtime.deps.org.units:
        console.print("[yellow]this database has no organisation yet, so nobody can log in: load yours with "
                      "`jingwu import org FILE.geojson` and `jingwu import units FILE.csv`, add accounts with "
                      "`jingwu user add`, then start again (docs/onboarding.md); `jingwu demo` shows a seeded one",
                      soft_wrap=True)
    _serve(runtime, host, port)


def demo(
    port: int = typer.Option(8000, help="port to serve on"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    fresh: bool = typer.Option(True, help="start from a fresh demo database (SQLite default only)"),
    speed: float = typer.Option(30.0, min=0.1, help="live drill: simulated seconds per real second"),
    no_drill: bool = typer.Option(False, "--no-drill", help="serve without the live drill"),
) -> None:
    """Seed Andorra (7 parishes, 42 units, demo accounts) and serve it, with a live drill running
    against it (calls arriving, units dispatched, moving and clearing) unless --no-drill."""
    settings = get_settings()
    url = settings.database_url
    if url == Settings.model_fields["database_url"].default:
        url = f"sqlite:///{settings.data_dir / 'demo.db'}"
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{settings.data_dir / 'demo.db'}{suffix}").unlink(missing_ok=True)
    settings = settings.model_copy(update={"database_url": url})
    password = settings.demo_password or secrets.token_urlsafe(9) + "A1"
    try:
        for username in (*(name for name, _ in DEMO_USERS), "officer"):
            check_password_rules(password, username)
    except DomainError as e:
        console.print(f"[red]JINGWU_DEMO_PASSWORD: {e.message}")
        raise typer.Exit(2) from e
    engine = build_engine(url)
    with console.status("preparing the database…"):
        upgrade(engine)
        with engine.connect() as conn:
            seeded = conn.execute(select(func.count()).select_from(t.org_units)).scalar_one() > 0
    if not seeded:
        with console.status("seeding Andorra from OpenStreetMap…"):
            seed = seed_andorra(engine, password)
        console.print(f"[green]seeded Andorra: {seed.org_units} org units, {seed.units} units")
    else:
        console.print("[yellow]database already seeded; demo passwords are as first set")
    runtime = build_runtime(settings, engine=engine, migrate=False)
    table = Table(title="demo accounts", show_lines=False)
    table.add_column("user")
    table.add_column("role")
    table.add_column("password")
    for user, role in [("admin", "admin"), ("calltaker", "call-taker"), ("dispatcher", "dispatcher"),
                       ("commander", "commander"), ("officer", "officer (unit P07-01)"), ("analyst", "analyst"),
                       ("auditor", "auditor")]:
        table.add_row(user, role, password if not seeded else "(unchanged)")
    console.print(table)
    console.print(f"jingwu demo on [bold]http://{host}:{port}[/]  (API docs: http://{host}:{port}/docs)")
    console.print(f"database: {engine.url.render_as_string(hide_password=True)}  (other jingwu commands work on "
                  "it with JINGWU_DATABASE_URL set to this)", soft_wrap=True, highlight=False)
    if not no_drill:
        _start_drill(settings, host, port, password if not seeded else settings.demo_password, speed,
                     staffed_units(engine))
    _serve(runtime, host, port)


def _start_drill(settings: Settings, host: str, port: int, password: str | None, speed: float,
                 reserved: frozenset[str] = frozenset()) -> None:
    from jingwu.sim.live import DEMO_CALLS_PER_DAY, start_demo_drill

    if not password:
        console.print("[yellow]live drill off: the demo password is unknown (set JINGWU_DEMO_PASSWORD)")
        return
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    start_demo_drill(f"http://{local}:{port}", "dispatcher", password, speed=speed, data_dir=settings.data_dir,
                     timezone=settings.timezone, reserved_units=reserved)
    console.print(f"live drill: {DEMO_CALLS_PER_DAY:,.0f} calls a day at {speed:g}× real time, as the dispatcher "
                  f"(--no-drill to serve without it); it leaves {', '.join(sorted(reserved)) or 'no unit'} "
                  "to the officer terminal")
