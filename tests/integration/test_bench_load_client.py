"""The benchmark's lean HTTP client against a real server: what it reads must be what was sent back."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from jingwu.api.app import create_app
from jingwu.api.runtime import Runtime
from jingwu.cli.bench_intake import UNITS_IN_ANSWER, _incident_id
from jingwu.cli.http_load import Connection
from tests.conftest import PASSWORD
from tests.integration.live_server import serving


def test_keep_alive_client_creates_and_reads_incidents(runtime: Runtime) -> None:
    with serving(create_app(runtime, timers=False)) as base:
        token = httpx.post(f"{base}/api/auth/token",
                           data={"username": "dispatcher", "password": PASSWORD}).json()["access_token"]
        host, port = base.removeprefix("http://").split(":")

        async def drive() -> list[tuple[int, object]]:
            c = await Connection(host, int(port), {"Authorization": f"Bearer {token}"}).open()
            key = uuid.uuid4().hex
            body = {"type": "THEFT", "location": {"lat": 42.5063, "lon": 1.5218}}
            first = await c.request("POST", "/api/incidents", body, {"Idempotency-Key": key})
            again = await c.request("POST", "/api/incidents", body, {"Idempotency-Key": key})  # same connection
            recs = await c.request("GET", f"/api/incidents/{first.json()['id']}/recommendations")
            bad = await c.request("POST", "/api/incidents", {"type": "NOPE", "location": body["location"]})
            await c.close()
            return [(first.status, first.json()["id"]), (again.status, again.json()["id"]),
                    (recs.status, len(recs.json())), (bad.status, bad.json()["detail"][0]["field"])]

        # A thread of its own: an earlier test in the same worker may have left an event loop running here.
        with ThreadPoolExecutor(1) as pool:
            (s1, id1), (s2, id2), (s3, n), (s4, field) = pool.submit(asyncio.run, drive()).result()
        assert (s1, s2, s3, s4) == (201, 200, 200, 422)
        assert id1 == id2 and n > 0 and field == "type"
        detail = httpx.get(f"{base}/api/incidents/{id1}", headers={"Authorization": f"Bearer {token}"})
        assert detail.json()["id"] == id1


def test_the_incident_id_is_read_off_a_real_answer_without_decoding_it(runtime: Runtime) -> None:
    """The benchmark reads the new incident's id and whether units came back from the bytes of the
    answer (``_incident_id``, ``UNITS_IN_ANSWER``): checked here against the decoded answer of the
    real server, whose ranked units carry ``unit_id`` keys of their own."""
    with serving(create_app(runtime, timers=False)) as base:
        token = httpx.post(f"{base}/api/auth/token",
                           data={"username": "dispatcher", "password": PASSWORD}).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        body = {"type": "ROBBERY_IN_PROGRESS", "location": {"lat": 42.5063, "lon": 1.5218}}
        with_units = httpx.post(f"{base}/api/incidents?recommend=10&routes=true", json=body, headers=h)
        without = httpx.post(f"{base}/api/incidents", json=body, headers=h)
    assert with_units.json()["recommendations"] and without.json()["recommendations"] is None
    for answer in (with_units, without):
        assert _incident_id(answer.content) == answer.json()["id"]
    assert UNITS_IN_ANSWER in with_units.content and UNITS_IN_ANSWER not in without.content


def test_a_closed_or_dropped_connection_is_opened_again() -> None:
    """After an answer with ``Connection: close`` (uvicorn's after an unhandled error), the next
    request opens a new connection; a connection dropped without an answer raises ``HttpError``
    (the benchmark counts an error) and the request after it opens a new one too. A real socket
    server, answering by connection: 500 and close; nothing and close; 201 on every later one."""
    from jingwu.cli.http_load import HttpError

    async def drive() -> tuple[list[object], int]:
        opened = 0

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal opened
            opened += 1
            mine = opened
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                length = next((int(x.split(b":")[1]) for x in head.split(b"\r\n")
                               if x.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                if mine == 1:
                    writer.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 21\r\n"
                                 b"connection: close\r\n\r\nInternal Server Error")
                    break
                if mine == 2:
                    break  # dropped without an answer
                writer.write(b"HTTP/1.1 201 Created\r\ncontent-length: 11\r\n\r\n{\"id\":\"X\"}\n")
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        c = await Connection("127.0.0.1", port, {}).open()
        seen: list[object] = []
        for _ in range(4):
            try:
                got = await c.request("POST", "/api/incidents", {"type": "THEFT"})
                seen.append(got.status)
            except HttpError as e:
                seen.append(type(e).__name__)
        await c.close()
        server.close()
        await server.wait_closed()
        return seen, opened

    with ThreadPoolExecutor(1) as pool:
        seen, opened = pool.submit(asyncio.run, drive()).result()
    assert seen == [500, "HttpError", 201, 201] and opened == 3
