"""`jingwu db …`: schema migrations."""

from __future__ import annotations

import typer
from rich.console import Console

from jingwu.config import get_settings
from jingwu.store.engine import build_engine
from jingwu.store.migrate import upgrade as run_upgrade

app = typer.Typer(help="Database schema", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Bring the database at JINGWU_DATABASE_URL up to date."""
    settings = get_settings()
    engine = build_engine(settings.database_url)
    run_upgrade(engine, revision)
    Console().print(f"[green]database at {engine.url.render_as_string(hide_password=True)} is at {revision}")
