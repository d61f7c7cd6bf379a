"""`jingwu bench intake` end to end: a real `jingwu serve` subprocess driven over HTTP for a moment,
on SQLite and (when configured) PostgreSQL, with its figures and CPU accounting."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from jingwu.cli.bench_intake import measure
from tests.integration.live_server import free_port


@pytest.mark.parametrize("backend,flow", [("sqlite", "one-request"), ("sqlite", "two-requests"),
                                          ("postgresql", "one-request")])
def test_a_short_run_creates_incidents_and_accounts_for_cpu(backend: str, flow: str) -> None:
    pg_url = os.environ.get("JINGWU_TEST_POSTGRES_URL")
    if backend == "postgresql" and not pg_url:
        pytest.skip("set JINGWU_TEST_POSTGRES_URL")
    # A thread of its own: an earlier test in the same worker may have left an event loop running here.
    with ThreadPoolExecutor(1) as pool:
        figures = pool.submit(measure, backend, 2, 2.0, free_port(), pg_url or "", flow=flow).result().as_dict()
    # An error is a refused request or an answer without the ranked units.
    assert figures["errors"] == 0 and int(figures["incidents"]) > 0 and figures["flow"] == flow
    assert float(figures["flow_p50_ms"]) >= float(figures["create_p50_ms"]) > 0
    assert not math.isnan(float(figures["event_p50_ms"]))  # the WebSocket saw the incidents' events
    if Path("/proc/self/stat").exists():
        assert figures["server_cpu_ms_per_flow"] is not None and float(figures["server_cpu_ms_per_flow"]) > 0
        assert figures["client_cpu_ms_per_flow"] is not None
        if backend == "postgresql":
            assert figures["db_cpu_ms_per_flow"] is not None and float(figures["db_cpu_ms_per_flow"]) > 0
        else:
            assert figures["db_cpu_ms_per_flow"] is None


def test_consoles_subscribed_to_every_event_see_each_incident() -> None:
    """``--consoles``: extra WebSockets as a command centre's consoles, each sent every event."""
    with ThreadPoolExecutor(1) as pool:
        figures = pool.submit(measure, "sqlite", 2, 2.0, free_port(), "", consoles=3).result()
    assert figures.errors == 0 and figures.created > 0 and figures.as_dict()["consoles"] == 3
    assert figures.console_events >= 3 * figures.created  # at least each incident's IncidentReceived, thrice
