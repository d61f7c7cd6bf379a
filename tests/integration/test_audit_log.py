"""The tamper-evident audit log on SQLite and PostgreSQL: what is recorded, that the database
refuses edits, that `jingwu audit verify` names the first bad entry after someone bypassed that
(altered, removed or reordered rows), that concurrent writers and sealers never fork the chain,
that sealing (PostgreSQL) sets the links once and changes nothing else, and the auditor's search
and export."""

from __future__ import annotations

import csv
import io
import itertools
import os
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from jingwu.api.runtime import Runtime
from jingwu.cli import audit as cli_audit
from jingwu.config import Settings
from jingwu.store import audit_chain
from jingwu.store import tables as t
from jingwu.store.audit_sealer import AuditSealer
from jingwu.store.engine import build_engine
from jingwu.store.migrate import upgrade
from tests.conftest import Login, query_plan, until
from tests.integration.conftest_security import ALV

JINGWU = str(Path(sys.executable).with_name("jingwu"))


def verify_process(runtime: Runtime, *extra: str) -> subprocess.CompletedProcess[str]:
    """`jingwu audit verify` as its own process, as an operator runs it."""
    env = {**os.environ, "JINGWU_DATABASE_URL": runtime.engine.url.render_as_string(hide_password=False)}
    return subprocess.run([JINGWU, "audit", "verify", *extra], env=env, capture_output=True, text=True, timeout=60)


@dataclass
class Outcome:
    returncode: int
    stdout: str


def verify_cli(runtime: Runtime, *extra: str) -> Outcome:
    """The same command in this process (a second or two faster per call than a new process)."""
    url = runtime.engine.url.render_as_string(hide_password=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli_audit, "get_settings", lambda: Settings(database_url=url))
        result = CliRunner().invoke(cli_audit.app, ["verify", *extra])
    return Outcome(result.exit_code, result.output)


