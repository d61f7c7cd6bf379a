"""The audit sealer: chains the entries a PostgreSQL database holds unsealed, moments after commit.

A commit that wrote audit entries wakes it (``notify``); it lingers ``linger_s`` so that one seal
covers the entries of every commit in between, and it also polls, for entries written by another
node, by a CLI command or before a crash. Every server process runs one. They do not queue for
the chain head's lock (``audit_chain.seal_pending``): a sealer that finds another one sealing
tries again after its linger, by when the other has sealed most of what was waiting.

A seal looks only at entries after the last ``window`` sealed (the unsealed index keeps an entry
for each sealed one until VACUUM), and every ``sweep_s`` one looks back to the start, for an entry
whose transaction stayed open while more than ``window`` others were sealed. SQLite seals as it
writes, so there it is never started.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from sqlalchemy import Engine

from jingwu.store import audit_chain

log = logging.getLogger(__name__)


class AuditSealer:
    def __init__(self, engine: Engine, *, poll_s: float = 1.0, linger_s: float = 0.2, batch: int = 1000,
                 window: int = 1_000, sweep_s: float = 60.0) -> None:
        """``linger_s``: the least time from one seal's start to the next one's; an entry waits at
        most that much longer for its link, and not at all when it comes after a quiet spell.
        Sealing costs the server and the database ~0.9 ms a seal plus ~30 µs an entry (about one
        entry a call), so under load the linger decides most of it (docs/benchmarks.md)."""
        self.engine = engine
        self.poll_s = poll_s
        self.linger_s = linger_s
        self.batch = batch
        self.window = window
        self.sweep_s = sweep_s
        self.sealed_count = 0
        self._last_seal = -math.inf
        self._last_sweep = -math.inf
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        """A commit on this node wrote audit entries."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then seal what this node's last commits left (so a CLI run or a drill
        that ends leaves nothing waiting)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        try:
            self.seal_all()
        except Exception:
            log.exception("audit seal at shutdown failed; the next server or `jingwu audit verify` seals them")

    def seal_once(self, *, window: int = audit_chain.FULL, wait: bool = True) -> int | None:
        """Seal one batch in a transaction of its own; returns how many entries, or ``None`` when
        ``wait`` is false and another sealer holds the chain head."""
        with self.engine.begin() as conn:
            sealed = audit_chain.seal_pending(conn, self.batch, window=window, wait=wait)
        self.sealed_count += sealed or 0
        return sealed

    def seal_all(self, *, window: int = audit_chain.FULL) -> int:
        """Seal batches until one comes back short, waiting for the chain head if need be."""
        total = 0
        while (sealed := self.seal_once(window=window) or 0) >= self.batch:
            total += sealed
        return total + sealed

    def _take_turn(self, window: int) -> int | None:
        """As ``seal_all``, but ``None`` at once if another sealer holds the chain head."""
        total = 0
        while True:
            sealed = self.seal_once(window=window, wait=False)
            if sealed is None:
                return total or None
            total += sealed
            if sealed < self.batch:
                return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            early = self._last_seal + self.linger_s - time.monotonic()
            if early > 0:
                self._stop.wait(early)  # commits meanwhile join this seal
            self._wake.clear()
            started = time.monotonic()
            sweep = started - self._last_sweep >= self.sweep_s
            try:
                sealed = self._take_turn(audit_chain.FULL if sweep else self.window)
            except Exception:
                log.exception("audit sealer failed; retrying")
                self._stop.wait(self.poll_s)
                continue
            if sealed is None:
                self._wake.set()  # another node is sealing: look again after the linger
                self._last_seal = started
                continue
            if sweep:
                self._last_sweep = started
            if sealed:
                self._last_seal = started
