"""The audit sealer: chains the entries a PostgreSQL database holds unsealed, moments after commit.

A commit that wrote audit entries wakes it (``notify``); it lingers ``linger_s`` so that one seal
covers the entries of every commit in between, and it also polls, for entries written by another
node, by a CLI command or before a crash. Every server process runs one; they take turns on the
chain head's lock (``audit_chain.seal_pending``), each sealing whatever is waiting. SQLite seals as
it writes, so there it is never started.
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
    def __init__(self, engine: Engine, *, poll_s: float = 1.0, linger_s: float = 0.05, batch: int = 1000) -> None:
        """``linger_s``: the least time from one seal's start to the next one's; an entry waits at
        most that much longer for its link, and not at all when it comes after a quiet spell."""
        self.engine = engine
        self.poll_s = poll_s
        self.linger_s = linger_s
        self.batch = batch
        self.sealed_count = 0
        self._last_seal = -math.inf
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

    def seal_once(self) -> int:
        """Seal one batch in a transaction of its own; returns how many entries."""
        with self.engine.begin() as conn:
            sealed = audit_chain.seal_pending(conn, self.batch)
        self.sealed_count += sealed
        return sealed

    def seal_all(self) -> int:
        total = 0
        while (sealed := self.seal_once()) >= self.batch:
            total += sealed
        return total + sealed

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            early = self._last_seal + self.linger_s - time.monotonic()
            if early > 0:
                self._stop.wait(early)  # commits meanwhile join this seal
            self._wake.clear()
            try:
                started = time.monotonic()
                if self.seal_all():
                    self._last_seal = started
            except Exception:
                log.exception("audit sealer failed; retrying")
                self._stop.wait(self.poll_s)
