"""Worker processes for `jingwu serve --workers N`, each listening on a socket of its own.

uvicorn's workers share one listening socket, and whichever worker's event loop wakes first takes
every connection waiting (asyncio accepts up to the backlog at each wake). Keep-alive clients that
connect together (a call centre's consoles after a restart, a proxy's pool, the intake benchmark)
then land on one worker: `jingwu bench intake --workers 2 --clients 16` had all 16 clients and its
WebSocket on one worker and none on the other, and a burst of 32 connections in the tests went 32
to 0 (docs/benchmarks.md, intake, twelfth pass). Here each worker
binds its own socket with ``SO_REUSEPORT``, and Linux spreads new connections over the sockets by a
hash of their addresses, as nginx's ``reuseport`` and gunicorn's ``--reuse-port`` do. Elsewhere
(no such balancing) uvicorn's shared socket is used.

The supervisor first checks that nothing listens on the port (a socket bound with
``SO_REUSEPORT`` would otherwise join another server's group and take a share of its clients),
restarts a worker that dies, and stops them all on SIGINT or SIGTERM; a worker whose supervisor
dies (even by SIGKILL) is stopped by the kernel.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger(__name__)
APP = "jingwu.api.app:app_from_environment"
SERVER_OPTIONS: dict[str, Any] = {"log_level": "warning", "access_log": False, "ws": "websockets-sansio"}
"""uvicorn's options for every way jingwu serves. The access log is off: its lines are INFO, which
``log_level`` drops anyway, but uvicorn works out each line's client address and path before the
logger drops it (~1 % of the server's CPU in the intake benchmark; requests that change anything
are in the audit log)."""
BACKLOG = 2048
"""uvicorn's own default listen backlog."""
PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal a process gets when its parent dies."""
RESTART_PAUSE_S = 1.0
"""A worker that dies is started again after this pause (so one that cannot start does not spin)."""


def balanced_by_kernel() -> bool:
    """Whether the kernel spreads connections over sockets sharing a port (Linux' SO_REUSEPORT)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    return family, (str(address[0]), int(address[1]))


def check_port_free(host: str, port: int) -> None:
    """Raise ``OSError`` if something already listens on (host, port)."""
    family, address = _address(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is no conflict
        probe.bind(address)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket of this worker's own on the shared port."""
    family, address = _address(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(BACKLOG)
    return sock


def _exit_with_supervisor(supervisor: int) -> None:
    """Have Linux send this worker SIGTERM when its supervisor dies (even killed with SIGKILL), so
    no worker is left serving on its own."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:  # it died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(host: str, port: int, supervisor: int) -> None:
    """A worker process: the app built from the environment, served on a socket of its own."""
    _exit_with_supervisor(supervisor)
    sock = listening_socket(host, port)
    config = uvicorn.Config(APP, factory=True, backlog=BACKLOG, **SERVER_OPTIONS)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(host: str, port: int, workers: int) -> None:
    """Run ``workers`` processes until SIGINT or SIGTERM, starting again any that dies."""
    if not balanced_by_kernel():
        uvicorn.run(APP, factory=True, host=host, port=port, workers=workers, **SERVER_OPTIONS)
        return
    check_port_free(host, port)
    spawn = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def start() -> BaseProcess:
        process = spawn.Process(target=_worker, args=(host, port, os.getpid()), name="jingwu-worker")
        process.start()
        return process

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    processes = [start() for _ in range(workers)]
    try:
        while not stop.wait(0.5):
            for i, process in enumerate(processes):
                if not process.is_alive() and not stop.is_set():
                    log.warning("worker %s exited with %s; starting another", process.pid, process.exitcode)
                    time.sleep(RESTART_PAUSE_S)
                    processes[i] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + 10
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
        for s, handler in previous.items():
            signal.signal(s, handler)
