"""`python -m jingwu` runs the command line."""

from jingwu.cli import app

app()
