"""`jingwu bench intake` end to end: a real `jingwu serve` subprocess driven over HTTP for a moment,
on SQLite and (when configured) PostgreSQL, with its figures and CPU accounting."""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import os
import platform
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jingwu.cli import app as jingwu
from jingwu.cli.bench_intake import _spread_evenly, measure
from jingwu.cli.http_load import Connection
from jingwu.cli.intake_target import meets_target
from jingwu.cli.worker_spread import connection_owners, spread
from jingwu.cli.workers import listening_socket
from tests.integration.live_server import free_port
from tests.integration.test_nats_bus import NATS_URL, require_nats


@pytest.mark.parametrize("backend,flow", [("sqlite", "one-request"), ("sqlite", "two-requests"),
                                          ("postgresql", "one-request")])
def test_a_short_run_creates_incidents_and_accounts_for_cpu(backend: str, flow: str) -> None:
    pg_url = os.environ.get("JINGWU_TEST_POSTGRES_URL")
    if backend == "postgresql" and not pg_url:
        pytest.skip("set JINGWU_TEST_POSTGRES_URL")
    # A thread of its own: an earlier test in the same worker may have left an event loop running here.
    timed = (backend, flow) == ("sqlite", "one-request")  # the machine's reference loop, once (~2 s)
    with ThreadPoolExecutor(1) as pool:
        figures = pool.submit(measure, backend, 2, 2.0, free_port(), pg_url or "", flow=flow,
                              machine=timed).result().as_dict()
    # An error is a refused request or an answer without the ranked units.
    assert figures["errors"] == 0 and int(figures["incidents"]) > 0 and figures["flow"] == flow
    if timed:  # before/after, each a loop's milliseconds
        before, after = map(float, str(figures["machine_ms"]).split("/"))
        assert before > 0 and after > 0
    else:
        assert figures["machine_ms"] is None
    assert float(figures["flow_p50_ms"]) >= float(figures["create_p50_ms"]) > 0
    assert not math.isnan(float(figures["event_p50_ms"]))  # the WebSocket saw the incidents' events
    if Path("/proc/self/stat").exists():
        assert figures["server_cpu_ms_per_flow"] is not None and float(figures["server_cpu_ms_per_flow"]) > 0
        assert figures["client_cpu_ms_per_flow"] is not None
        if backend == "postgresql":
            assert figures["db_cpu_ms_per_flow"] is not None and float(figures["db_cpu_ms_per_flow"]) > 0
        else:
            assert figures["db_cpu_ms_per_flow"] is None


def test_repeated_runs_add_their_medians_and_say_how_many_met_the_target(tmp_path: Path) -> None:
    """``--repeat 2``: two runs on fresh servers, a row of their medians, and the target's count;
    an unknown backend is refused before anything is driven."""
    out = tmp_path / "figures.json"
    args = ["bench", "intake", "--backend", "sqlite", "--clients", "2", "--seconds", "1", "--repeat", "2",
            "--no-machine", "--port", str(free_port()), "--json", str(out)]
    # A thread of its own: an earlier test in the same worker may have left an event loop running here.
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(CliRunner().invoke, jingwu, args).result()
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    first, second, median = figures["results"]
    assert first["errors"] == second["errors"] == 0 and first["incidents"] and second["incidents"]
    assert median["backend"] == "sqlite, median of 2"
    assert median["throughput_per_s"] == round((first["throughput_per_s"] + second["throughput_per_s"]) / 2, 2)
    met = meets_target(first) + meets_target(second)
    assert figures["target"] == {"per_s": 500.0, "p99_ms": 50.0, "met": {"sqlite": [met, 2]}}
    assert f"sqlite met it in {met} of 2 runs" in " ".join(result.output.split())
    # where the figures came from: this interpreter, by version and by the file it really is
    assert figures["python"].startswith(f"CPython {platform.python_version()} ({os.path.realpath(sys.executable)}")

    refused = CliRunner().invoke(jingwu, ["bench", "intake", "--backend", "sqlite", "--backend", "oracle"])
    assert refused.exit_code != 0 and "unknown backend 'oracle'" in refused.output
    assert "driving" not in refused.output


def test_the_call_takers_own_request_asks_for_fewer_units_without_routes() -> None:
    """``--recommend 3 --no-routes``: the flow asks for three units, as the call-taker page asks for
    five, and its label says so."""
    with ThreadPoolExecutor(1) as pool:
        figures = pool.submit(measure, "sqlite", 2, 1.5, free_port(), "", routes=False, recommend=3,
                              machine=False).result()
    assert figures.errors == 0 and figures.created > 0
    assert figures.first_answer_units == 3
    assert figures.as_dict()["flow"] == "one-request, 3 units, no routes"


