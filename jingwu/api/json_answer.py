"""Answers of the hot routes written straight to JSON bytes, without FastAPI's second pass.

Why: a route that returns a model has it validated again against its ``response_model`` and then
written by pydantic. The intake's answer with ten routed units (13 kB, ~3,000 coordinates in
``route``, typed ``Any``) took ~270 µs a request that way in the server, ~6 % of its CPU a flow;
orjson writes the same JSON in a fraction of it (docs/benchmarks.md, "Answers written by orjson").

The route keeps its ``response_model`` for OpenAPI, and the payload is cut to that model's own
fields (``fields_of``), so the model still decides what leaves the server: a column added to a
row does not reach the answer until the model names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response

_OPTIONS = orjson.OPT_UTC_Z
"""UTC times end in ``Z``, as pydantic writes them."""


class JSONAnswer(Response):
    """A JSON answer written by orjson (times in ISO 8601, enums as their values, NaN as null)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_OPTIONS)


_MISSING = object()


@cache
def _fields(model: type[BaseModel]) -> tuple[tuple[str, Any], ...]:
    """Each field of ``model`` with its default (``_MISSING`` where it is required)."""
    return tuple((name, _MISSING if f.is_required() else f.get_default(call_default_factory=True))
                 for name, f in model.model_fields.items())


def fields_of(values: Mapping[str, Any], model: type[BaseModel], **more: Any) -> dict[str, Any]:
    """``values`` and ``more`` cut to ``model``'s fields, in its order, with its defaults for those
    missing (a default is written, never changed)."""
    out: dict[str, Any] = {}
    for name, default in _fields(model):
        value = more.get(name, _MISSING)
        if value is _MISSING:
            value = values.get(name, default)
        if value is _MISSING:
            raise KeyError(f"{model.__name__}.{name} has no value")
        out[name] = value
    return out
