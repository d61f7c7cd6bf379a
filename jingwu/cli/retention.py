"""`jingwu retention run`: anonymise personal data past its retention period (also run daily by `serve`)."""

from __future__ import annotations

import typer

from jingwu.config import get_settings
from jingwu.geo.straight_line import StraightLineTravelTimes
from jingwu.services.catalogue import load_catalogue
from jingwu.services.dependencies import Dependencies
from jingwu.services.organisation import load_org_tree
from jingwu.services.retention import RetentionPolicy, run_retention
from jingwu.store.engine import build_engine
from jingwu.store.migrate import upgrade
from jingwu.store.unit_of_work import read_connection

app = typer.Typer(help="Retention of personal data", no_args_is_help=True)


@app.command("run")
def run(caller_days: int | None = typer.Option(None, "--caller-days", min=1,
                                               help="override JINGWU_RETENTION_CALLER_DAYS")) -> None:
    """Anonymise callers of incidents closed longer ago than the retention period; the purge is audited."""
    settings = get_settings()
    engine = build_engine(settings.database_url)
    upgrade(engine)
    with read_connection(engine) as conn:
        org = load_org_tree(conn)
    deps = Dependencies(engine=engine, catalogue=load_catalogue(), org=org,
                        travel=StraightLineTravelTimes(settings.straight_line_speed_kmh))
    policy = RetentionPolicy(caller_days=caller_days or settings.retention_caller_days)
    report = run_retention(deps, policy, actor="cli:retention")
    print(f"retention: {report.callers_anonymised} callers anonymised "
          f"(incidents closed before {report.cutoff.isoformat()}, {policy.caller_days} days)")
    engine.dispose()
