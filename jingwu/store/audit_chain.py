"""The tamper-evident audit log: every entry carries the hash of the one before it.

``hash = sha256(prev_hash || canonical JSON of the entry)``, entries chained from a genesis of 64
zeros. Altering an entry changes its hash; removing or reordering entries breaks the link of the
one after. Only a cut of the newest entries goes unseen by the chain alone, which is why ``verify``
reports the head (seq, hash) for the operator to keep elsewhere and can check an anchor.

When an entry joins the chain (it is *sealed*):

* **SQLite** seals as it writes: there is one writer at a time, so the transaction that writes the
  entry reads the head and chains onto it. Chain order is ``seq`` order.
* **PostgreSQL** writes the entry unsealed (no hashes) in the transaction of the change it records,
  and a sealer (``jingwu.store.audit_sealer``, each server process) seals a batch of entries at a
  time moments after their commit, under a transaction-level advisory lock on the chain head. Until
  0005 every audited commit took that lock itself and held it through COMMIT, so every intake of
  every node queued on it (docs/benchmarks.md, intake, twelfth pass). Entries commit in another
  order than their ``seq`` was drawn, so a sealed entry's place is its ``chain_pos``
  (``tables.chain_position``). The entry is written in the same transaction as its change either
  way; what waits is only its link, and ``verify`` seals what is waiting before it walks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from math import isfinite
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, text, update

from jingwu.store import tables as t
from jingwu.store.direct import DirectStatement

GENESIS = "0" * 64
ADVISORY_KEY = 0x6A696E67_77750001
"""The PostgreSQL advisory lock id of the chain head ("jingwu" + 1)."""

current_request_id: ContextVar[str | None] = ContextVar("jingwu_request_id", default=None)
"""Set by the API for each request, so audit records name the request even when a use case was not
handed the id explicitly."""


_PLAIN_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""Made once: ``json.dumps`` with any option builds a new encoder per call. Same output."""

_MAX_DEPTH = 32
"""Deeper values (or self-referencing ones) take the round trip, which raises as it always did."""


