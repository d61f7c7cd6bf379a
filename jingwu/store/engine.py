"""Database engines: SQLite (embedded default) tuned for one writer at a time, or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def sqlite_begin(conn: Connection) -> None:
    """The engine's "begin" listener on SQLite: ``BEGIN <conn.info["begin_mode"]>`` (DEFERRED unless
    a writer asked for IMMEDIATE), sent straight to the DBAPI connection: every unit of work and
    read connection begins with it, and Core's statement machinery costs more than the BEGIN."""
    mode = conn.info.get("begin_mode", "DEFERRED")
    conn.connection.dbapi_connection.execute(_BEGIN[mode])  # type: ignore[union-attr]


_BEGIN = {"DEFERRED": "BEGIN DEFERRED", "IMMEDIATE": "BEGIN IMMEDIATE", "EXCLUSIVE": "BEGIN EXCLUSIVE"}


def build_engine(url: str, *, pool_size: int = 20, echo: bool = False) -> Engine:
    """An engine for ``url``; for SQLite the file's folder is created and WAL mode switched on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size, max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let us issue BEGIN ourselves (IMMEDIATE for writes), so writers queue instead of failing.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        event.listen(engine, "begin", sqlite_begin)
        return engine
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=40, pool_pre_ping=True)
