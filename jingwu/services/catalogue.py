"""Loads the incident type catalogue shipped with jingwu (or an agency's own file)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from jingwu.domain.incident_types import IncidentTypeCatalogue, parse_catalogue


def load_catalogue(path: Path | None = None) -> IncidentTypeCatalogue:
    if path is None:
        text = resources.files("jingwu.data").joinpath("incident_types.json").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    return parse_catalogue(json.loads(text))
