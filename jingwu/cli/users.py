"""`jingwu user …`: accounts."""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer
from rich.console import Console
from sqlalchemy import Connection, make_url

from jingwu.config import get_settings
from jingwu.domain.access import Role
from jingwu.domain.errors import DomainError
from jingwu.services.accounts import add_user, disable_user, enable_user
from jingwu.services.audit import seal_waiting
from jingwu.services.dependencies import utc_now
from jingwu.services.organisation import load_org_tree
from jingwu.store.engine import build_engine
from jingwu.store.migrate import upgrade

app = typer.Typer(help="User accounts", no_args_is_help=True)
console = Console(stderr=True)
CLI_ACTOR = "cli"
"""The actor named in the audit log for changes made with this command (run on the server itself)."""


def _change(change: Callable[[Connection], object], done: str) -> None:
    """One account change in one transaction on the configured database; a refusal exits 2 with
    the field and the reason."""
    engine = build_engine(get_settings().database_url)
    upgrade(engine)
    try:
        with engine.begin() as conn:
            change(conn)
        seal_waiting(engine)  # PostgreSQL: link its audit entry now, not when a server next runs
    except DomainError as exc:
        console.print(f"[red]{exc.field}: {exc.message}" if exc.field else f"[red]{exc.message}", soft_wrap=True)
        raise typer.Exit(2) from exc
    console.print(f"[green]{done}")


@app.command("add")
def add(
    name: str = typer.Argument(..., help="user name"),
    role: Role = typer.Option(..., "--role", help="role"),
    org: str = typer.Option(..., "--org", help="org unit code, e.g. AD or AD-07-S1"),
    unit: str | None = typer.Option(None, "--unit", help="the officer's own unit id"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from standard input"),
) -> None:
    """Add a user with a role in an org unit."""
    if not password_stdin:
        console.print("[red]give the password on standard input with --password-stdin")
        raise typer.Exit(2)
    password = sys.stdin.readline().rstrip("\n")

    def add_to(conn: Connection) -> None:
        tree = load_org_tree(conn)
        if not tree.units:  # e.g. the default database, while `jingwu demo` keeps its own
            settings = get_settings()
            where = make_url(settings.database_url).render_as_string(hide_password=True)
            raise DomainError(f"the database at {where} has no organisation yet; set JINGWU_DATABASE_URL to the "
                              f"one to change (the demo's: sqlite:///{settings.data_dir / 'demo.db'})", field="org")
        add_user(conn, tree, name, password, role, org, utc_now(), unit_id=unit, by=CLI_ACTOR)

    _change(add_to, f"user {name} added ({role.value} at {org})")


@app.command("disable")
def disable(name: str = typer.Argument(..., help="user name")) -> None:
    """Disable a user and revoke every token they hold (within a few seconds on running servers)."""
    _change(lambda conn: disable_user(conn, name, utc_now(), by=CLI_ACTOR),
            f"user {name} disabled; their tokens no longer work")


@app.command("enable")
def enable(name: str = typer.Argument(..., help="user name")) -> None:
    """Enable a disabled or locked-out user again; tokens issued before stay revoked."""
    _change(lambda conn: enable_user(conn, name, utc_now(), by=CLI_ACTOR), f"user {name} enabled")
