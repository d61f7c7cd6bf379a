"""The audit chain's hashes and stored rows are exactly those of the original algorithm (a JSON round
trip of the detail, then sha256 of the previous hash and the sorted, compact JSON of the entry),
whatever the detail holds: ``append`` skips the round trip for details that are plain already and
does not repeat it for the hash, and that must never change a byte (existing chains must verify)."""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from jingwu.store import audit_chain

AT = datetime(2026, 11, 27, 5, 0, 0, 123456, tzinfo=UTC)


def ref_plain(value: Any) -> Any:
    """The original ``_plain``: always the round trip."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def ref_row(e: Mapping[str, Any], request_id: str | None = None) -> dict[str, Any]:
    """The row the original ``append`` built for an entry."""
    row = {
        "at": e["at"], "actor": str(e["actor"])[:64], "action": str(e["action"])[:60],
        "object_type": (str(e["object_type"])[:40] if e.get("object_type") is not None else None),
        "object_id": (str(e["object_id"])[:80] if e.get("object_id") is not None else None),
        "request_id": (e.get("request_id") or request_id),
        "detail": ref_plain(e.get("detail") or {}),
    }
    if row["request_id"] is not None:
        row["request_id"] = str(row["request_id"])[:64]
    return row


def ref_hash(prev: str, row: Mapping[str, Any]) -> str:
    """The original ``entry_hash``."""
    body = {
        "at": row["at"].astimezone(UTC).isoformat(timespec="microseconds"), "actor": row["actor"],
        "action": row["action"], "object_type": row.get("object_type"), "object_id": row.get("object_id"),
        "request_id": row.get("request_id"), "detail": ref_plain(row.get("detail") or {}),
    }
    return hashlib.sha256(
        prev.encode() + json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 1


class Blank:
    """Truthy, but its plain form ("" through ``default=str``) is not: hashed as {}."""

    def __str__(self) -> str:
        return ""


def nested(depth: int) -> Any:
    value: Any = {"leaf": 1}
    for i in range(depth):
        value = {"d": value} if i % 2 else [value]
    return value


DETAILS: list[Any] = [
    {"from": "available", "to": "en_route", "incident_id": "INC-20261127-0001"},
    {}, None, [], "", 0, False, (),
    {"nested": {"a": [1, 2, {"b": None}], "c": {"d": {"e": "f"}}}, "list": [[], {}, [[]]]},
    {"tuple": (1, "two", (3.0, None)), "in_list": [(1, 2)]},
    {"when": AT, "day": date(2026, 11, 27), "span": timedelta(minutes=5),
     "local": datetime(2026, 11, 27, 6, 0, tzinfo=timezone(timedelta(hours=1)))},
    {1: "int key", 2.5: "float key", False: "bool key", None: "none key", "s": "str key"},
    {"unicode": "Andorra la Vella · 安道尔 · ñ · \u2028 · 🚓", "ключ": "значение", "esc": "quote\" back\\ \n\t"},
    {"floats": [0.0, -0.0, 1.5, 1e-300, 1e300, 0.1 + 0.2, 2.0 ** 53, -123.456]},
    {"bools": [True, False], "ints": [0, -1, 2 ** 64, True + 1], "none": None, "empty_s": "", "zero": 0},
    {"enum": Colour.RED, "int_enum": Level.HIGH, "decimal": Decimal("1.10"), "set_as_str": frozenset()},
    {"object": Blank(), "list_of_objects": [Blank()]},
    Blank(),
    "just text", 42, 3.25, [1, "a", None], ("a", "b"),
    nested(10), nested(40),
    {"old": "received", "new": "dispatched", "reason": "", "units": ["U-P07-01", "U-P07-02"], "priority": 3},
]
SQLITE_ONLY: list[Any] = [
    {"nan": float("nan"), "inf": float("inf"), "ninf": [float("-inf")]},  # PostgreSQL's json refuses NaN
]


def entries(details: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, d in enumerate(details):
        e: dict[str, Any] = {"at": AT + timedelta(seconds=i), "actor": f"dispatcher-{i}", "action": "unit.status",
                             "detail": d}
        if i % 3 == 0:
            e.update(object_type="unit", object_id=f"U-{i}", request_id=f"req-{i}")
        if i % 3 == 1:
            e.update(object_type=None, object_id=i, request_id=None)
        if i % 5 == 4:
            e.update(actor="x" * 100, action="y" * 100, object_type="t" * 60, object_id="o" * 100,
                     request_id="r" * 100)
        if i % 7 == 6:
            e["at"] = (AT + timedelta(seconds=i)).astimezone(timezone(timedelta(hours=-5)))
        if i % 8 == 5:
            del e["detail"]  # no detail at all: hashed and stored as {}
        out.append(e)
    return out


def test_append_stores_and_hashes_as_the_original(engine: Engine) -> None:
    todo = entries(DETAILS + (SQLITE_ONLY if engine.dialect.name == "sqlite" else []))
    with engine.begin() as conn:
        audit_chain.hold_writer(conn)
        _seq, prev = audit_chain.head(conn)
        token = audit_chain.current_request_id.set("ctx-request")
        try:
            seqs = audit_chain.append(conn, todo[:len(todo) // 2])
            seqs += audit_chain.append(conn, todo[len(todo) // 2:])
        finally:
            audit_chain.current_request_id.reset(token)
        assert len(seqs) == len(todo)
        if audit_chain.seals_after_commit(conn):  # PostgreSQL: written unsealed, sealed here as the sealer does
            assert audit_chain.unsealed(conn) == len(todo)
            assert audit_chain.seal_pending(conn) == len(todo)
        assert audit_chain.unsealed(conn) == 0
        for seq, e in zip(seqs, todo, strict=True):
            row = ref_row(e, "ctx-request")
            want = ref_hash(prev, row)
            got = conn.execute(text(
                "SELECT actor, action, object_type, object_id, request_id, prev_hash, hash, "
                "CAST(detail AS TEXT) AS detail FROM audit_log WHERE seq = :s"), {"s": seq}).one()
            assert (got.actor, got.action, got.object_type, got.object_id, got.request_id) == (
                row["actor"], row["action"], row["object_type"], row["object_id"], row["request_id"])
            assert got.prev_hash == prev
            assert got.hash == want, e
            assert got.detail == json.dumps(row["detail"])  # the JSON column's text, byte for byte
            # The public functions other callers use hash the same way.
            assert audit_chain.entry_hash(prev, row) == want
            raw = {**row, "detail": e.get("detail")}
            assert audit_chain.entry_hash(prev, raw) == ref_hash(prev, raw)
            prev = want
        report = audit_chain.verify(conn)
        assert report.ok, report
        assert report.head_hash == prev


def test_canonical_detail_is_unchanged() -> None:
    for d in DETAILS + SQLITE_ONLY:
        want = json.dumps(ref_plain(d), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert audit_chain.canonical_detail(d) == want


def test_plain_returns_plain_values_unchanged() -> None:
    plain = {"from": "available", "to": "en_route", "n": [1, 2.5, True, None, {"k": "v"}]}
    assert audit_chain._plain(plain) is plain
    for odd in ({"t": (1,)}, {1: "a"}, {"x": float("nan")}, [AT], Colour.RED, Level.HIGH, nested(40), {"b": Blank()}):
        assert audit_chain._plain(odd) is not odd


def test_self_referencing_detail_still_refused() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    try:
        audit_chain._plain(loop)
    except ValueError as e:
        assert "Circular reference" in str(e)
    else:
        raise AssertionError("a self-referencing detail must be refused, as before")


scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text()
           | st.sampled_from([Colour.RED, Level.HIGH, Blank(), Decimal("2.50")])
           | st.datetimes(timezones=st.none() | st.just(UTC)) | st.dates())
keys = st.text() | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
values = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4)
                   | st.lists(inner, max_size=3).map(tuple)),
    max_leaves=25,
)


def _same(a: Any, b: Any) -> bool:
    """Equal in value and exact type all the way down (NaN equal to NaN, 1 not equal to True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b) and repr(a) == repr(b)


@settings(max_examples=400, deadline=None)
@given(values)
def test_plain_equals_the_round_trip(value: Any) -> None:
    got = audit_chain._plain(value)
    assert _same(got, ref_plain(value))
    assert json.dumps(got, sort_keys=True, ensure_ascii=False) == json.dumps(
        ref_plain(value), sort_keys=True, ensure_ascii=False)
    row = {"at": AT, "actor": "a", "action": "b", "object_type": None, "object_id": None, "request_id": None,
           "detail": value}
    assert audit_chain.entry_hash(audit_chain.GENESIS, row) == ref_hash(audit_chain.GENESIS, row)
