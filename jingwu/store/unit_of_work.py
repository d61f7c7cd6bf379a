"""The unit of work: one transaction around one use case.

On commit it writes every event the touched aggregates recorded to the outbox, and any audit
records, in the same transaction; after the commit it wakes the outbox relay (and, on PostgreSQL,
the audit sealer). So an event is published if and only if its change committed.

Rows nothing in the transaction reads back (new aggregates, timelines, the outbox, audit entries
on PostgreSQL, and what a use case hands to ``insert``) are held and written together just before
the commit: on PostgreSQL in one statement (``pending_inserts``).

A use case whose every write is such a row (taking a call: it reads, then adds) opens its unit of
work with ``single_write=True``. On PostgreSQL that one statement is then its whole transaction:
the reads before it run outside any (in READ COMMITTED each statement sees its own snapshot
either way), which spares the BEGIN and COMMIT round trips. Changing or locking a row in such a
unit of work raises (the repositories refuse it), since nothing would undo it with the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, Table

from jingwu.domain.events import Event
from jingwu.store import audit_chain
from jingwu.store import tables as t
from jingwu.store.engine import checked_out, is_sqlite, writer_turn
from jingwu.store.pending_inserts import PendingInserts
from jingwu.store.repositories import IncidentRepository, MajorIncidentRepository, UnitRepository


class UnitOfWork:
    def __init__(self, engine: Engine, on_commit: Callable[[], None] | None = None,
                 on_audit: Callable[[], None] | None = None, *, single_write: bool = False) -> None:
        """``on_commit``: after a commit that wrote events; ``on_audit``: after one that wrote
        audit entries to be sealed (``audit_chain.seals_after_commit``); ``single_write``: every
        write is a held row (see the module's docstring)."""
        self.engine = engine
        self.single_write = single_write
        self.on_commit = on_commit
        self.on_audit = on_audit
        self.conn: Connection
        self._audit: list[dict[str, Any]] = []
        self._extra_events: list[Event] = []
        self.published: list[Event] = []

    def __enter__(self) -> UnitOfWork:
        self._turn = writer_turn(self.engine)
        self._turn.__enter__()
        try:
            self._open()
        except BaseException:
            self._turn.__exit__(None, None, None)
            raise
        return self

    def _open(self) -> None:
        self._checkout = checked_out(self.engine)
        self.conn = self._checkout.__enter__()
        try:
            sqlite = is_sqlite(self.engine)
            if sqlite:
                self.conn.info["begin_mode"] = "IMMEDIATE"
            elif self.single_write:  # the pool puts the connection back as it was when it is returned
                self.conn.execution_options(isolation_level="AUTOCOMMIT")
            self._tx = self.conn.begin()
        except BaseException:
            self.conn.info.pop("begin_mode", None)
            self._checkout.__exit__(None, None, None)
            raise
        lock, once = not sqlite, self.single_write
        self.pending = PendingInserts()
        self.incidents = IncidentRepository(self.conn, lock, self.pending, once)
        self.units = UnitRepository(self.conn, lock, self.pending, once)
        self.majors = MajorIncidentRepository(self.conn, lock, once)
        self._committed = False

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if not self._committed and self._tx.is_active:
                self._tx.rollback()
        finally:
            try:
                self.conn.info.pop("begin_mode", None)
                self._checkout.__exit__(None, None, None)
            finally:
                self._turn.__exit__(None, None, None)

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        """Insert ``row`` with the commit's other writes. Reads in this transaction do not see it
        before the commit; a constraint it breaks raises (``IntegrityError``) from ``commit``."""
        self.pending.add(table, row)

    def emit(self, event: Event) -> None:
        """An event not recorded by an aggregate (a timer breach, an analysis alert)."""
        self._extra_events.append(event)

    def audit(self, *, at: datetime, actor: str, action: str, object_type: str | None = None,
              object_id: str | None = None, detail: dict[str, Any] | None = None,
              request_id: str | None = None) -> None:
        self._audit.append({
            "at": at, "actor": actor, "action": action, "object_type": object_type, "object_id": object_id,
            "detail": detail or {}, "request_id": request_id,
        })

    def collect_events(self) -> list[Event]:
        out: list[Event] = []
        for repo in (self.incidents, self.units, self.majors):
            for agg in repo.seen:
                out.extend(agg.events)
                agg.events.clear()
        out.extend(self._extra_events)
        self._extra_events.clear()
        return out

    def commit(self) -> None:
        events = self.collect_events()
        # Rows are held in event order, so ``seq`` order is event order.
        self.pending.add_many(t.outbox, ({
            "stream": e.stream, "kind": e.kind, "station_code": e.station_code, "payload": e.to_dict(),
            "created_at": e.at} for e in events))
        audited = bool(self._audit)
        sealed_later = audited and audit_chain.seals_after_commit(self.conn)
        if sealed_later:  # PostgreSQL: unsealed entries, in the same statement as the rest
            self.pending.add_many(t.audit_log, audit_chain.unsealed_rows(self._audit))
        self.pending.send(self.conn)
        if audited and not sealed_later:
            audit_chain.append(self.conn, self._audit)  # last write: on SQLite it reads the chain head
        self._audit = []
        self._tx.commit()
        self._committed = True
        self.published = events
        if events and self.on_commit is not None:
            self.on_commit()
        if audited and self.on_audit is not None:
            self.on_audit()

    def rollback(self) -> None:
        self._tx.rollback()


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for read models (no write lock taken on SQLite).

    On PostgreSQL a read runs in autocommit: each statement is its own transaction. In READ
    COMMITTED each statement of a transaction sees a snapshot of its own anyway, so the answer is
    the same, without a BEGIN and a COMMIT round trip around it (a one-statement read: ~0.24 ms
    less waiting, ~0.1 ms less of the server's CPU and ~0.1 ms less of PostgreSQL's;
    docs/benchmarks.md, "Reads in autocommit"). Nothing may write through it, since each write would commit alone.

    On SQLite the read's transaction ends with COMMIT, not ROLLBACK, when the read went through:
    for a transaction that wrote nothing the two are the same. (On PostgreSQL, before reads ran in
    autocommit, this mattered: psycopg forgets every statement it had prepared on a connection at
    each ROLLBACK, and reads ending in ROLLBACK left PostgreSQL parsing and planning every statement
    of every request anew.) A read that raised still rolls back."""
    with checked_out(engine) as conn:
        if is_sqlite(engine):
            conn.info["begin_mode"] = "DEFERRED"
        elif not conn.in_transaction():  # the pool puts the connection back as it was when it is returned
            conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            yield conn
            if conn.in_transaction():
                conn.commit()
        finally:
            conn.info.pop("begin_mode", None)
