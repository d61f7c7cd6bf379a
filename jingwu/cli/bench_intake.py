"""`jingwu bench intake`: N concurrent clients create incidents over HTTP against a real server
(a `jingwu serve` subprocess) on SQLite and PostgreSQL.

Each client loops over a flow: by default one request, ``POST /api/incidents?recommend=10&routes=true``
(with an Idempotency-Key), whose answer carries the ranked units and their routes, as a call-taker
who also dispatches (接處警一體) asks for them; with ``--flow two-requests``, the POST and then
``GET …/recommendations`` (the same ranking, read back in a second request, as a separate dispatch
desk would). A WebSocket subscriber times each incident from the POST being sent to its
IncidentReceived event arriving, so the figure covers commit → outbox → relay → bus → socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import typer
import websockets
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from jingwu.bus.loops import loop_factory
from jingwu.cli.cpu_meter import CpuMeter
from jingwu.cli.http_load import Connection, HttpError
from jingwu.cli.intake_target import TARGET_P99_MS, TARGET_PER_S, median_run, meets_target
from jingwu.cli.machine_speed import interpreter, reference_ms
from jingwu.cli.worker_spread import connection_owners, spread
from jingwu.services.demo import seed_andorra
from jingwu.store.engine import build_engine
from jingwu.store.migrate import upgrade

console = Console()
PASSWORD = "Bench-pass-2026"
# Points inside Andorra's parishes (town centres), jittered per call.
PLACES = [(42.5063, 1.5218), (42.5090, 1.5404), (42.5360, 1.5837), (42.5667, 1.5980), (42.5562, 1.5335),
          (42.5442, 1.5164), (42.4667, 1.4921)]
TYPES = ["THEFT", "ASSAULT", "NOISE", "TRAFFIC_COLLISION", "BURGLARY", "DOMESTIC_DISPUTE", "WELFARE_CHECK"]
FLOWS = ("one-request", "two-requests")
RECOMMEND = 10
"""Units ranked per flow by default (``--recommend``), with routes, as GET …/recommendations answers
by default. The call-taker page asks for 5 without routes (web/static/js/calltaker-page.js)."""


@dataclass
class Figures:
    backend: str
    clients: int
    rate: float = 0.0
    flow: str = FLOWS[0]
    routes: bool = True
    consoles: int = 0
    """Command-centre consoles subscribed to every event besides the measuring socket."""
    console_events: int = 0
    created: int = 0
    errors: int = 0
    seconds: float = 0.0
    create_ms: list[float] = field(default_factory=list)
    flow_ms: list[float] = field(default_factory=list)
    event_ms: list[float] = field(default_factory=list)
    cpu: CpuMeter | None = None
    """CPU seconds the server, the database and the load generator spent while clients drove."""
    per_worker: list[int] | None = None
    """The clients' connections held by each server worker (``--workers`` > 1 on Linux)."""
    recommend: int = RECOMMEND
    """Units ranked per flow."""
    first_answer_units: int | None = None
    """How many units the first answer ranked (a check that the server was asked for ``recommend``)."""
    warm_up_s: float = 0.0
    """Seconds driven before the measured ones: their flows' times, CPU and events are not counted
    (their errors are)."""
    machine_ms: tuple[float, float] | None = None
    """The machine's reference loop (``machine_speed``) before the server started and after it
    stopped: what to read beside a figure from another run before comparing the two."""

    def per_flow_ms(self, seconds: float | None) -> float | None:
        return round(1000 * seconds / self.created, 2) if seconds is not None and self.created else None

    def pct(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        s = sorted(values)
        return s[min(len(s) - 1, int(q * len(s)))]

    def as_dict(self) -> dict[str, float | int | str | None]:
        return {
            "backend": self.backend, "clients": self.clients,
            "flow": self.flow + ("" if self.recommend == RECOMMEND else f", {self.recommend} units")
            + ("" if self.routes else ", no routes") + (f", {self.warm_up_s:g} s warm-up" if self.warm_up_s else ""),
            "offered_per_s": self.rate or "closed loop", "consoles": self.consoles,
            "incidents": self.created, "errors": self.errors,
            "throughput_per_s": round(self.created / self.seconds, 1) if self.seconds else 0.0,
            "create_p50_ms": round(self.pct(self.create_ms, 0.5), 2),
            "create_p99_ms": round(self.pct(self.create_ms, 0.99), 2),
            "flow_p50_ms": round(self.pct(self.flow_ms, 0.5), 2), "flow_p99_ms": round(self.pct(self.flow_ms, 0.99), 2),
            "event_p50_ms": round(self.pct(self.event_ms, 0.5), 2),
            "event_p99_ms": round(self.pct(self.event_ms, 0.99), 2),
            "server_cpu_ms_per_flow": self.per_flow_ms(self.cpu.server_s if self.cpu else None),
            "db_cpu_ms_per_flow": self.per_flow_ms(self.cpu.database_s if self.cpu else None),
            "client_cpu_ms_per_flow": self.per_flow_ms(self.cpu.client_s if self.cpu else None),
            "connections_per_worker": "+".join(map(str, self.per_worker)) if self.per_worker else None,
            "machine_ms": "/".join(f"{ms:g}" for ms in self.machine_ms) if self.machine_ms else None,
        }


def _prepare(backend: str, workdir: Path, pg_url: str) -> str:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        engine = build_engine(url)
    else:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = build_engine(pg_url, pool_size=1)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
        engine = build_engine(url)
    upgrade(engine)
    seed_andorra(engine, PASSWORD)
    engine.dispose()
    return url


def _drop(url: str, pg_url: str) -> None:
    if "search_path%3D" in url:
        admin = build_engine(pg_url, pool_size=1)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{url.rsplit("%3D", 1)[1]}" CASCADE'))
        admin.dispose()


async def _spread_evenly(connections: list[Connection], server: int, port: int, even: bool,
                         expected_workers: int, tries: int = 400) -> list[int] | None:
    """Reconnect clients that landed on a crowded worker until no worker holds two more than
    another (``jingwu.cli.worker_spread``); with ``even`` false, only read how they landed. It
    first waits, up to a minute, for ``expected_workers`` to listen: the server answers its health
    check as soon as one does, and a run whose other worker was still loading its road network
    drove one worker alone (198.9 flows/s, p50 4.7 s). None where /proc cannot tell (not Linux,
    or connections it cannot place within two seconds)."""
    unplaced = 0
    started = time.monotonic()
    moves = 0
    while moves < tries:
        try:
            workers, owners = connection_owners(server, port, [c.local_port for c in connections])
        except OSError:
            return None
        if len(workers) < expected_workers and time.monotonic() - started < 60:
            await asyncio.sleep(0.1)
            continue
        if len(owners) < len(connections):  # a connection not accepted yet
            unplaced += 1
            if unplaced > 100:
                return None
            await asyncio.sleep(0.02)
            continue
        counts = spread(workers, owners)
        if not even or len(workers) < 2 or max(counts) - min(counts) <= 1:
            return counts
        crowded = workers[counts.index(max(counts))]
        moved = next(c for c in connections if owners[c.local_port] == crowded)
        await moved.close()
        await moved.open()
        moves += 1
    raise RuntimeError(f"could not spread {len(connections)} connections over the server's workers")


async def _run_clients(base: str, clients: int, seconds: float, figures: Figures, rate: float | None = None,
                       server: int | None = None, even: bool = True, workers: int = 1) -> None:
    """Drive the server: ``clients`` connections in a closed loop, or, with ``rate``, an open loop.
    ``server``: the pid of a local server with several workers, to spread the connections over
    them (``even``) and report how they lie. The first ``figures.warm_up_s`` seconds are driven
    the same way but not counted: a server just started fills its road searches' and rows' caches
    in them, and an open loop at a high rate queues behind that for seconds (docs/benchmarks.md).

    Open loop: flows start at Poisson arrival times whatever the server's pace, each on the next
    free connection, and latency counts from the scheduled start, so a slow server cannot hide
    its queue by slowing the load down (coordinated omission).
    """
    host, port = base.removeprefix("http://").split(":")
    async with httpx.AsyncClient(base_url=base, timeout=30) as login:
        r = await login.post("/api/auth/token", data={"username": "dispatcher", "password": PASSWORD})
        r.raise_for_status()
        token = r.json()["access_token"]
    sent: dict[str, float] = {}
    pending: dict[str, float] = {}
    ws_url = base.replace("http", "ws") + f"/api/events?token={token}&kinds=IncidentReceived"
    stop = asyncio.Event()
    ready = asyncio.Event()

    async def listen() -> None:
        async with websockets.connect(ws_url, max_size=None) as ws:
            await ws.recv()
            ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                msg = json.loads(raw)
                now = time.perf_counter()
                iid = msg.get("incident_id")
                if iid in sent:
                    figures.event_ms.append((now - sent.pop(iid)) * 1000)
                elif iid:
                    pending[iid] = now

    async def console(opened: asyncio.Event) -> None:
        """A command-centre console: every event the dispatcher may see, read and counted."""
        async with websockets.connect(ws_url.split("&kinds=")[0], max_size=None) as ws:
            await ws.recv()
            opened.set()
            while not stop.is_set():
                try:
                    await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                figures.console_events += 1

    connections = [Connection(host, int(port), {"Authorization": f"Bearer {token}"}) for _ in range(clients)]
    for c in connections:
        await c.open()
    if server is not None:
        figures.per_worker = await _spread_evenly(connections, server, int(port), even, workers)

    async def flow(c: Connection, rng: random.Random, t0: float) -> None:
        lat, lon = rng.choice(PLACES)
        body = {"type": rng.choice(TYPES), "location": {"lat": lat + rng.uniform(-.002, .002),
                                                        "lon": lon + rng.uniform(-.002, .002)}}
        one = figures.flow == "one-request"
        routes = str(figures.routes).lower()
        path = f"/api/incidents?recommend={figures.recommend}&routes={routes}" if one else "/api/incidents"
        try:
            r = await c.request("POST", path, body, {"Idempotency-Key": uuid.uuid4().hex})
        except HttpError:  # the connection failed or was closed: counted, and the next flow opens another
            figures.errors += 1
            return
        t1 = time.perf_counter()
        if r.status != 201:
            figures.errors += 1
            return
        iid = _incident_id(r.body)
        if t0 < measured_from:  # warming up: driven, not counted
            pending.pop(iid, None)
            return
        if iid in pending:
            figures.event_ms.append((pending.pop(iid) - t0) * 1000)
        else:
            sent[iid] = t0
        if one:
            t2 = t1
            ok = UNITS_IN_ANSWER in r.body
            if figures.first_answer_units is None:
                figures.first_answer_units = r.body.count(b'"unit_id":')
        else:
            try:
                rec = await c.request("GET", f"/api/incidents/{iid}/recommendations?limit={figures.recommend}"
                                             f"&routes={routes}")
            except HttpError:
                figures.errors += 1
                return
            t2 = time.perf_counter()
            ok = rec.status == 200 and rec.body.startswith(b"[{")
        if not ok:
            figures.errors += 1
            return
        figures.created += 1
        figures.create_ms.append((t1 - t0) * 1000)
        figures.flow_ms.append((t2 - t0) * 1000)

    async def closed_loop(c: Connection, seed: int) -> None:
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            await flow(c, rng, time.perf_counter())

    async def open_loop(per_s: float) -> None:
        rng = random.Random(0)
        free: asyncio.Queue[Connection] = asyncio.Queue()
        for c in connections:
            free.put_nowait(c)
        running: set[asyncio.Task[None]] = set()

        async def one(t0: float) -> None:
            c = await free.get()
            try:
                await flow(c, rng, t0)
            finally:
                free.put_nowait(c)

        due = time.perf_counter()
        while due < deadline:
            due += rng.expovariate(per_s)
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(due))
            running.add(task)
            task.add_done_callback(running.discard)
        await asyncio.gather(*running)

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(ready.wait(), 10)
    opened = [asyncio.Event() for _ in range(figures.consoles)]
    consoles = [asyncio.create_task(console(o)) for o in opened]
    for o in opened:
        await asyncio.wait_for(o.wait(), 10)
    start = time.perf_counter()
    measured_from = start + figures.warm_up_s
    deadline = measured_from + seconds

    async def measure_cpu() -> None:
        await asyncio.sleep(max(0.0, measured_from - time.perf_counter()))
        if figures.cpu is not None:
            figures.cpu.start()

    meter = asyncio.create_task(measure_cpu())
    if rate:
        await open_loop(rate)
    else:
        await asyncio.gather(*(closed_loop(c, i) for i, c in enumerate(connections)))
    figures.seconds = time.perf_counter() - measured_from
    await meter
    if figures.cpu is not None:
        figures.cpu.stop()
    for c in connections:
        await c.close()
    await asyncio.sleep(1.0)  # let the last events arrive
    stop.set()
    await listener
    await asyncio.gather(*consoles)


