"""Shared fixtures: a seeded Andorra database on SQLite (and on PostgreSQL when
JINGWU_TEST_POSTGRES_URL is set), a runtime, a real app client, and logins."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from jingwu.api.app import create_app
from jingwu.api.runtime import Runtime, build_runtime
from jingwu.config import Settings
from jingwu.services.demo import seed_andorra
from jingwu.store.engine import build_engine
from jingwu.store.migrate import upgrade

PASSWORD = "Demo-pass-2026"
PG_ENV = "JINGWU_TEST_POSTGRES_URL"


def pg_base_url() -> str | None:
    return os.environ.get(PG_ENV)


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
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = build_engine(base, pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    engine = build_engine(url)
    upgrade(engine)
    seed_andorra(engine, PASSWORD)
    return engine, url


def drop_pg_schema(url: str) -> None:
    base = pg_base_url()
    if not base or "search_path%3D" not in url:
        return
    schema = url.rsplit("search_path%3D", 1)[1]
    admin = build_engine(base, pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


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
