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

Limits, checked when a statement is compiled: no expanding ``IN`` lists, no escaped bind names.
Database errors are raised as SQLAlchemy's own exception classes (``IntegrityError``…), so callers
catch the same exceptions as with ``Connection.execute``. What is skipped is skipped for good:
Core's ``before/after_cursor_execute`` events and ``echo`` logging do not see these statements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Column, Connection, Dialect, Table, bindparam, exc, insert
from sqlalchemy.sql.expression import Executable

Processor = Callable[[Any], Any]


class _Plan:
    """One statement compiled for one dialect: its SQL, its parameters in order, their processors."""

    __slots__ = ("dbapi_error", "defaults", "get_values", "names", "positional", "procs", "result_procs",
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
        self.get_values: Callable[[Mapping[str, Any]], Any] | None = itemgetter(*names) if names else None
        self.sql: str = compiled.string
        self.positional: bool = bool(compiled.positional)
        self.result_types = [rc[3] for rc in getattr(compiled, "_result_columns", []) or []]
        self.result_procs: list[tuple[int, Processor]] | None = None
        self.dbapi_error: type[Exception] = dialect.loaded_dbapi.Error

    def params(self, given: Mapping[str, Any]) -> Any:
        """The DBAPI parameters for ``given``, converted as SQLAlchemy would (processors run on None
        too); a parameter missing from ``given`` raises KeyError, as Core refuses it too."""
        if self.get_values is None:
            return () if self.positional else {}
        if self.defaults:
            given = {**self.defaults, **given}
        got = self.get_values(given)
        values = list(got) if len(self.names) > 1 else [got]
        for i, proc in self.procs:
            values[i] = proc(values[i])
        return values if self.positional else dict(zip(self.names, values, strict=True))

    def row_converter(self, dialect: Dialect, description: Sequence[Any]) -> list[tuple[int, Processor]]:
        """Result processors by column, built from the first result's column types, as SQLAlchemy
        does (PostgreSQL's numeric processors depend on the type the server reports)."""
        if self.result_procs is None:
            procs = []
            for i, type_ in enumerate(self.result_types):
                proc = type_._cached_result_processor(dialect, description[i][1])
                if proc is not None:
                    procs.append((i, proc))
            self.result_procs = procs
        return self.result_procs


def _bound(plan: _Plan, given: Mapping[str, Any]) -> Any:
    """The parameters, or the ``StatementError`` SQLAlchemy raises when a type refuses a value
    (e.g. a naive datetime given to a ``UtcDateTime`` column)."""
    try:
        return plan.params(given)
    except Exception as e:
        raise exc.StatementError(f"({type(e).__module__}.{type(e).__name__}) {e}", plan.sql, given, e) from e


def _convert(rows: Iterable[Sequence[Any]], procs: list[tuple[int, Processor]]) -> list[tuple[Any, ...]]:
    if not procs:
        return [tuple(r) for r in rows]
    out = []
    for r in rows:
        values = list(r)
        for i, proc in procs:
            values[i] = proc(values[i])
        out.append(tuple(values))
    return out


class RowMemo:
    """Converted rows by their raw DBAPI form, for a hot read whose rows mostly come back unchanged
    (the available units every recommendation ranks): converting timestamps and JSON is most of
    what such a read costs. A decoded JSON list (psycopg decodes JSON itself) is keyed as a tuple;
    rows unhashable even so are converted every time. Converted values are shared between reads:
    callers must not mutate them."""

    __slots__ = ("_rows", "max_rows")

    def __init__(self, max_rows: int = 20_000) -> None:
        self.max_rows = max_rows
        self._rows: dict[tuple[Dialect, tuple[Any, ...]], tuple[Any, ...]] = {}

    def convert(self, dialect: Dialect, raw: list[Any], procs: list[tuple[int, Processor]]) -> list[tuple[Any, ...]]:
        rows, out = self._rows, []
        for r in raw:
            key = (dialect, tuple(r))
            try:
                got = rows.get(key)
            except TypeError:  # a decoded JSON list (psycopg): keyed as a tuple
                key = (dialect, tuple(tuple(v) if isinstance(v, list) else v for v in r))
                try:
                    got = rows.get(key)
                except TypeError:
                    out.extend(_convert([r], procs))
                    continue
            if got is None:
                if len(rows) >= self.max_rows:
                    rows.clear()
                got = rows[key] = _convert([r], procs)[0]
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

    def _run(self, conn: Connection, params: Mapping[str, Any] | None, fetch: int,
             memo: RowMemo | None = None) -> tuple[int, list[Any]]:
        """Execute; ``fetch`` 0 = no rows, 1 = the first row, 2 = all rows. Returns (rowcount, rows)."""
        if not conn.in_transaction():
            conn.begin()  # as Connection.execute would (autobegin), so reads see one snapshot
        dialect = conn.dialect
        plan = self.plan(dialect)
        args = _bound(plan, params or {})
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.execute(plan.sql, args)
            if fetch == 0:
                return cur.rowcount, []
            if fetch == 1:
                one = cur.fetchone()
                raw: list[Any] = [] if one is None else [one]
            else:
                raw = list(cur.fetchall())
            if not raw:
                return cur.rowcount, []
            procs = plan.result_procs
            if procs is None:
                procs = plan.row_converter(dialect, cur.description)
            if memo is not None:
                return cur.rowcount, memo.convert(dialect, raw, procs)
            return cur.rowcount, _convert(raw, procs)
        except plan.dbapi_error as e:
            raise exc.DBAPIError.instance(plan.sql, args, e, plan.dbapi_error, dialect=dialect) from e
        finally:
            cur.close()

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement that returns no rows; returns the number of rows it changed."""
        return self._run(conn, params, 0)[0]

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> tuple[Any, ...] | None:
        rows = self._run(conn, params, 1)[1]
        return rows[0] if rows else None

    def all(self, conn: Connection, params: Mapping[str, Any] | None = None, *,
            memo: RowMemo | None = None) -> list[tuple[Any, ...]]:
        """All rows; with ``memo``, rows seen before are not converted again (see ``RowMemo``)."""
        return self._run(conn, params, 2, memo)[1]

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


_INSERTS: dict[tuple[Table, tuple[str, ...]], tuple[DirectStatement, list[tuple[str, Any]]]] = {}


def _python_default(column: Column[Any]) -> Any:
    """The ``default=`` Core would apply on INSERT (a value, or a callable to call), else None."""
    default: Any = column.default
    if default is not None and (default.is_scalar or default.is_callable):
        return default
    return None


def insert_row(conn: Connection, table: Table, values: Mapping[str, Any]) -> None:
    """INSERT one row, with a statement compiled once per table and column set: the fast form of
    ``conn.execute(insert(table).values(**values))`` for single-row inserts on hot paths
    (assignments, idempotency keys, callers). Columns left out get their Python-side defaults,
    as Core gives them; server-side ones (autoincrement keys) are left to the database."""
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
    stmt.execute(conn, values)
