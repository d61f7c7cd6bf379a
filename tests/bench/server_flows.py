"""Drive a running jingwu server through the intake benchmark's flow, one flow at a time, to count
the server's instructions per flow under callgrind (timings on a shared 2-core machine swing by a
third; instruction counts do not).

A flow is what ``jingwu bench intake`` does: ``POST /api/incidents?recommend=10&routes=true`` with
an Idempotency-Key (or, with ``two-requests`` after N, the POST and then ``GET …/recommendations``),
with a WebSocket subscribed to ``IncidentReceived`` so the relay and the socket do their part.
Recipe (the server under callgrind, this client outside it)::

    for n in 0 200; do
      python -m tests.bench.server_flows prepare /tmp/sf.$n      # a freshly seeded PostgreSQL schema
      env $(cat /tmp/sf.$n/env) PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/sf.$n/cg \\
          .venv/bin/python -m jingwu serve --port 8795 2>&1 | grep Collected &
      python -m tests.bench.server_flows drive http://127.0.0.1:8795 $n [two-requests]  # waits for the server
      pkill -TERM -f "jingwu serve --port 8795"; wait
      python -m tests.bench.server_flows drop /tmp/sf.$n
    done
    # (instructions at 200 - instructions at 0) / 200 = the server's instructions per flow

Both runs start, log in, warm up and stop alike; the difference is the flows (and a few more
seconds of the background loops, which idle).
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import websockets.sync.client as ws_client

from jingwu.cli.bench_intake import FLOWS, PASSWORD, PLACES, RECOMMEND, TYPES, _drop, _prepare, _wait_up

WARM_UP = 30


def prepare(workdir: Path, pg_url: str) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    url = _prepare("postgresql", workdir, pg_url)
    env = {"JINGWU_DATABASE_URL": url, "JINGWU_SECRET_KEY": uuid.uuid4().hex * 2, "JINGWU_DATA_DIR": ".jingwu"}
    (workdir / "env").write_text(" ".join(f"{k}={v}" for k, v in env.items()), encoding="utf-8")
    (workdir / "url").write_text(url, encoding="utf-8")


def drive(base: str, n: int, flow: str = FLOWS[0]) -> None:
    _wait_up(base, timeout_s=600, poll_s=1.0)
    with httpx.Client(base_url=base, timeout=120) as client:
        r = client.post("/api/auth/token", data={"username": "dispatcher", "password": PASSWORD})
        r.raise_for_status()
        token = r.json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        seen: list[str] = []
        ws_url = base.replace("http", "ws") + f"/api/events?token={token}&kinds=IncidentReceived"
        stop = threading.Event()
        with ws_client.connect(ws_url, max_size=None) as ws:
            ws.recv()

            def listen() -> None:
                while not stop.is_set():
                    try:
                        seen.append(json.loads(ws.recv(timeout=1)).get("incident_id", ""))
                    except TimeoutError:
                        continue
                    except Exception:
                        return

            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            rng = random.Random(0)
            for _ in range(WARM_UP + n):
                lat, lon = rng.choice(PLACES)
                body = {"type": rng.choice(TYPES), "location": {"lat": lat + rng.uniform(-.002, .002),
                                                                "lon": lon + rng.uniform(-.002, .002)}}
                one = flow == "one-request"
                r = client.post(f"/api/incidents?recommend={RECOMMEND}&routes=true" if one else "/api/incidents",
                                json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
                r.raise_for_status()
                if not one:
                    client.get(f"/api/incidents/{r.json()['id']}/recommendations?limit={RECOMMEND}").raise_for_status()
            deadline = time.monotonic() + 120
            while len(seen) < WARM_UP + n and time.monotonic() < deadline:
                time.sleep(0.2)
            stop.set()
        print(f"{WARM_UP + n} flows, {len(seen)} events seen")


def main() -> None:
    cmd = sys.argv[1]
    if cmd == "prepare":
        prepare(Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    elif cmd == "drive":
        drive(sys.argv[2], int(sys.argv[3]), *sys.argv[4:5])
    elif cmd == "drop":
        workdir = Path(sys.argv[2])
        _drop(workdir.joinpath("url").read_text("utf-8"),
              sys.argv[3] if len(sys.argv) > 3 else "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    else:
        raise SystemExit("prepare DIR [PG_URL] | drive BASE N [one-request|two-requests] | drop DIR [PG_URL]")


if __name__ == "__main__":
    main()
