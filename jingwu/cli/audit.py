"""`jingwu audit …`: check the audit log's hash chain, export it.

``verify`` first seals the entries still waiting for their link (PostgreSQL writes them unsealed;
a running server seals them within a second). It exits 0 when the chain is intact and 1, naming
the first bad entry, when any entry was altered, removed or reordered. It prints the head (seq and
hash): keep it somewhere else and pass it back with ``--anchor SEQ:HASH`` next time, so that a cut
of the newest entries is caught too.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console

from jingwu.config import get_settings
from jingwu.domain.access import SYSTEM, Actor, Role
from jingwu.geo.straight_line import StraightLineTravelTimes
from jingwu.services.audit import AuditFilter, export_csv, seal_waiting, verify_chain
from jingwu.services.catalogue import load_catalogue
from jingwu.services.dependencies import Dependencies
from jingwu.services.organisation import load_org_tree
from jingwu.store.engine import build_engine
from jingwu.store.unit_of_work import read_connection

app = typer.Typer(help="The tamper-evident audit log", no_args_is_help=True)
console = Console(stderr=True)


def _anchor(text: str | None) -> tuple[int, str] | None:
    if not text:
        return None
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        console.print("[red]--anchor must be SEQ:HASH as printed by an earlier verify")
        raise typer.Exit(2)
    return int(seq), digest


@app.command("verify")
def verify(anchor: str | None = typer.Option(None, "--anchor", help="SEQ:HASH printed by an earlier run")) -> None:
    """Walk the hash chain; exit 1 naming the first entry that was altered, removed or reordered."""
    wanted = _anchor(anchor)
    engine = build_engine(get_settings().database_url)
    try:
        sealed = seal_waiting(engine)
        with read_connection(engine) as conn:
            report = verify_chain(conn, wanted)
    finally:
        engine.dispose()
    if sealed:
        console.print(f"sealed {sealed} entries that were waiting for their link")
    if report.unsealed:
        console.print(f"{report.unsealed} entries written since are not checked yet")
    if report.ok:
        print(f"audit log intact: {report.entries} entries; head {report.head_seq}:{report.head_hash}")
        return
    print(f"audit log TAMPERED: first bad entry seq {report.bad_seq}: {report.problem} "
          f"(last good entry {report.head_seq}:{report.head_hash})")
    raise typer.Exit(1)


@app.command("export")
def export(
    out: Path | None = typer.Option(None, "--out", "-o", help="CSV file to write (default: standard output)"),
    actor: str | None = typer.Option(None, "--actor"),
    action: str | None = typer.Option(None, "--action", help="exact action, or a family ending in '.'"),
    since: datetime | None = typer.Option(None, "--since"),
    until: datetime | None = typer.Option(None, "--until"),
    by: str = typer.Option("operator", "--by", help="who is exporting (written to the audit log)"),
) -> None:
    """Export entries as CSV, oldest first; the export is itself recorded in the log."""
    settings = get_settings()
    engine = build_engine(settings.database_url)
    with read_connection(engine) as conn:
        org = load_org_tree(conn)
    deps = Dependencies(engine=engine, catalogue=load_catalogue(), org=org,
                        travel=StraightLineTravelTimes(settings.straight_line_speed_kmh))
    who = Actor(username=f"cli:{by}"[:64], role=Role.AUDITOR, org_code=SYSTEM.org_code, scope=None)
    lines = export_csv(deps, who, AuditFilter(actor=actor, action=action, since=since, until=until))
    if out is None:
        for chunk in lines:
            sys.stdout.write(chunk)
    else:
        with out.open("w", encoding="utf-8", newline="") as f:
            for chunk in lines:
                f.write(chunk)
        console.print(f"[green]audit log exported to {out}")
    engine.dispose()
