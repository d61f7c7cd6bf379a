"""Hot statements compiled once per dialect and run directly on the connection's DBAPI cursor.

Why: for the store's small statements, SQLAlchemy Core's per-execution machinery (argument
coercion, cache-key generation, execution-context set-up, generic parameter and result processing)
costs several times what SQLite or PostgreSQL take to run them (figures in docs/benchmarks.md,
"In-process store"). A ``DirectStatement`` keeps what SQLAlchemy is good at — it writes the SQL for
the dialect and supplies each column's bind and result conversions (``UtcDateTime``, JSON,
booleans…) — and skips the rest: the statement is compiled once per dialect, and each execution
converts its parameters with those same processors and hands them to the DBAPI cursor of the
``Connection`` it is given. That is the connection's own DBAPI connection, so the statement runs
inside whatever transaction the ``Connection`` has open (the unit of work's, typically), and a row
written here reads back identically through ordinary SQLAlchemy queries, and vice versa.

Result conversions assume, as SQLAlchemy's and this project's types allow, that a processor is a
pure function of the value: each column remembers what it made of recent short texts (SQLite's
timestamps and JSON), sharing immutable results and copying flat JSON lists and objects, and a
processor that gives None for None is not called for a None.

Limits, checked when a statement is compiled: no expanding ``IN`` lists, no escaped bind names.
Database errors are raised as SQLAlchemy's own exception classes (``IntegrityError``…), so callers
catch the same exceptions as with ``Connection.execute``. What is skipped is skipped for good:
Core's ``before/after_cursor_execute`` events and ``echo`` logging do not see these statements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

from sqlalchemy import Column, Connection, Dialect, Table, bindparam, exc, insert
from sqlalchemy.sql.expression import Executable

Processor = Callable[[Any], Any]
RowConverter = Callable[[Sequence[Any]], tuple[Any, ...]]

_IMMUTABLE: frozenset[type] = frozenset({datetime, date, time, timedelta, Decimal, str, int, float, bool, bytes, UUID,
                                         type(None)})
"""Converted values that may be shared between reads (``_memoized``)."""
_MEMO_SIZE = 1024
_MEMO_TEXT = 256  # longer texts are converted every time


def _memoized(proc: Processor) -> Processor:
    """``proc`` remembering what it made of recent texts (SQLite hands timestamps and JSON over as
    text, and the store reads the same times and capability lists again and again: parsing them is
    most of what converting a row costs). An immutable result is kept and shared; a flat JSON list
    or object (of immutable values) is kept and handed out as a new copy each time, as parsing
    would; anything else, and any value that is not short text, goes to ``proc`` every time."""
    values: dict[str, Any] = {}
    lists: dict[str, tuple[Any, ...]] = {}
    dicts: dict[str, dict[Any, Any]] = {}
    get = values.get
    get_list = lists.get
    get_dict = dicts.get

    def remember(value: str, got: Any) -> None:
        kind = type(got)
        if kind in _IMMUTABLE:
            if got is not None:
                kept: dict[str, Any] = values
                kept_as = got
            else:
                return
        elif kind is list and all(type(v) in _IMMUTABLE for v in got):
            kept, kept_as = lists, tuple(got)
        elif kind is dict and all(type(k) in _IMMUTABLE and type(v) in _IMMUTABLE for k, v in got.items()):
            kept, kept_as = dicts, dict(got)
        else:
            return
        if len(kept) >= _MEMO_SIZE:
            kept.clear()
        kept[value] = kept_as

    def convert(value: Any) -> Any:
        if type(value) is not str:
            return proc(value)
        got = get(value)
        if got is not None:
            return got
        kept_list = get_list(value)
        if kept_list is not None:
            return list(kept_list)
        kept_dict = get_dict(value)
        if kept_dict is not None:
            return dict(kept_dict)
        got = proc(value)
        if len(value) <= _MEMO_TEXT:
            remember(value, got)
        return got

    return convert


def _binder(names: tuple[str, ...], defaults: dict[str, Any], procs: list[tuple[int, Processor]],
            positional: bool) -> Callable[[Mapping[str, Any]], Any]:
    """The function that makes a plan's DBAPI parameters: the general form, or one of its cases
    that skip the steps they do not need (the same values, in the same list or dict)."""
    if not names:
        if positional:
            return lambda given: ()
        return lambda given: {}
    getter = itemgetter(*names)
    if positional and not defaults and not procs:
        if len(names) == 1:
            name = names[0]
            return lambda given: [given[name]]
        return lambda given: list(getter(given))
    needed = defaults.keys()
    single = len(names) == 1

    def params(given: Mapping[str, Any]) -> Any:
        if defaults and not needed <= given.keys():
            given = {**defaults, **given}
        got = getter(given)
        values = [got] if single else list(got)
        for i, proc in procs:
            values[i] = proc(values[i])
        return values if positional else dict(zip(names, values, strict=True))

    return params


class _Plan:
    """One statement compiled for one dialect: its SQL, its parameters in order, their processors."""

    __slots__ = ("binary", "bind", "convert_row", "dbapi_error", "defaults", "names", "positional", "procs",
                 "result_types", "sql")

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        if getattr(compiled, "escaped_bind_names", None):
            raise ValueError(f"bind names need escaping: {compiled.escaped_bind_names}")
        bind_procs: Mapping[str, Processor] = compiled._bind_processors
        names = (list(compiled.positiontup) if compiled.positional
                 else list(dict.fromkeys(compiled.bind_names.values())))
        self.names = tuple(names)
        self.defaults: dict[str, Any] = {}  # binds that carry their own value (LIMIT 1 …)
        self.procs: list[tuple[int, Processor]] = []
        for i, name in enumerate(names):
            bp = compiled.binds[name]
            if bp.expanding:
                raise ValueError(f"{name}: expanding IN parameters cannot run directly")
            if bp.effective_value is not None:
                self.defaults[name] = bp.effective_value
            if name in bind_procs:
                self.procs.append((i, bind_procs[name]))
        self.sql: str = compiled.string
        self.positional: bool = bool(compiled.positional)
        self.bind = _binder(self.names, self.defaults, self.procs, self.positional)
        """The DBAPI parameters for a mapping of values, converted as SQLAlchemy would (processors
        run on None too); a parameter missing from it raises KeyError, as Core refuses it too."""
        self.result_types = [rc[3] for rc in getattr(compiled, "_result_columns", []) or []]
        self.convert_row: RowConverter | None = None
        self.dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
        self.binary = bool(self.result_types) and dialect.driver == "psycopg"
        """Ask psycopg for the rows in PostgreSQL's binary format: the same Python values, made
        without parsing text (42 available units' state: 96 against 66 us in psycopg)."""

    def row_converter(self, dialect: Dialect, description: Sequence[Any]) -> RowConverter:
        """The function converting a result row, from the result processors by column, built from
        the first result's column types, as SQLAlchemy does (PostgreSQL's numeric processors depend
        on the type the server reports)."""
        if self.convert_row is None:
            procs = []
            for i, type_ in enumerate(self.result_types):
                proc = type_._cached_result_processor(dialect, description[i][1])
                if proc is not None:
                    procs.append((i, _memoized(proc)))
            self.convert_row = _row_converter(procs)
        return self.convert_row


def _bound(plan: _Plan, given: Mapping[str, Any]) -> Any:
    """The parameters, or the ``StatementError`` SQLAlchemy raises when a type refuses a value
    (e.g. a naive datetime given to a ``UtcDateTime`` column)."""
    try:
        return plan.bind(given)
    except Exception as e:
        raise exc.StatementError(f"({type(e).__module__}.{type(e).__name__}) {e}", plan.sql, given, e) from e


def _keeps_none(proc: Processor) -> bool:
    try:
        return proc(None) is None
    except Exception:
        return False


def _row_converter(procs: list[tuple[int, Processor]]) -> RowConverter:
    """A row's values as a tuple, each converted by its column's processor. Most processors give
    None for None (nullable timestamps are most of an incident's columns): those are not called
    for a None, the others always are."""
    if not procs:
        return tuple
    skip_none: list[tuple[int, Processor]] = []
    always: list[tuple[int, Processor]] = []
    for i, proc in procs:
        (skip_none if _keeps_none(proc) else always).append((i, proc))

    def convert_row(r: Sequence[Any]) -> tuple[Any, ...]:
        values = list(r)
        for i, proc in skip_none:
            v = values[i]
            if v is not None:
                values[i] = proc(v)
        for i, proc in always:
            values[i] = proc(values[i])
        return tuple(values)

    return convert_row


def _convert(rows: Iterable[Sequence[Any]], convert_row: RowConverter) -> list[tuple[Any, ...]]:
    return [convert_row(r) for r in rows]


class RowMemo:
    """Converted rows by their raw DBAPI form, for a hot read whose rows mostly come back unchanged
    (the available units every recommendation ranks): converting timestamps and JSON is most of
    what such a read costs. A decoded JSON list (psycopg decodes JSON itself) is keyed as a tuple;
    rows unhashable even so are converted every time. With ``make``, what is kept and returned is
    ``make(converted row)`` (e.g. the domain object), so an unchanged row is not rebuilt either.
    Converted values and made objects are shared between reads: callers must not mutate them."""

    __slots__ = ("_rows", "make", "max_rows")

    def __init__(self, max_rows: int = 20_000, make: Callable[[tuple[Any, ...]], Any] | None = None) -> None:
        self.max_rows = max_rows
        self.make = make
        self._rows: dict[tuple[Dialect, tuple[Any, ...]], Any] = {}

    def convert(self, dialect: Dialect, raw: Sequence[Any], convert_row: RowConverter) -> list[Any]:
        rows, out, make = self._rows, [], self.make
        get = rows.get
        for r in raw:
            key = (dialect, tuple(r))
            try:
                got = get(key)
            except TypeError:  # a decoded JSON list (psycopg): keyed as a tuple
                key = (dialect, tuple(tuple(v) if isinstance(v, list) else v for v in r))
                try:
                    got = get(key)
                except TypeError:
                    out.append(convert_row(r) if make is None else make(convert_row(r)))
                    continue
            if got is None:
                if len(rows) >= self.max_rows:
                    rows.clear()
                got = convert_row(r) if make is None else make(convert_row(r))
                rows[key] = got
            out.append(got)
        return out


class DirectStatement:
    """A Core statement run on the DBAPI cursor of a ``Connection``, compiled once per dialect.

    Results come back as plain tuples in the statement's column order, converted by the columns'
    types exactly as SQLAlchemy converts them.
    """

    __slots__ = ("_last", "_plans", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plans: WeakKeyDictionary[Dialect, _Plan] = WeakKeyDictionary()
        self._last: tuple[Dialect | None, _Plan | None] = (None, None)
        """The last (dialect, plan) used: one attribute, so threads never see a mixed pair."""

    def plan(self, dialect: Dialect) -> _Plan:
        last_dialect, last_plan = self._last
        if last_dialect is dialect and last_plan is not None:
            return last_plan
        plan = self._plans.get(dialect)
        if plan is None:
            plan = self._plans[dialect] = _Plan(self.statement, dialect)
        self._last = (dialect, plan)
        return plan

    def _prepared(self, conn: Connection, params: Mapping[str, Any] | None) -> tuple[Dialect, _Plan, Any]:
        """Begin as ``Connection.execute`` would (so reads see one snapshot), pick the dialect's plan
        and bind the parameters (``StatementError`` when a type refuses one)."""
        if not conn.in_transaction():
            conn.begin()
        dialect = conn.dialect
        plan = self.plan(dialect)
        return dialect, plan, _bound(plan, params or {})

    def _run(self, conn: Connection, params: Mapping[str, Any] | None,
             take: Callable[[Any, Dialect, _Plan], Any]) -> Any:
        """Execute on the connection's DBAPI cursor and ``take`` the result from it; database errors
        are raised as SQLAlchemy's."""
        dialect, plan, args = self._prepared(conn, params)
        cur: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if plan.binary:  # psycopg's own keyword: not in the DBAPI's signature
                cur.execute(plan.sql, args, binary=True)
            else:
                cur.execute(plan.sql, args)
            return take(cur, dialect, plan)
        except plan.dbapi_error as e:
            raise exc.DBAPIError.instance(plan.sql, args, e, plan.dbapi_error, dialect=dialect) from e
        finally:
            cur.close()

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement that returns no rows; returns the number of rows it changed."""
        return self._run(conn, params, _rowcount)  # type: ignore[no-any-return]

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> tuple[Any, ...] | None:
        return self._run(conn, params, _first_row)  # type: ignore[no-any-return]

    def all(self, conn: Connection, params: Mapping[str, Any] | None = None, *,
            memo: RowMemo | None = None) -> list[Any]:
        """All rows; with ``memo``, rows seen before are not converted again, and are what the memo
        makes of them (see ``RowMemo``)."""
        if memo is None:
            return self._run(conn, params, _all_rows)  # type: ignore[no-any-return]
        return self._run(  # type: ignore[no-any-return]
            conn, params, lambda cur, dialect, plan: _all_rows(cur, dialect, plan, memo))

    def executemany(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Run the statement once per row in one DBAPI call (order kept: rows get ascending keys)."""
        if not conn.in_transaction():
            conn.begin()
        plan = self.plan(conn.dialect)
        args = [_bound(plan, r) for r in rows]
        if not args:
            return
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.executemany(plan.sql, args)
        except plan.dbapi_error as e:
            raise exc.DBAPIError.instance(plan.sql, args, e, plan.dbapi_error, dialect=conn.dialect,
                                          ismulti=True) from e
        finally:
            cur.close()


def _rowcount(cur: Any, _dialect: Dialect, _plan: _Plan) -> int:
    return cur.rowcount  # type: ignore[no-any-return]


def _converter(cur: Any, dialect: Dialect, plan: _Plan) -> RowConverter:
    convert_row = plan.convert_row
    return convert_row if convert_row is not None else plan.row_converter(dialect, cur.description)


def _first_row(cur: Any, dialect: Dialect, plan: _Plan) -> tuple[Any, ...] | None:
    one = cur.fetchone()
    return None if one is None else _converter(cur, dialect, plan)(one)


def _all_rows(cur: Any, dialect: Dialect, plan: _Plan, memo: RowMemo | None = None) -> list[Any]:
    raw = cur.fetchall()
    if not raw:
        return []
    convert_row = _converter(cur, dialect, plan)
    return memo.convert(dialect, raw, convert_row) if memo is not None else _convert(raw, convert_row)


_INSERTS: dict[tuple[Table, tuple[str, ...]], tuple[DirectStatement, list[tuple[str, Any]]]] = {}


def _python_default(column: Column[Any]) -> Any:
    """The ``default=`` Core would apply on INSERT (a value, or a callable to call), else None."""
    default: Any = column.default
    if default is not None and (default.is_scalar or default.is_callable):
        return default
    return None


def single_insert(table: Table, values: Mapping[str, Any]) -> tuple[DirectStatement, Mapping[str, Any]]:
    """The single-row INSERT for ``values``' columns, compiled once per table and column set (the
    fast form of ``insert(table).values(**values)``), and ``values`` with the Python-side defaults
    Core would give the columns left out (server-side ones, autoincrement keys, are left to the
    database)."""
    key = (table, tuple(values))
    entry = _INSERTS.get(key)
    if entry is None:
        defaults = [(c.name, d) for c in table.c if c.name not in values and (d := _python_default(c)) is not None]
        names = [*values, *(name for name, _d in defaults)]
        stmt = DirectStatement(insert(table).values({n: bindparam(n) for n in names}).inline())
        entry = _INSERTS[key] = (stmt, defaults)
    stmt, defaults = entry
    if defaults:
        values = {**values, **{name: d.arg(None) if d.is_callable else d.arg for name, d in defaults}}
    return stmt, values
