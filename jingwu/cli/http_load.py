"""A lean HTTP/1.1 load generator for `jingwu bench intake`.

The benchmark runs the load generator on the same two cores as the server it measures, so every
microsecond the client spends is taken from the server. httpx costs ~0.5 ms of CPU per request;
a keep-alive connection on asyncio streams that writes a prepared request and reads back by
Content-Length costs a few tens of microseconds. It speaks only what the benchmark needs (JSON
bodies, Content-Length responses), which is what uvicorn sends for the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any


class HttpError(Exception):
    pass


@dataclass
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One persistent connection; one request at a time (HTTP/1.1 without pipelining).

    A server that answers ``Connection: close`` (uvicorn does after an unhandled error's 500) or
    drops the connection gets a new one on the next request, as a browser would open: a request
    that finds the connection gone raises ``HttpError`` and leaves it closed, so the caller can
    count an error and go on."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    @property
    def local_port(self) -> int:
        """The port this side of the open connection has (which the server sees it by)."""
        assert self.writer is not None
        return int(self.writer.get_extra_info("sockname")[1])

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def request(self, method: str, path: str, body: Any = None,
                      headers: dict[str, str] | None = None) -> Answer:
        if self.writer is None or self.reader is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        payload = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        if body is not None:
            extra += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        try:
            self.writer.write(f"{method} {path} HTTP/1.1\r\n{self.fixed}{extra}\r\n".encode() + payload)
            answer, closing = await self._read_answer(self.reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
            await self.close()
            raise HttpError(f"{method} {path}: the connection failed ({type(e).__name__}: {e})") from e
        except HttpError:
            await self.close()
            raise
        if closing:
            await self.close()
        return answer

    @staticmethod
    async def _read_answer(reader: asyncio.StreamReader) -> tuple[Answer, bool]:
        """The answer, and whether the server closes the connection after it."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise HttpError(f"bad status line {lines[0]!r}")
        length = None
        closing = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                raise HttpError("chunked responses are not supported by this load generator")
            elif name == "connection" and "close" in value.lower():
                closing = True
        data = await reader.readexactly(length) if length else b""
        return Answer(int(parts[1]), data), closing
