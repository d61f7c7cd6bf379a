"""The ``jingwu`` command. Sub-commands live in their own modules and are imported lazily,
so ``jingwu --help`` stays fast and no command pays for another's heavy imports."""

from __future__ import annotations

import typer

from jingwu.cli import analyze, audit, bench, db, drill, imports, retention, run, users

app = typer.Typer(help="jingwu (警務): public-safety command and service platform", no_args_is_help=True)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="user")
app.add_typer(imports.app, name="import")
app.add_typer(imports.export_app, name="export")
app.add_typer(analyze.app, name="analyze")
app.add_typer(analyze.report_app, name="report")
app.add_typer(bench.app, name="bench")
app.add_typer(audit.app, name="audit")
app.add_typer(retention.app, name="retention")
app.command("serve")(run.serve)
app.command("demo")(run.demo)
app.command("drill")(drill.drill)
