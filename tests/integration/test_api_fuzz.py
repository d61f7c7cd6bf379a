"""Fuzz the whole HTTP API with schemathesis against the app's own OpenAPI schema.

Every operation gets a bounded number of generated requests (``FUZZ_EXAMPLES`` valid and as many
invalid ones, derandomised so CI is reproducible), sent as the province administrator through the
ASGI app on a seeded SQLite database. Two checks: no 5xx, and every response matches the schema.
The number of cases run is printed (``fuzz: N cases``; run with ``-s`` to see it).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from itertools import product
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from jingwu.api.app import create_app
from jingwu.api.runtime import build_runtime
from jingwu.config import Settings
from tests.conftest import PASSWORD, fresh_engine

FUZZ_EXAMPLES = 50


@pytest.fixture
def fuzz_app(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    engine, url = fresh_engine("sqlite", tmp_path, tmp_path_factory)
    s = Settings(database_url=url, data_dir=tmp_path, secret_key="fuzz-secret-" + "x" * 32)
    runtime = build_runtime(s, engine=engine, migrate=False)
    app = create_app(runtime, timers=False)
    with TestClient(app) as client:
        r = client.post("/api/auth/token", data={"username": "admin", "password": PASSWORD})
        app.state.fuzz_headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        yield app
    runtime.close()


def _fuzzer(fuzz_app: Any, strategy: Any, label: str, cases: Counter[str]) -> Any:
    @given(case=strategy)
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
    def fuzz(case: Any) -> None:
        cases[label] += 1
        headers = {**fuzz_app.state.fuzz_headers, **(case.headers or {})}
        if case.path == "/api/auth/token":
            headers.pop("Authorization", None)
        case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

    return fuzz


def test_api_fuzz(fuzz_app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    cases: Counter[str] = Counter()
    failures: dict[str, str] = {}
    for loaded, mode in product(list(schema.get_all_operations()), list(GenerationMode)):
        operation = loaded.ok()
        label = f"{operation.method.upper()} {operation.path} ({mode.value})"
        try:
            _fuzzer(fuzz_app, operation.as_strategy(generation_mode=mode), label, cases)()
        except Unsatisfiable:
            continue  # nothing in this operation can be made invalid (no parameters, or only a free string)
        except (Exception, BaseExceptionGroup) as exc:  # one operation's failure must not hide the others'
            failures[label] = str(exc)[:3000]
    total = sum(cases.values())
    print(f"\nfuzz: {total} cases over {len(cases)} operation × mode pairs", file=sys.__stderr__)
    assert len(cases) >= 40, (sorted(cases), list(failures.items())[:2])
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