def test_a_warm_up_is_driven_but_not_counted() -> None:
    """``--warm-up``: the server is driven for that long first; the figures (flows, their rate, CPU)
    are of the seconds after it, and the console saw the warm-up's incidents too."""
    with ThreadPoolExecutor(1) as pool:
        figures = pool.submit(measure, "sqlite", 2, 1.0, free_port(), "", consoles=1, warm_up_s=2.0,
                              machine=False).result()
    assert figures.errors == 0 and figures.created > 0
    assert 0.9 < figures.seconds < 1.6  # the measured second, not the three driven
    assert len(figures.create_ms) == figures.created
    assert figures.console_events > figures.created  # the warm-up's incidents were made and published
    assert figures.as_dict()["flow"] == "one-request, 2 s warm-up"


def test_consoles_subscribed_to_every_event_see_each_incident() -> None:
    """``--consoles``: extra WebSockets as a command centre's consoles, each sent every event."""
    with ThreadPoolExecutor(1) as pool:
        figures = pool.submit(measure, "sqlite", 2, 2.0, free_port(), "", consoles=3, machine=False).result()
    assert figures.errors == 0 and figures.created > 0 and figures.as_dict()["consoles"] == 3
    assert figures.console_events >= 3 * figures.created  # at least each incident's IncidentReceived, thrice


def test_with_two_workers_the_clients_are_spread_evenly_over_them() -> None:
    """``--workers 2``: the benchmark reports how its clients lie over the workers, evenly."""
    pg_url = os.environ.get("JINGWU_TEST_POSTGRES_URL")
    if not pg_url:
        pytest.skip("set JINGWU_TEST_POSTGRES_URL")
    require_nats()
    with ThreadPoolExecutor(1) as pool:
        figures = pool.submit(measure, "postgresql", 7, 1.0, free_port(), pg_url, workers=2,
                              nats_url=NATS_URL, machine=False).result()
    assert figures.errors == 0 and figures.created > 0
    assert figures.per_worker is not None and sorted(figures.per_worker) == [3, 4]
    assert figures.as_dict()["connections_per_worker"] in ("3+4", "4+3")


def _hold_connections(port: int, ready: Any) -> None:
    """A stand-in worker: its own SO_REUSEPORT socket on ``port``, as a server's worker binds it,
    accepting and holding."""
    with listening_socket("127.0.0.1", port) as sock:
        ready.set()
        held = []
        while True:
            held.append(sock.accept()[0])


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_clients_all_on_one_worker_are_moved_until_even() -> None:
    """Eight connections that all landed on one of two workers end four and four."""
    port = free_port()
    ctx = multiprocessing.get_context("fork")
    readies = [ctx.Event() for _ in range(2)]
    workers = [ctx.Process(target=_hold_connections, args=(port, r), daemon=True) for r in readies]
    for w in workers:
        w.start()
    try:
        assert all(r.wait(10) for r in readies)

        async def run() -> list[int] | None:
            opened = []
            for _ in range(60):  # keep eight that the hash put on the first worker
                c = await Connection("127.0.0.1", port, {}).open()
                opened.append(c)
                for _ in range(100):
                    _, owners = connection_owners(os.getpid(), port, [c.local_port])
                    if owners:
                        break
                    await asyncio.sleep(0.01)
            _, owners = connection_owners(os.getpid(), port, [c.local_port for c in opened])
            first = workers[0].pid
            crowd = [c for c in opened if owners.get(c.local_port) == first][:8]
            for c in opened:
                if c not in crowd:
                    await c.close()
            assert len(crowd) == 8
            return await _spread_evenly(crowd, os.getpid(), port, even=True, expected_workers=2)

        with ThreadPoolExecutor(1) as pool:  # a loop of its own, as above
            assert pool.submit(lambda: asyncio.run(run())).result() == [4, 4]
    finally:
        for w in workers:
            w.terminate()
            w.join(5)


def test_connection_owners_finds_the_process_that_accepted_each_connection() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        accepted = [listener.accept()[0] for _ in clients]
        try:
            late = socket.create_connection(("127.0.0.1", port))  # in the queue, not accepted yet
            ports = [c.getsockname()[1] for c in clients]
            workers, owners = connection_owners(os.getpid(), port, [*ports, late.getsockname()[1]])
            assert workers == [os.getpid()]
            assert owners == dict.fromkeys(ports, os.getpid())
            assert spread(workers, owners) == [3]
        finally:
            for s in clients + accepted + [late]:
                s.close()