_ID = re.compile(rb'"id":"([^"]+)"')
UNITS_IN_ANSWER = b'"recommendations":[{'
"""How an answer with ranked units begins them (pydantic's compact JSON)."""


def _incident_id(body: bytes) -> str:
    """The new incident's id, its answer's first field, read without decoding the answer: the load
    generator shares the server's two cores, and ``json.loads`` of ten routes (~40 KB of floats)
    costs it ~1.5 ms a flow on a slow machine, which it would take from the server it measures."""
    found = _ID.search(body)
    if found is None:
        raise ValueError(f"no incident id in the answer: {body[:200]!r}")
    return found.group(1).decode()


def _wait_up(base: str, proc: subprocess.Popen[bytes] | None = None, timeout_s: float = 30.0,
             poll_s: float = 0.1) -> None:
    """Wait for ``/healthz`` to answer (a server under callgrind takes minutes: ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("the server exited; run `jingwu serve` by hand to see why")
        try:
            if httpx.get(f"{base}/healthz", timeout=max(1.0, poll_s)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(poll_s)
    raise RuntimeError("the server did not come up")


def measure(backend: str, clients: int, seconds: float, port: int, pg_url: str, workers: int = 1,
            nats_url: str = "nats://127.0.0.1:4222", rate: float | None = None, flow: str = FLOWS[0],
            routes: bool = True, consoles: int = 0, even: bool = True, recommend: int = RECOMMEND,
            warm_up_s: float = 0.0, machine: bool = True) -> Figures:
    """One backend driven; with ``machine``, the reference loop is timed around it (~1–3 s)."""
    before = reference_ms() if machine else None
    with tempfile.TemporaryDirectory(prefix="jingwu-bench-") as tmp:
        url = _prepare(backend, Path(tmp), pg_url)
        env = {**os.environ, "JINGWU_DATABASE_URL": url, "JINGWU_SECRET_KEY": uuid.uuid4().hex * 2,
               "JINGWU_DATA_DIR": tmp}
        if workers > 1:
            env["JINGWU_BUS_URL"] = nats_url
            env["JINGWU_BUS_SUBJECT"] = f"jingwu-bench-{uuid.uuid4().hex[:8]}"  # this run's nodes only
        # The server's log goes to a file: a pipe nobody reads fills up and then stops the server
        # at its next log line (a background loop logging a failure each tick did, mid-run).
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as server_log:
            proc = subprocess.Popen([sys.executable, "-m", "jingwu", "serve", "--port", str(port),
                                     "--workers", str(workers)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=server_log)
        try:
            base = f"http://127.0.0.1:{port}"
            try:
                _wait_up(base, proc)
            except RuntimeError as e:
                tail = log_path.read_text("utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"{e}; the server's log ends:\n{tail}") from None
            figures = Figures(f"{backend} ×{workers}" if workers > 1 else backend, clients, rate or 0.0, flow, routes,
                              consoles, cpu=CpuMeter(proc.pid, None if backend == "sqlite" else "postgres"),
                              recommend=recommend, warm_up_s=warm_up_s)
            with asyncio.Runner(loop_factory=loop_factory()) as runner:  # the load on uvloop, as the server
                runner.run(_run_clients(base, clients, seconds, figures, rate, proc.pid if workers > 1 else None,
                                        even, workers))
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            if backend != "sqlite":
                _drop(url, pg_url)
    if before is not None:
        figures.machine_ms = (before, reference_ms())
    return figures


def intake(
    clients: int = typer.Option(16, help="concurrent clients"),
    seconds: float = typer.Option(20.0, help="how long each backend is driven"),
    backend: list[str] = typer.Option(["sqlite", "postgresql"], help="sqlite and/or postgresql"),
    pg_url: str = typer.Option("postgresql+psycopg://postgres@127.0.0.1:5432/test", envvar="JINGWU_BENCH_PG_URL",
                               help="PostgreSQL server to use (a scratch schema is created and dropped)"),
    port: int = typer.Option(8790, help="port for the server under test (127.0.0.1)"),
    json_out: Path | None = typer.Option(None, "--json", help="write the figures here"),
    workers: int = typer.Option(1, help="server worker processes for PostgreSQL (>1 uses NATS)"),
    nats_url: str = typer.Option("nats://127.0.0.1:4222", help="NATS server for --workers > 1"),
    rate: float = typer.Option(0.0, min=0.0, help="open loop: start this many flows a second (Poisson) on "
                               "the clients' connections; 0 = closed loop, each client starts its next flow "
                               "when the last one ends"),
    flow: str = typer.Option(FLOWS[0], help="one-request: POST ?recommend=N&routes=true (N from --recommend); "
                             "two-requests: POST, then GET …/recommendations"),
    routes: bool = typer.Option(True, help="ask for the ranked units' routes too (the map's lines)"),
    recommend: int = typer.Option(RECOMMEND, min=1, max=100, help="units ranked per flow (the call-taker page "
                                  "asks for 5, without routes)"),
    consoles: int = typer.Option(0, min=0, max=200, help="command-centre consoles (WebSockets) subscribed to "
                                 "every event while the clients drive"),
    even: bool = typer.Option(True, help="with --workers > 1, reconnect clients until each worker holds "
                              "as many as another (±1), as many clients would; --no-even leaves them "
                              "where the kernel's hash put them"),
    warm_up: float = typer.Option(0.0, min=0.0, help="drive this many seconds first, the same way, without "
                                  "counting them (a fresh server fills its caches; an open loop queues behind)"),
    repeat: int = typer.Option(1, min=1, max=50, help="run each backend this many times, each on a fresh server "
                               "and database, and add a row of the medians"),
    machine: bool = typer.Option(True, help="time the machine's reference loop before and after each run "
                                 "(~1–3 s; the 'machine' column)"),
) -> None:
    """Intake throughput and latency over HTTP: create → recommend → commit → event published.

    After the table, how many runs met issue 2's target (≥ 500 flows/s with flow p99 ≤ 50 ms)."""
    if flow not in FLOWS:
        raise typer.BadParameter(f"unknown flow {flow!r}; one of {', '.join(FLOWS)}", param_hint="--flow")
    for b in backend:
        if b not in ("sqlite", "postgresql"):
            raise typer.BadParameter(f"unknown backend {b!r}", param_hint="--backend")
    results = []
    met: dict[str, list[int]] = {}
    for b in backend:
        n = workers if b == "postgresql" else 1
        runs = []
        for i in range(repeat):
            which = f" (run {i + 1} of {repeat})" if repeat > 1 else ""
            with console.status(f"driving {b} ({n} worker(s)) with {clients} clients for "
                                f"{warm_up + seconds:.0f} s ({warm_up:.0f} s warming up){which}…"):
                figures = measure(b, clients, seconds, port, pg_url, n, nats_url, rate or None, flow, routes,
                                  consoles, even, recommend, warm_up, machine)
            runs.append(figures.as_dict())
        results.extend(runs)
        if repeat > 1:
            results.append(median_run(runs))
        met[str(runs[0]["backend"])] = [sum(meets_target(r) for r in runs), len(runs)]
    table = Table(title="jingwu bench intake (ms; flow = create + recommend; event = send → WebSocket; "
                        "CPU = ms of CPU per flow; machine = the reference loop before/after, lower is faster)")
    heads = {"backend": "backend", "clients": "clients", "flow": "flow", "offered_per_s": "offered",
             "consoles": "consoles",
             "incidents": "n", "errors": "err",
             "throughput_per_s": "per s", "create_p50_ms": "create p50", "create_p99_ms": "p99",
             "flow_p50_ms": "flow p50", "flow_p99_ms": "p99", "event_p50_ms": "event p50", "event_p99_ms": "p99",
             "server_cpu_ms_per_flow": "server CPU", "db_cpu_ms_per_flow": "db CPU",
             "client_cpu_ms_per_flow": "load CPU", "connections_per_worker": "per worker",
             "machine_ms": "machine"}
    for head in heads.values():
        table.add_column(head, justify="right", no_wrap=True)
    for r in results:
        table.add_row(*("–" if r[c] is None else str(r[c]) for c in heads))
    wide = Console(width=max(console.width, 240))
    wide.print(table)
    for name, (k, of) in met.items():
        wide.print(f"target (≥ {TARGET_PER_S:g} flows/s with flow p99 ≤ {TARGET_P99_MS:g} ms, no errors): "
                   f"{name} met it in {k} of {of} run{'s' if of > 1 else ''}")
    python = interpreter()
    wide.print(f"python (server and load): {python}")
    if json_out:
        target = {"per_s": TARGET_PER_S, "p99_ms": TARGET_P99_MS, "met": met}
        json_out.write_text(json.dumps({"results": results, "target": target, "python": python}, indent=2))
