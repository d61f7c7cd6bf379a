"""The command line as a user runs it: a fresh database, an account, a login with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from jingwu.api.app import create_app
from jingwu.api.runtime import build_runtime
from jingwu.config import Settings
from jingwu.services.demo import seed_andorra
from jingwu.store.engine import build_engine


def jingwu(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jingwu", *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_db_upgrade_user_add_and_login(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"JINGWU_DATABASE_URL": url, "JINGWU_DATA_DIR": str(tmp_path)}
    up = jingwu(["db", "upgrade"], env)
    assert up.returncode == 0, up.stderr
    engine = build_engine(url)
    empty = jingwu(["user", "add", "li.wei", "--role", "dispatcher", "--org", "AD-03", "--password-stdin"], env,
                   "Strong-pass-2026\n")
    assert empty.returncode == 2 and "has no organisation yet" in empty.stderr, empty.stderr
    assert "demo.db" in empty.stderr  # where the demo's accounts live instead
    seed_andorra(engine, "Demo-pass-2026")

    added = jingwu(["user", "add", "li.wei", "--role", "dispatcher", "--org", "AD-03", "--password-stdin"], env,
                   "Strong-pass-2026\n")
    assert added.returncode == 0, added.stderr
    weak = jingwu(["user", "add", "weak", "--role", "dispatcher", "--org", "AD", "--password-stdin"], env, "123\n")
    assert weak.returncode == 2 and "password" in weak.stderr
    bad_org = jingwu(["user", "add", "x", "--role", "dispatcher", "--org", "ZZ", "--password-stdin"], env,
                     "Strong-pass-2026\n")
    assert bad_org.returncode == 2 and "org" in bad_org.stderr
    no_stdin = jingwu(["user", "add", "y", "--role", "dispatcher", "--org", "AD"], env)
    assert no_stdin.returncode == 2

    settings = Settings(database_url=url, data_dir=tmp_path, secret_key="k" * 40, roads_enabled=False)
    runtime = build_runtime(settings, engine=engine, migrate=False)
    with TestClient(create_app(runtime, timers=False)) as client:
        r = client.post("/api/auth/token", data={"username": "li.wei", "password": "Strong-pass-2026"})
        assert r.status_code == 200
        me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}).json()
        assert me["role"] == "dispatcher" and me["org"] == "AD-03"
        assert set(me["scope"]) == {"AD-03", "AD-03-S1"}
        disabled = jingwu(["user", "disable", "li.wei"], env)
        assert disabled.returncode == 0, disabled.stderr
        runtime.extras.pop("actor_cache", None)
        again = client.get("/api/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        assert again.status_code == 401
    runtime.close()
