"""Which worker process of a local `jingwu serve --workers N` holds each of the load generator's
connections, read from Linux's /proc, so that the intake benchmark can spread them evenly.

Each worker listens on a socket of its own (``SO_REUSEPORT``) and Linux picks one for a new
connection by a hash of its addresses and ports. Over a command centre's hundreds of consoles
that evens out; over the benchmark's 16 keep-alive connections it does not: runs split them 8/9,
11/6 and 4/13, and with 4/13 the crowded worker's queue set a flow p99 of 126 ms against 72 ms
at 8/9, at the same throughput (docs/benchmarks.md). The benchmark measures the server, not the
hash's luck, so it reconnects on crowded workers until no worker holds two more than another.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from jingwu.cli.cpu_meter import process_tree

_PROC = Path("/proc")
_ESTABLISHED, _LISTEN = "01", "0A"


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        fds = list((_PROC / str(pid) / "fd").iterdir())
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _tcp_sockets(port: int) -> tuple[set[int], dict[int, int]]:
    """IPv4 sockets on local ``port``: the listening ones' inodes, and established ones' inode by
    the remote (client) port."""
    listening: set[int] = set()
    by_client: dict[int, int] = {}
    for line in (_PROC / "net" / "tcp").read_text().splitlines()[1:]:
        f = line.split()
        local_port = int(f[1].rsplit(":", 1)[1], 16)
        if local_port != port:
            continue
        if f[3] == _LISTEN:
            listening.add(int(f[9]))
        elif f[3] == _ESTABLISHED:
            by_client[int(f[2].rsplit(":", 1)[1], 16)] = int(f[9])
    return listening, by_client


def connection_owners(server: int, port: int, client_ports: list[int]) -> tuple[list[int], dict[int, int]]:
    """The server's workers (the processes under ``server`` that listen on ``port``) and, by client
    port, the worker that accepted each connection (a connection not yet accepted is left out)."""
    listening, by_client = _tcp_sockets(port)
    workers: list[int] = []
    owner_of_inode: dict[int, int] = {}
    for pid in process_tree(server):
        inodes = _socket_inodes(pid)
        if inodes & listening:
            workers.append(pid)
            owner_of_inode.update((i, pid) for i in inodes)
    owners = {p: owner_of_inode[by_client[p]] for p in client_ports
              if p in by_client and by_client[p] in owner_of_inode}
    return sorted(workers), owners


def spread(workers: list[int], owners: dict[int, int]) -> list[int]:
    """Connections per worker, in worker order."""
    counts = Counter(owners.values())
    return [counts.get(w, 0) for w in workers]
