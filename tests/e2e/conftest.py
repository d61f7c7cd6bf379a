"""End-to-end fixtures: a real jingwu server (uvicorn on 127.0.0.1, fresh seeded SQLite, Andorra road
network) and Debian's Chromium driven by Playwright. Nothing is downloaded: without /usr/bin/chromium
the browser tests are skipped, unless CI=true, where that is a failure."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from jingwu.api.app import create_app
from jingwu.api.runtime import Runtime, build_runtime
from jingwu.config import Settings
from tests.conftest import _sqlite_template

PASSWORD = "Demo-pass-2026"
CHROMIUM = Path(os.environ.get("JINGWU_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PORTS = range(8720, 8740)


def bound_socket() -> socket.socket:
    """A socket already bound to a free port of the range, handed to uvicorn as it is, so two test
    workers can never pick the same port."""
    for port in PORTS:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        return s
    raise RuntimeError("no free port in 8720-8739")


@dataclass
class LiveServer:
    """A jingwu server on a real socket, in a thread of this process (so tests can read its runtime)."""

    runtime: Runtime
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    @contextmanager
    def api(self, username: str) -> Iterator[httpx.Client]:
        """An API client logged in as ``username`` (bearer token, as a terminal or script would)."""
        with httpx.Client(base_url=self.url, timeout=10) as client:
            r = client.post("/api/auth/token", data={"username": username, "password": PASSWORD})
            r.raise_for_status()
            client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            yield client

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.runtime.close()


def start_server(db: Path, data_dir: Path, **settings: Any) -> LiveServer:
    s = Settings(database_url=f"sqlite:///{db}", data_dir=data_dir, secret_key="e2e-secret-" + "x" * 32, **settings)
    runtime = build_runtime(s, migrate=False)
    sock = bound_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(runtime, timers=False), host="127.0.0.1", port=port, log_level="warning",
                            ws="websockets", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"jingwu-e2e-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the e2e server did not start")
        time.sleep(0.05)
    return LiveServer(runtime, f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture
def live_server(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    db = tmp_path / "jingwu.db"
    shutil.copy(_sqlite_template(tmp_path_factory), db)
    roads_cache = tmp_path_factory.getbasetemp() / "e2e-data"  # the road network cache is shared
    server = start_server(db, roads_cache)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium (.ci/run does)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


Login = Callable[..., Any]


@pytest.fixture
def login(browser: Any, live_server: LiveServer) -> Iterator[Login]:
    """Opens a new browser context (its own storage, like a separate window profile) logged in as a user,
    and waits until the landing page has loaded its data."""
    contexts: list[Any] = []
    errors: list[str] = []

    def _login(username: str, *, phone: bool = False, **context_args: Any) -> Any:
        if phone:
            context_args.update(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                device_scale_factor=2)
        else:
            context_args.setdefault("viewport", {"width": 1400, "height": 850})
        ctx = browser.new_context(**context_args)
        contexts.append(ctx)
        page = ctx.new_page()
        console: list[str] = []
        page.on("pageerror", lambda e: errors.append(f"{username}: {e}"))
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("requestfailed", lambda r: console.append(f"failed: {r.url} {r.failure}"))
        page.goto(live_server.url + "/")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.press("#password", "Enter")
        try:
            page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        except Exception as exc:
            raise AssertionError(f"{username}'s page did not get ready at {page.url}: {console[-10:]}") from exc
        return page

    yield _login
    for ctx in contexts:
        ctx.close()
    assert not errors, f"uncaught errors in the pages: {errors}"
