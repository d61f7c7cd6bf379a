"""`jingwu serve --workers N`: each worker listens on a socket of its own and the kernel spreads
the clients over them; a port already in use is refused; a worker that dies is replaced; SIGTERM
stops them all. The last test runs the real command on PostgreSQL and NATS."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from jingwu.cli.workers import balanced_by_kernel, check_port_free, listening_socket
from tests.conftest import drop_pg_schema, fresh_engine, until
from tests.integration.live_server import free_port
from tests.integration.test_nats_bus import NATS_URL, require_nats

pytestmark = pytest.mark.skipif(not balanced_by_kernel(), reason="SO_REUSEPORT balancing is Linux's")


def test_the_kernel_spreads_connections_over_the_workers_sockets() -> None:
    port = free_port()
    workers = [listening_socket("127.0.0.1", port) for _ in range(2)]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
    try:
        accepted = []
        for sock in workers:
            sock.setblocking(False)
            n = 0
            while True:
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    break
                conn.close()
                n += 1
            accepted.append(n)
        assert sum(accepted) == 64 and min(accepted) > 0, accepted  # all 64 on one: odds 2 in 2**64
    finally:
        for s in [*clients, *workers]:
            s.close()


def test_a_port_in_use_is_refused() -> None:
    port = free_port()
    check_port_free("127.0.0.1", port)
    for reuse_port in (False, True):  # a plain server, or another jingwu's workers
        with socket.socket() as other:
            if reuse_port:
                other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            other.bind(("127.0.0.1", port))
            other.listen()
            with pytest.raises(OSError):
                check_port_free("127.0.0.1", port)


@pytest.mark.postgres
def test_the_command_refuses_a_port_in_use(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    engine, url = fresh_engine("postgresql", tmp_path, tmp_path_factory)
    engine.dispose()
    port = free_port()
    env = {**os.environ, "JINGWU_DATABASE_URL": url, "JINGWU_BUS_URL": NATS_URL, "JINGWU_SECRET_KEY": "k" * 64}
    try:
        with socket.socket() as other:
            other.bind(("127.0.0.1", port))
            other.listen()
            done = subprocess.run([sys.executable, "-m", "jingwu", "serve", "--port", str(port), "--workers", "2"],
                                  env=env, capture_output=True, text=True, timeout=120)
    finally:
        drop_pg_schema(url)
    assert done.returncode == 2 and "--port" in done.stdout, done.stdout + done.stderr


def _children(pid: int) -> list[int]:
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(k) for k in kids if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text(errors="replace")]


def _established(pid: int, port: int) -> int:
    """Connections to ``port`` that process ``pid`` holds (its socket inodes in /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01" and fields[9] in inodes:
            count += 1
    return count


@contextlib.contextmanager
def _two_workers(tmp_path: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`jingwu serve --workers 2` on a fresh PostgreSQL database with NATS, as a process of its own;
    killed (if still running) and its database dropped afterwards."""
    require_nats()
    engine, url = fresh_engine("postgresql", tmp_path, tmp_path_factory)
    engine.dispose()
    port = free_port()
    env = {**os.environ, "JINGWU_DATABASE_URL": url, "JINGWU_BUS_URL": NATS_URL,
           "JINGWU_BUS_SUBJECT": f"jingwu-test-{uuid.uuid4().hex[:8]}",  # tests on other workers share NATS
           "JINGWU_SECRET_KEY": uuid.uuid4().hex * 2, "JINGWU_DATA_DIR": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "jingwu", "serve", "--port", str(port), "--workers", "2"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield server, port
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        drop_pg_schema(url)


@pytest.mark.postgres
def test_serve_with_two_workers(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    with _two_workers(tmp_path, tmp_path_factory) as (server, port):
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: len(_children(server.pid)) == 2 and _up(base), "two workers answering")
        # A burst: all 32 connect before any is accepted, as consoles after a restart or a proxy's pool.
        # With one socket shared by the workers, the first to wake took nearly all of them.
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        try:
            for c in clients:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            for c in clients:
                assert c.recv(4096).startswith(b"HTTP/1.1 200"), "every connection is served"
            held = [_established(pid, port) for pid in _children(server.pid)]
            assert sum(held) == 32 and min(held) >= 5, held  # binomial(32, 1/2) under 5: odds ~1 in 10,000
        finally:
            for c in clients:
                c.close()
        first, second = _children(server.pid)
        os.kill(first, signal.SIGKILL)
        _wait_for(lambda: first not in _children(server.pid) and len(_children(server.pid)) == 2 and _up(base),
                  "the dead worker replaced")
        workers = _children(server.pid)
        assert second in workers
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        _wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), f"workers {workers} stopped")


@pytest.mark.postgres
def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """SIGKILL leaves the supervisor no chance to stop its workers: the kernel does (PDEATHSIG)."""
    with _two_workers(tmp_path, tmp_path_factory) as (server, port):
        _wait_for(lambda: len(_children(server.pid)) == 2 and _up(f"http://127.0.0.1:{port}"), "two workers")
        workers = _children(server.pid)
        server.kill()
        server.wait()
        _wait_for(lambda: not any(_alive(pid) for pid in workers), f"workers {workers} stopped", timeout=30)
        assert not _up(f"http://127.0.0.1:{port}")


def _alive(pid: int) -> bool:
    """Running (a worker that exited is reaped by init once its parent is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    assert until(condition, timeout, every_s=0.2), f"timed out waiting for {what}"
