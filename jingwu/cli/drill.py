"""`jingwu drill`: run a drill (實戰演練) with the simulator."""

from __future__ import annotations

import typer


def drill() -> None:
    """Run a drill."""
    typer.echo("drill: not yet available")
    raise typer.Exit(2)