def activity(client: TestClient, login: Login) -> str:
    """A little of everything: logins (one failed), an intake with a caller, a reveal, a transition."""
    client.post("/api/auth/token", data={"username": "dispatcher", "password": "wrong-password-1"})
    h = login("dispatcher")
    body = {"type": "THEFT", "location": ALV, "caller": {"name": "Joan Puig", "phone": "+376 612345"}}
    inc = client.post("/api/incidents", json=body, headers=h).json()["id"]
    r = client.post(f"/api/incidents/{inc}/callers/reveal", json={"reason": "call back: line dropped"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()[0]["phone"] == "+376 612345"
    client.post(f"/api/incidents/{inc}/transition", json={"status": "cancelled", "reason": "hoax"}, headers=h)
    return str(inc)


def entries(runtime: Runtime) -> list[Any]:
    """Every entry in chain order, once whatever waited for the sealer is sealed."""
    AuditSealer(runtime.engine).seal_all()
    with runtime.engine.connect() as conn:
        return list(conn.execute(select(t.audit_log).order_by(t.chain_position())))


def test_state_changes_and_personal_data_reads_are_chained(client: TestClient, login: Login,
                                                            runtime: Runtime) -> None:
    inc = activity(client, login)
    rows = entries(runtime)
    actions = [r.action for r in rows]
    for wanted in ("login.failed", "login.ok", "incident.create", "caller.reveal", "incident.transition"):
        assert wanted in actions, actions
    reveal = next(r for r in rows if r.action == "caller.reveal")
    assert reveal.object_id == inc and reveal.detail["reason"] == "call back: line dropped"
    assert reveal.request_id, "the request id is recorded"
    change = next(r for r in rows if r.action == "incident.transition")
    assert change.detail == {"from": "received", "to": "cancelled", "reason": "hoax"}
    assert rows[0].prev_hash == audit_chain.GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    done = verify_process(runtime)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(rows)} entries" in done.stdout


def test_the_database_refuses_edits(client: TestClient, login: Login, runtime: Runtime) -> None:
    activity(client, login)
    for sql in ("UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError), runtime.engine.begin() as conn:
            conn.execute(text(sql))
    assert verify_cli(runtime).returncode == 0


def _bypass_trigger(conn: Connection) -> None:
    """What a database superuser could do: switch the append-only trigger off."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
    else:
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))


def _alter(conn: Connection, seqs: list[int]) -> int:
    conn.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE seq = :s"), {"s": seqs[3]})
    return seqs[3]


def _alter_detail(conn: Connection, seqs: list[int]) -> int:
    row = conn.execute(select(t.audit_log).where(t.audit_log.c.action == "caller.reveal")).one()
    conn.execute(t.audit_log.update().where(t.audit_log.c.seq == row.seq).values(detail={"reason": "routine"}))
    return int(row.seq)


def _alter_and_rehash(conn: Connection, seqs: list[int]) -> int:
    """A careful forger recomputes the altered row's own hash: the next row's link still breaks."""
    row = conn.execute(select(t.audit_log).where(t.audit_log.c.seq == seqs[2])).one()
    forged = {**row._mapping, "actor": "someone-else"}
    conn.execute(t.audit_log.update().where(t.audit_log.c.seq == seqs[2]).values(
        actor="someone-else", hash=audit_chain.entry_hash(row.prev_hash, forged)))
    return seqs[3]


def _remove(conn: Connection, seqs: list[int]) -> int:
    conn.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": seqs[2]})
    return seqs[3]


def _reorder(conn: Connection, seqs: list[int]) -> int:
    """Swap two entries' places in the chain: their seqs on SQLite, their chain_pos where the
    sealer set one (PostgreSQL). The entry that moved up is the first bad one."""
    a, b = seqs[1], seqs[2]
    column = "chain_pos" if conn.execute(text("SELECT chain_pos FROM audit_log WHERE seq = :a"),
                                         {"a": a}).scalar() is not None else "seq"
    place = {s: conn.execute(text(f"SELECT {column} FROM audit_log WHERE seq = :s"), {"s": s}).scalar_one()
             for s in (a, b)}
    conn.execute(text(f"UPDATE audit_log SET {column} = -1 WHERE {column} = :a"), {"a": place[a]})
    conn.execute(text(f"UPDATE audit_log SET {column} = :a WHERE {column} = :b"), {"a": place[a], "b": place[b]})
    conn.execute(text(f"UPDATE audit_log SET {column} = :b WHERE {column} = -1"), {"b": place[b]})
    return a if column == "seq" else b


def _cut_tail(conn: Connection, seqs: list[int]) -> int:
    conn.execute(text("DELETE FROM audit_log WHERE seq >= :s"), {"s": seqs[-2]})
    return seqs[-1]


TAMPERS = [_alter, _alter_detail, _alter_and_rehash, _remove, _reorder, _cut_tail]


def test_verify_names_the_first_bad_entry(client: TestClient, login: Login, runtime: Runtime) -> None:
    activity(client, login)
    seqs = [int(r.seq) for r in entries(runtime)]
    assert len(seqs) >= 6
    intact = verify_cli(runtime)
    assert intact.returncode == 0, intact.stdout
    anchor_text = intact.stdout.split("head ")[1].strip()  # SEQ:HASH, kept elsewhere by the operator
    anchor = (int(anchor_text.split(":")[0]), anchor_text.split(":")[1])
    # Each way of tampering, done and checked inside a transaction that is then rolled back.
    for tamper in TAMPERS:
        with runtime.engine.connect() as conn:
            tx = conn.begin()
            _bypass_trigger(conn)
            bad = tamper(conn, seqs)
            report = audit_chain.verify(conn, anchor)
            alone = audit_chain.verify(conn)
            tx.rollback()
        assert not report.ok and report.bad_seq == bad, (tamper.__name__, report)
        assert alone.ok is (tamper is _cut_tail), (tamper.__name__, alone)  # only a cut needs the anchor
    assert verify_cli(runtime).returncode == 0, "the rolled-back tampering left the log intact"
    # And once for real, committed, through the command.
    with runtime.engine.begin() as conn:
        _bypass_trigger(conn)
        bad = _alter(conn, seqs)
    found = verify_cli(runtime, "--anchor", anchor_text)
    assert found.returncode == 1, found.stdout
    assert f"first bad entry seq {bad}:" in found.stdout, found.stdout


def test_sealing_sets_the_links_once_and_nothing_else(runtime: Runtime) -> None:
    """PostgreSQL writes an entry unsealed and the append-only trigger lets it be sealed once:
    hashes and place set together, nothing else changed. SQLite seals as it writes."""
    with runtime.deps.uow() as uow:
        uow.audit(at=runtime.deps.clock(), actor="dispatcher", action="test.seal", detail={"a": 1})
        uow.commit()
    with runtime.engine.connect() as conn:
        seq, sealed = conn.execute(
            text("SELECT seq, hash IS NOT NULL FROM audit_log WHERE action = 'test.seal'")).one()
    assert bool(sealed) is (runtime.engine.dialect.name == "sqlite")
    forged = {"s": seq, "g": audit_chain.GENESIS}
    attempts = [
        "UPDATE audit_log SET actor = 'nobody' WHERE seq = :s",
        "UPDATE audit_log SET prev_hash = :g, hash = :g, chain_pos = 999999, actor = 'nobody' WHERE seq = :s",
        "UPDATE audit_log SET prev_hash = :g, hash = :g, chain_pos = 999999, detail = '{}' WHERE seq = :s",
        "UPDATE audit_log SET hash = :g WHERE seq = :s",
        "DELETE FROM audit_log WHERE seq = :s",
    ]
    for sql in attempts:
        with pytest.raises(DBAPIError, match="append-only"), runtime.engine.begin() as conn:
            conn.execute(text(sql), forged)
    AuditSealer(runtime.engine).seal_all()
    with runtime.engine.connect() as conn:
        row = conn.execute(select(t.audit_log).where(t.audit_log.c.seq == seq)).one()
    assert row.hash == audit_chain.entry_hash(row.prev_hash, dict(row._mapping)) and row.actor == "dispatcher"
    with pytest.raises(DBAPIError, match="append-only"), runtime.engine.begin() as conn:  # sealed once only
        conn.execute(text("UPDATE audit_log SET prev_hash = :g, hash = :g WHERE seq = :s"), forged)
    assert verify_cli(runtime).returncode == 0


def test_concurrent_writers_never_fork_the_chain(runtime: Runtime) -> None:
    """Real concurrent connections, each committing audited units of work as fast as it can, while
    two sealers (two server processes' worth) seal what they find, as fast as they can."""
    writers, each = 6, 15
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []
    done = threading.Event()
    sealers = [AuditSealer(runtime.engine, batch=7) for _ in range(2)]

    def seal(sealer: AuditSealer) -> None:
        try:
            while not done.is_set():
                sealer.seal_once()
        except BaseException as exc:
            errors.append(exc)

    sealing = [threading.Thread(target=seal, args=(s,)) for s in sealers]
    for th in sealing:
        th.start()

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(each):
                with runtime.deps.uow() as uow:
                    uow.audit(at=runtime.deps.clock(), actor=f"writer-{n}", action="test.write", detail={"i": i})
                    uow.audit(at=runtime.deps.clock(), actor=f"writer-{n}", action="test.write2", detail={"i": i})
                    uow.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done.set()
    for th in sealing:
        th.join()
    assert not errors, errors
    if runtime.engine.dialect.name == "postgresql":
        assert sum(s.sealed_count for s in sealers) > 0, "the sealers sealed while the writers wrote"
    AuditSealer(runtime.engine).seal_all()
    with runtime.engine.connect() as conn:
        report = audit_chain.verify(conn)
        hashes = [r.prev_hash for r in conn.execute(select(t.audit_log.c.prev_hash))]
    assert report.ok and report.unsealed == 0, report
    assert len(hashes) == len(set(hashes)), "two entries chained onto the same previous hash"
    assert sum(1 for r in entries(runtime) if r.action.startswith("test.")) == writers * each * 2


def test_auditor_searches_and_exports_and_the_export_is_audited(client: TestClient, login: Login,
                                                                 runtime: Runtime) -> None:
    inc = activity(client, login)
    auditor = login("auditor")
    r = client.get("/api/audit", params={"action": "caller.reveal"}, headers=auditor)
    assert r.status_code == 200, r.text
    assert [(e["object_id"], e["detail"]["reason"]) for e in r.json()["items"]] == [(inc, "call back: line dropped")]
    logins = client.get("/api/audit", params={"action": "login.", "actor": "dispatcher"}, headers=auditor).json()
    assert {e["action"] for e in logins["items"]} == {"login.ok", "login.failed"}
    assert client.get("/api/audit", params={"since": "2999-01-01T00:00:00"}, headers=auditor).json()["total"] == 0

    export = client.get("/api/audit/export.csv", params={"action": "incident."}, headers=auditor)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(export.text)))
    assert {x["action"] for x in lines} == {"incident.create", "incident.transition"}
    exported = client.get("/api/audit", params={"action": "audit.export"}, headers=auditor).json()["items"]
    assert exported and exported[0]["actor"] == "auditor" and exported[0]["detail"] == {"action": "incident."}

    for who in ("dispatcher", "admin"):  # the administrator is not the auditor
        assert client.get("/api/audit", headers=login(who)).status_code == 403
        assert client.get("/api/audit/export.csv", headers=login(who)).status_code == 403
    assert verify_cli(runtime).returncode == 0


def test_hold_writer_takes_sqlite_write_lock_before_any_read(tmp_path: Path) -> None:
    """A reveal reads, then audits: it must hold the write lock from the start, or a relay commit
    in between makes SQLite refuse its audit insert at once (a stale snapshot)."""
    engine = build_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    upgrade(engine)
    with engine.connect() as conn, conn.begin():
        audit_chain.hold_writer(conn)
        other = sqlite3.connect(tmp_path / "lock.db", timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("INSERT INTO org_units (code, name, names, level) VALUES ('X', 'x', '{}', 'station')")
        other.close()
    engine.dispose()


def test_the_head_and_the_work_list_are_read_by_index(runtime: Runtime) -> None:
    """Every audited commit on SQLite reads the chain head, every seal on PostgreSQL the head and
    the unsealed entries: each must come off its index, not a scan of years of log."""
    at = runtime.deps.clock()
    with runtime.engine.begin() as conn:
        audit_chain.hold_writer(conn)
        audit_chain.append(conn, [{"at": at, "actor": "bulk", "action": "test.bulk", "detail": {"i": i}}
                                  for i in range(3000)])
    AuditSealer(runtime.engine, batch=5000).seal_all()
    with runtime.engine.begin() as conn:
        audit_chain.append(conn, [{"at": at, "actor": "bulk", "action": "test.tail"}])
        conn.exec_driver_sql("ANALYZE")
        head = query_plan(conn, audit_chain._HEAD, {})
        work = query_plan(conn, audit_chain._UNSEALED, {"batch": 1000, "window": 1000})
    assert "ix_audit_log_chain_position" in head, head
    assert "ix_audit_log_unsealed" in work and "ix_audit_log_chain_position" in work, work
    assert "Seq Scan" not in work and "SCAN audit_log" not in work.replace("USING", "").split("ix_")[0], work


def _unsealed_entry(runtime: Runtime, action: str) -> int:
    """An entry written as PostgreSQL's requests write them (unsealed), on either database."""
    with runtime.engine.begin() as conn:
        return int(conn.execute(text(
            "INSERT INTO audit_log (at, actor, action, detail) VALUES (:at, 'late', :a, '{}') RETURNING seq"),
            {"at": runtime.deps.clock(), "a": action}).scalar_one())


def test_a_seal_looks_back_only_its_window_and_a_full_one_finds_the_straggler(runtime: Runtime) -> None:
    """An entry whose transaction stayed open while many others were sealed is behind the window:
    a windowed seal (the sealer's usual one) skips it, a full one (the sweep's) chains it after the rest."""
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: no entry commits behind others")
    at = runtime.deps.clock()
    with runtime.engine.connect() as late:
        late.begin()
        late.execute(text("INSERT INTO audit_log (at, actor, action, detail) VALUES (:at, 'late', 'test.late', '{}')"),
                     {"at": at})
        for i in range(30):  # others commit and are sealed while the straggler's transaction is open
            with runtime.engine.begin() as conn:
                audit_chain.hold_writer(conn)
                audit_chain.append(conn, [{"at": at, "actor": "x", "action": "test.on_time", "detail": {"i": i}}])
            AuditSealer(runtime.engine).seal_all(window=5)
        late.commit()
    fresh = _unsealed_entry(runtime, "test.fresh")  # behind it in seq, but inside the window
    sealer = AuditSealer(runtime.engine)
    assert sealer.seal_all(window=5) == 1
    with runtime.engine.connect() as conn:
        waiting = conn.execute(select(t.audit_log.c.action).where(t.audit_log.c.hash.is_(None))).scalars().all()
    assert waiting == ["test.late"]
    assert sealer.seal_all() == 1
    order = [r.action for r in entries(runtime) if r.action.startswith("test.")]
    assert order == ["test.on_time"] * 30 + ["test.fresh", "test.late"]
    with runtime.engine.connect() as conn:
        report = audit_chain.verify(conn)
    assert report.ok and report.unsealed == 0 and fresh > 0, report


def test_a_sealer_does_not_queue_behind_another_and_its_sweep_finds_stragglers(runtime: Runtime) -> None:
    """While another sealer holds the chain head, a server's sealer neither waits nor seals; it
    looks again after its linger. Its periodic sweep (here every 0.3 s) chains what lies behind
    its window."""
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite seals as it writes: no sealer runs")
    _unsealed_entry(runtime, "test.first")
    with runtime.engine.connect() as other:
        other.begin()
        other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit_chain.ADVISORY_KEY})
        with runtime.engine.begin() as conn:
            assert audit_chain.seal_pending(conn, wait=False) is None
        sealer = AuditSealer(runtime.engine, linger_s=0.05, poll_s=0.05, window=1, sweep_s=0.3)
        sealer.start()
        try:
            sealer.notify()
            threading.Event().wait(0.3)
            assert sealer.sealed_count == 0, "it sealed while another held the chain head"
            waiting = other.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                         "AND NOT granted AND database = (SELECT oid FROM pg_database "
                                         "WHERE datname = current_database())")).scalar_one()
            assert waiting == 0, "the sealer queued for the chain head"
            other.rollback()
            until(lambda: sealer.sealed_count >= 1, timeout_s=2, every_s=0.05)
            assert sealer.sealed_count == 1
            # Behind a window of 1: a new entry first, then the straggler under it in seq order.
            with runtime.engine.connect() as late:
                late.begin()
                late.execute(text("INSERT INTO audit_log (at, actor, action, detail) "
                                  "VALUES (:at, 'late', 'test.late', '{}')"), {"at": runtime.deps.clock()})
                for action in ("test.a", "test.b"):
                    _unsealed_entry(runtime, action)
                    sealer.notify()
                    until(lambda: _nothing_unsealed(runtime), timeout_s=2, every_s=0.05)
                late.commit()
            sealer.notify()
            until(lambda: _nothing_unsealed(runtime), timeout_s=2, every_s=0.05)
            with runtime.engine.connect() as conn:
                assert audit_chain.unsealed(conn) == 0, "the sweep did not chain the straggler"
        finally:
            other.rollback()  # (a no-op unless an assertion above failed while it held the head)
            sealer.stop()
    order = [r.action for r in entries(runtime) if r.action.startswith("test.")]
    assert order == ["test.first", "test.a", "test.b", "test.late"], order


def _nothing_unsealed(runtime: Runtime) -> bool:
    """No committed entry waits for the sealer."""
    with runtime.engine.connect() as conn:
        return audit_chain.unsealed(conn) == 0
