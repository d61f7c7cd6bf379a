"""Inserts held to the end of a transaction and sent together: on PostgreSQL as one statement.

Why: the intake's transaction wrote five rows in five statements (request key, incident, its
timeline, the outbox, the audit entry), each a round trip with its own client-side work. Nothing
in the transaction reads them back, so they can wait for its end, and PostgreSQL runs them all as
one data-modifying ``WITH`` (docs/benchmarks.md, "Merged writes"): a round trip is ~0.1 ms on the
same machine, and more than that to a database across a network, while the transaction holds its
row locks.

Order. Rows of one table and column set go out as one multi-row ``VALUES`` in the order they were
given, so serial keys follow it (the outbox's ``seq`` is the order of events). The parts of one
``WITH`` run on one snapshot and foreign keys are checked at the end of the statement, so the
order between tables does not matter there. SQLite has no data-modifying ``WITH``: its rows are
written as given, one statement per run of rows of the same shape.

A held row is invisible to the transaction's reads until it is sent. The unit of work sends them
before its commit, and a repository sends them before it reads or updates a row it added itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert

from jingwu.store.direct import DirectStatement, single_insert

MAX_MERGED_VALUES = 2_000
"""Beyond this many values in all, the rows go out a statement per table (PostgreSQL takes at most
65,535 parameters, and a batch that large gains nothing from saving a few round trips)."""
MAX_SHAPES = 256
"""Merged statements kept compiled (one per sequence of tables, column sets and row counts)."""

_Shape = tuple[tuple[Table, tuple[str, ...], int], ...]
_MERGED: dict[_Shape, tuple[DirectStatement, list[list[list[tuple[str, str]]]]]] = {}


class PendingInserts:
    """Rows to insert at the end of the transaction, in order (see the module's docstring)."""

    __slots__ = ("_runs",)

    def __init__(self) -> None:
        self._runs: list[tuple[Table, DirectStatement, list[Mapping[str, Any]]]] = []
        """Runs of rows of one table and column set, each with its single-row INSERT."""

    def __bool__(self) -> bool:
        return bool(self._runs)

    def add(self, table: Table, row: Mapping[str, Any]) -> None:
        """Hold one row (the Python-side defaults of the columns it leaves out are applied now, as Core would)."""
        stmt, row = single_insert(table, row)
        runs = self._runs
        if runs and runs[-1][1] is stmt:
            runs[-1][2].append(row)
        else:
            runs.append((table, stmt, [row]))

    def add_many(self, table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.add(table, row)

    def send(self, conn: Connection) -> None:
        """Write every held row in ``conn``'s transaction; none is held after, even if it fails
        (the transaction is then lost anyway)."""
        runs, self._runs = self._runs, []
        if not runs:
            return
        if conn.dialect.name == "postgresql" and (len(runs) > 1 or len(runs[0][2]) > 1):
            groups = _groups(runs)
            if sum(len(rows) * len(rows[0]) for _table, rows in groups) <= MAX_MERGED_VALUES:
                _send_merged(conn, groups)
                return
        for _table, stmt, rows in runs:
            if len(rows) == 1:
                stmt.execute(conn, rows[0])
            else:
                stmt.executemany(conn, rows)


def _groups(runs: list[tuple[Table, DirectStatement, list[Mapping[str, Any]]]]
            ) -> list[tuple[Table, list[Mapping[str, Any]]]]:
    """The runs' rows by table and column set, in order of first appearance, each group's rows in
    the order given (within one statement, only a table's own rows need an order)."""
    by_stmt: dict[int, tuple[Table, list[Mapping[str, Any]]]] = {}
    for table, stmt, rows in runs:
        got = by_stmt.get(id(stmt))
        if got is None:
            by_stmt[id(stmt)] = (table, list(rows))
        else:
            got[1].extend(rows)
    return list(by_stmt.values())


def _send_merged(conn: Connection, groups: list[tuple[Table, list[Mapping[str, Any]]]]) -> None:
    shape: _Shape = tuple((table, tuple(rows[0]), len(rows)) for table, rows in groups)
    entry = _MERGED.get(shape)
    if entry is None:
        if len(_MERGED) >= MAX_SHAPES:
            _MERGED.clear()
        entry = _MERGED[shape] = _merged_statement(shape)
    stmt, names = entry
    params: dict[str, Any] = {}
    for (_table, rows), group_names in zip(groups, names, strict=True):
        for row, row_names in zip(rows, group_names, strict=True):
            for name, column in row_names:
                params[name] = row[column]
    stmt.execute(conn, params)


def _merged_statement(shape: _Shape) -> tuple[DirectStatement, list[list[list[tuple[str, str]]]]]:
    """``WITH w0 AS (INSERT …), w1 AS (INSERT …) INSERT …`` for a shape, and the bind name of each
    group's rows' columns. Each bind carries its column's type, so every row's values are converted
    as the column's (SQLAlchemy types only the first row of a multi-row VALUES from its columns)."""
    statements = []
    names: list[list[list[tuple[str, str]]]] = []
    for i, (table, columns, n_rows) in enumerate(shape):
        group = [[(f"w{i}_{j}_{c}", c) for c in columns] for j in range(n_rows)]
        names.append(group)
        values = [{c: bindparam(name, type_=table.c[c].type) for name, c in row} for row in group]
        stmt = insert(table).values(values[0] if n_rows == 1 else values)
        statements.append(stmt)
    *ctes, last = statements
    final = last.add_cte(*(s.cte(f"w{i}") for i, s in enumerate(ctes))) if ctes else last
    return DirectStatement(final.inline()), names
