"""CPU seconds spent by the server under test, its database and the load generator, from /proc.

Why: on a shared 2-core machine the intake benchmark's throughput moves by a fifth between runs
of the same code (the server, PostgreSQL and the load generator take turns on the cores), while
the CPU each of them spends per flow moves far less. Reading it beside the throughput tells a
change that made the server cheaper from a quieter minute. Linux only: elsewhere the figures are
None and the benchmark reports throughput and latency alone.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


def _ticks_per_s() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, user + system seconds) of a live process, or None."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ... utime stime ...": comm may hold spaces and parentheses
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    return name, int(rest[1]), (int(rest[11]) + int(rest[12])) / _ticks_per_s()


def _all_stats() -> dict[int, tuple[str, int, float]]:
    out = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (s := _stat(int(entry.name))) is not None:
            out[int(entry.name)] = s
    return out


def process_tree(root: int, stats: dict[int, tuple[str, int, float]] | None = None) -> list[int]:
    """``root`` and every live process below it (``stats``: ``_all_stats()``, read now if not given)."""
    children: dict[int, list[int]] = {}
    for pid, (_name, ppid, _cpu) in (stats if stats is not None else _all_stats()).items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def tree_cpu_s(root: int, stats: dict[int, tuple[str, int, float]]) -> float:
    """CPU seconds of ``root`` and every live process below it (uvicorn's worker processes)."""
    return sum(stats[pid][2] for pid in process_tree(root, stats) if pid in stats)


def named_cpu_s(name: str, stats: dict[int, tuple[str, int, float]]) -> float:
    """CPU seconds of every live process called ``name`` (PostgreSQL's backends are ``postgres``)."""
    return sum(cpu for n, _ppid, cpu in stats.values() if n == name)


@dataclass
class CpuMeter:
    """CPU seconds between ``start`` and ``stop`` of the server's process tree, of the database's
    processes (``database`` names them; None for an embedded one) and of this process."""

    server_pid: int
    database: str | None = None
    server_s: float | None = None
    database_s: float | None = None
    client_s: float | None = None

    def _read(self) -> tuple[float | None, float | None, float]:
        client = time.process_time()
        if not _PROC.is_dir():
            return None, None, client
        stats = _all_stats()
        server = tree_cpu_s(self.server_pid, stats)
        return server, (named_cpu_s(self.database, stats) if self.database else None), client

    def start(self) -> None:
        self._before = self._read()

    def stop(self) -> None:
        server, database, client = self._read()
        s0, d0, c0 = self._before
        self.server_s = _spent(s0, server)
        self.database_s = _spent(d0, database)
        self.client_s = client - c0


def _spent(before: float | None, after: float | None) -> float | None:
    """after - before; None when unknown, or when processes that had spent CPU exited meanwhile
    (their seconds left the sum, so the difference would undercount)."""
    if before is None or after is None or after < before:
        return None
    return after - before