def _is_plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` already is what a JSON round trip gives back, so it can stand for it.

    Exact types only: str/int/bool/None, finite floats, dicts with str keys, lists. Subclasses
    (enums…), tuples, non-str keys, NaN/infinity and anything else take the round trip.
    """
    tp = type(value)
    if tp is dict:
        if any(type(k) is not str for k in value):
            return False
        items: Iterable[Any] = value.values()
    elif tp is list:
        items = value
    else:
        return tp is str or tp is int or tp is bool or value is None or (tp is float and isfinite(value))
    for v in items:
        vt = type(v)
        if vt is str or vt is int or vt is bool or v is None:
            continue
        if vt is float:
            if not isfinite(v):
                return False
        elif depth >= _MAX_DEPTH or not _is_plain(v, depth + 1):
            return False
    return True


def _plain(value: Any) -> Any:
    """The value as it reads back from a JSON column (datetimes as ISO text, tuples as lists).

    A value that already is in that form is returned as it is (not copied): the round trip
    (``json.loads(json.dumps(value, default=str, ensure_ascii=False))``) would give an equal one.
    """
    if _is_plain(value):
        return value
    return json.loads(_PLAIN_ENCODER.encode(value))


def canonical_detail(value: Any) -> str:
    """A detail as compact JSON with sorted keys (for hashing and for CSV export)."""
    return _CANONICAL_ENCODER.encode(_plain(value))


def _at(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _canonical_plain(entry: Mapping[str, Any], detail: Any) -> bytes:
    """``canonical`` with the detail given already in plain form (``_plain``, then ``or {}``)."""
    body = {
        "at": _at(entry["at"]), "actor": entry["actor"], "action": entry["action"],
        "object_type": entry.get("object_type"), "object_id": entry.get("object_id"),
        "request_id": entry.get("request_id"), "detail": detail,
    }
    return _CANONICAL_ENCODER.encode(body).encode()


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed: every field except seq and the hashes, in a fixed form."""
    return _canonical_plain(entry, _plain(entry.get("detail") or {}))


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(entry)).hexdigest()


_HOLD_WRITER = DirectStatement(text("UPDATE org_units SET code = code WHERE 0"))  # zero rows; takes the lock
_LOCK_HEAD = DirectStatement(text("SELECT pg_advisory_xact_lock(:k)"))
_TRY_LOCK_HEAD = DirectStatement(text("SELECT pg_try_advisory_xact_lock(:k)"))
_POSITION = t.chain_position()
_HEAD = DirectStatement(select(_POSITION, t.audit_log.c.hash).where(t.SEALED).order_by(_POSITION.desc()).limit(1))
_INSERT = DirectStatement(
    insert(t.audit_log)
    .values({c.name: bindparam(c.name) for c in t.audit_log.c if c.name not in ("seq", "chain_pos")})
    .returning(t.audit_log.c.seq)
)
"""Compiled once per dialect and run on the DBAPI cursor: an append is on every audited commit."""
_HASHED_COLUMNS = ("seq", "at", "actor", "action", "object_type", "object_id", "request_id", "detail")
_HEAD_POSITION = select(_POSITION).where(t.SEALED).order_by(_POSITION.desc()).limit(1).scalar_subquery()
_HEAD_HASH = select(t.audit_log.c.hash).where(t.SEALED).order_by(_POSITION.desc()).limit(1).scalar_subquery()
_WINDOW_START = (select(t.audit_log.c.seq)
                 .where(t.SEALED, _POSITION <= _HEAD_POSITION - bindparam("window"))  # noqa: SIM300 (SQL, not Yoda)
                 .order_by(_POSITION.desc()).limit(1).scalar_subquery())
_UNSEALED = DirectStatement(
    select(*(t.audit_log.c[name] for name in _HASHED_COLUMNS), _HEAD_POSITION, _HEAD_HASH)
    .where(text("hash IS NULL"), t.audit_log.c.seq > func.coalesce(_WINDOW_START, 0))
    .order_by(t.audit_log.c.seq).limit(bindparam("batch"))
)
"""The oldest unsealed entries, each with the chain head beside it (one round trip, not two),
after the seq of the entry ``window`` places back in the chain (so from the start when ``window``
is at least the chain's length).

The window matters: until VACUUM the partial index keeps an entry for every entry sealed since,
and PostgreSQL's bitmap scan visits each one's heap page (200,000 sealed: 6.6 ms a read from the
start, 0.3 ms within a window of 1,000; tests/bench/test_audit_seal_bench.py)."""
_SEAL = DirectStatement(
    update(t.audit_log).where(t.audit_log.c.seq == bindparam("s"), t.audit_log.c.hash.is_(None))
    .values(prev_hash=bindparam("p"), hash=bindparam("h"), chain_pos=bindparam("c"))
)
_SEAL_ALL = DirectStatement(text(
    "UPDATE audit_log SET prev_hash = v.p, hash = v.h, chain_pos = v.c"
    " FROM unnest(CAST(:s AS bigint[]), CAST(:p AS varchar[]), CAST(:h AS varchar[]), CAST(:c AS bigint[]))"
    " AS v(s, p, h, c) WHERE audit_log.seq = v.s AND audit_log.hash IS NULL"))
"""PostgreSQL: a batch sealed by one statement (a row each, by ``_SEAL``, cost a third more of
the sealer's time at the batches a busy server seals)."""
_COUNT_UNSEALED = DirectStatement(select(func.count()).select_from(t.audit_log).where(text("hash IS NULL")))


def hold_writer(conn: Connection) -> None:
    """On SQLite, take the write lock now, before the transaction reads anything.

    A deferred SQLite transaction that reads and then writes fails at once (not after the busy
    timeout) if another writer, such as the outbox relay, committed in between. Use cases that
    read before they audit, on a connection begun elsewhere, call this first. No-op elsewhere.
    """
    if conn.dialect.name == "sqlite":
        _HOLD_WRITER.execute(conn)


def seals_after_commit(conn: Connection) -> bool:
    """Whether entries written on this connection wait for the sealer (PostgreSQL) rather than
    being sealed as they are written (SQLite)."""
    return conn.dialect.name == "postgresql"


def head(conn: Connection) -> tuple[int | None, str]:
    """The last sealed entry's place in the chain and its hash (``None``, genesis when none is)."""
    row = _HEAD.first(conn)
    if row is None:
        return None, GENESIS
    return int(row[0]), row[1]


def _row(e: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """An entry as stored (fields cut to their columns), and its detail in plain form."""
    object_type = e.get("object_type")
    object_id = e.get("object_id")
    request_id = e.get("request_id") or current_request_id.get()
    detail = _plain(e.get("detail") or {})
    return {
        "at": e["at"], "actor": str(e["actor"])[:64], "action": str(e["action"])[:60],
        "object_type": str(object_type)[:40] if object_type is not None else None,
        "object_id": str(object_id)[:80] if object_id is not None else None,
        "request_id": str(request_id)[:64] if request_id is not None else None,
        "detail": detail,
    }, detail


def unsealed_rows(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Entries as rows to insert unsealed, for the sealer to chain after the commit (PostgreSQL):
    what ``append`` writes there, for a caller that writes them with other rows."""
    rows = []
    for e in entries:
        row, _detail = _row(e)
        row["prev_hash"] = row["hash"] = None
        rows.append(row)
    return rows


def append(conn: Connection, entries: Iterable[Mapping[str, Any]]) -> list[int]:
    """Write entries in the caller's transaction; returns their seqs.

    On SQLite they are sealed at once (call it as the transaction's last write); on PostgreSQL
    they are written unsealed, for ``seal_pending`` to chain after the commit, and no lock is taken.
    """
    todo = list(entries)
    if not todo:
        return []
    sealing = not seals_after_commit(conn)
    prev = head(conn)[1] if sealing else GENESIS
    seqs = []
    for e in todo:
        row, detail = _row(e)
        if sealing:
            # The detail is plain already: hashed as ``canonical`` would (which re-applies ``or {}``:
            # a detail whose plain form is empty, such as "", is hashed as {}), without a second round trip.
            digest = hashlib.sha256(prev.encode() + _canonical_plain(row, detail or {})).hexdigest()
            row["prev_hash"], row["hash"] = prev, digest
            prev = digest
        else:
            row["prev_hash"] = row["hash"] = None
        inserted = _INSERT.first(conn, row)
        assert inserted is not None
        seqs.append(int(inserted[0]))
    return seqs


FULL = 2**62
"""A ``window`` that reaches back to the first entry."""


def seal_pending(conn: Connection, batch: int = 1000, *, window: int = FULL, wait: bool = True) -> int | None:
    """Seal up to ``batch`` committed unsealed entries, oldest seq first, in the caller's
    transaction; returns how many. Only entries after the one ``window`` places back in the chain
    are looked at (see ``_UNSEALED``): an entry committed later than that many others were sealed
    is left for a seal with the full window. The chain head's lock is held to the caller's COMMIT,
    so two sealers (two server processes) take turns and never chain onto the same hash. With
    ``wait`` false, returns ``None`` at once if another sealer holds the lock (it is sealing anyway)."""
    if conn.dialect.name == "postgresql":
        if wait:
            _LOCK_HEAD.execute(conn, {"k": ADVISORY_KEY})
        else:
            got = _TRY_LOCK_HEAD.first(conn, {"k": ADVISORY_KEY})
            if not (got and got[0]):
                return None
    rows = _UNSEALED.all(conn, {"batch": batch, "window": window})
    if not rows:
        return 0
    position, prev = rows[0][-2] or 0, rows[0][-1] or GENESIS
    seqs, prevs, hashes, positions = [], [], [], []
    for r in rows:
        entry = dict(zip(_HASHED_COLUMNS, r, strict=False))
        digest = entry_hash(prev, entry)
        position += 1
        seqs.append(entry["seq"])
        prevs.append(prev)
        hashes.append(digest)
        positions.append(position)
        prev = digest
    if conn.dialect.name == "postgresql":
        sealed = _SEAL_ALL.execute(conn, {"s": seqs, "p": prevs, "h": hashes, "c": positions})
        if sealed != len(seqs):  # cannot happen under the lock; refuse rather than fork the chain
            raise RuntimeError(f"audit seal: {sealed} of {len(seqs)} entries sealed")
    else:
        _SEAL.executemany(conn, [{"s": s, "p": p, "h": h, "c": c}
                                 for s, p, h, c in zip(seqs, prevs, hashes, positions, strict=True)])
    return len(seqs)


def unsealed(conn: Connection) -> int:
    """How many committed entries wait for the sealer."""
    row = _COUNT_UNSEALED.first(conn)
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    head_seq: int | None
    head_hash: str
    bad_seq: int | None = None
    problem: str | None = None
    unsealed: int = 0
    """Entries committed but not (yet) in the chain, as the walk ended: not covered by ``ok``."""


def _sealed(conn: Connection, batch: int = 5000) -> Iterator[Any]:
    """The sealed entries in chain order, a page at a time (keyset on the chain position)."""
    position = t.chain_position()
    last = None
    while True:
        q = select(t.audit_log, position.label("position")).where(t.SEALED).order_by(position).limit(batch)
        if last is not None:
            q = q.where(position > last)
        rows = conn.execute(q).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].position


def verify(conn: Connection, anchor: tuple[int, str] | None = None) -> ChainReport:
    """Walk the chain in its order; the first entry whose link or hash is wrong is named.

    ``anchor`` (seq, hash), recorded from an earlier run, must still be in the chain unchanged:
    that catches a cut of the newest entries, which the links alone cannot. Entries still waiting
    for the sealer are counted, not checked (``seal_pending`` first to cover them).
    """
    prev = GENESIS
    count = 0
    last_seq: int | None = None
    anchor_seen = anchor is None
    for r in _sealed(conn):
        count += 1
        entry = r._mapping
        if r.prev_hash != prev:
            why = "its prev_hash does not match the entry before it (an entry was removed, reordered or changed)"
            return ChainReport(False, count, last_seq, prev, int(r.seq), why)
        if r.hash != entry_hash(prev, entry):
            return ChainReport(False, count, last_seq, prev, int(r.seq), "its content does not match its hash")
        if anchor is not None and int(r.seq) == anchor[0]:
            if r.hash != anchor[1]:
                return ChainReport(False, count, last_seq, prev, int(r.seq), "it differs from the recorded anchor")
            anchor_seen = True
        prev = r.hash
        last_seq = int(r.seq)
    waiting = unsealed(conn)
    if not anchor_seen:
        assert anchor is not None
        return ChainReport(False, count, last_seq, prev, anchor[0],
                           "the anchored entry is missing: the log was cut", waiting)
    return ChainReport(True, count, last_seq, prev, unsealed=waiting)
