"""Shared fixtures: a seeded Andorra database on SQLite (and on PostgreSQL when
JINGWU_TEST_POSTGRES_URL is set), a runtime, a real app client, and logins."""

from __future__ import annotations

import atexit
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from jingwu.api.app import create_app
from jingwu.api.runtime import Runtime, build_runtime
from jingwu.config import Settings
from jingwu.services.demo import seed_andorra
from jingwu.store.direct import DirectStatement, _bound
from jingwu.store.engine import build_engine
from jingwu.store.migrate import upgrade

PASSWORD = "Demo-pass-2026"
PG_ENV = "JINGWU_TEST_POSTGRES_URL"


def query_plan(conn: Connection, statement: DirectStatement, params: dict[str, Any]) -> str:
    """How the database plans a hot statement with these values (``EXPLAIN``, or SQLite's
    ``EXPLAIN QUERY PLAN``), as one line: which index serves it."""
    plan = statement.plan(conn.dialect)
    explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cur.execute(explain + plan.sql, _bound(plan, params))
    return " / ".join(str(row) for row in cur.fetchall())


def until(done: Callable[[], bool], timeout_s: float, every_s: float = 0.01) -> bool:
    """Poll ``done`` until it holds or ``timeout_s`` passes: for a background thread or process
    (relay, sealer, server) to catch up. The caller asserts on the result."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(every_s)
    return True


def pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None  # set but empty (e.g. `VAR= make test`) means not set


def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.getbasetemp() / "andorra-template.db"
    if not path.exists():
        engine = build_engine(f"sqlite:///{path}")
        upgrade(engine)
        seed_andorra(engine, PASSWORD)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
    return path


_PG_TEMPLATE: dict[str, str] = {}


def _pg_admin(base: str) -> Engine:
    return create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def _pg_template(base: str) -> str:
    """A seeded database to clone, made once per test process (cloning is far cheaper than seeding)."""
    if base not in _PG_TEMPLATE:
        name = f"jingwu_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = _pg_admin(base)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        engine = build_engine(make_url(base).set(database=name).render_as_string(hide_password=False), pool_size=1)
        upgrade(engine)
        seed_andorra(engine, PASSWORD)
        engine.dispose()
        _PG_TEMPLATE[base] = name
        atexit.register(_drop_database, base, name)
    return _PG_TEMPLATE[base]


def _drop_database(base: str, name: str) -> None:
    admin = _pg_admin(base)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fresh_engine(backend: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, str]:
    """A new seeded database of the given backend; returns its engine and URL."""
    if backend == "sqlite":
        db = tmp_path / f"jingwu-{uuid.uuid4().hex[:8]}.db"
        shutil.copy(_sqlite_template(tmp_path_factory), db)
        url = f"sqlite:///{db}"
        return build_engine(url), url
    base = pg_base_url()
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    template = _pg_template(base)
    name = f"jingwu_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin(base)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    return build_engine(url), url


@contextmanager
def empty_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with nothing in it, not even the schema (for commands that start from
    zero, as an agency does); dropped afterwards on PostgreSQL."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'empty-{uuid.uuid4().hex[:8]}.db'}"
        return
    base = pg_base_url()
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    name = f"jingwu_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin(base)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(base, name)


def drop_pg_schema(url: str) -> None:
    """Drop a database made by ``fresh_engine`` (the name is historical: it once was a schema)."""
    base = pg_base_url()
    name = make_url(url).database
    if base and name and name.startswith("jingwu_t_"):
        _drop_database(base, name)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine(backend: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A seeded database of its own on each backend, for tests of the store itself (no runtime)."""
    eng, url = fresh_engine(backend, tmp_path, tmp_path_factory)
    try:
        yield eng
    finally:
        eng.dispose()
        if backend == "postgresql":
            drop_pg_schema(url)


@pytest.fixture
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # One data folder per test session, so the road network's cache is built once.
    data = tmp_path_factory.getbasetemp() / "jingwu-data"
    return Settings(database_url="sqlite:///unused.db", data_dir=data, secret_key="test-secret-" + "x" * 32)


@pytest.fixture
def runtime(backend: str, settings: Settings, tmp_path: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    engine, url = fresh_engine(backend, tmp_path, tmp_path_factory)
    rt = build_runtime(settings.model_copy(update={"database_url": url}), engine=engine, migrate=False)
    try:
        yield rt
    finally:
        rt.close()
        if backend == "postgresql":
            drop_pg_schema(url)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime, timers=False)
    with TestClient(app) as c:
        yield c


Login = Callable[[str], dict[str, str]]


@pytest.fixture
def login(client: TestClient) -> Login:
    tokens: dict[str, dict[str, str]] = {}

    def _login(username: str) -> dict[str, str]:
        if username not in tokens:
            r = client.post("/api/auth/token", data={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            tokens[username] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return tokens[username]

    return _login
