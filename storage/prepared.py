"""Hot-path statements as server-side prepared statements on a pipelined session's connection.

Executing a statement through SQLAlchemy costs 0.2-0.5 ms of CPU per call (execution context,
result set-up, ORM loading) while psycopg alone, with a prepared statement, costs about 0.03 ms
(``docs/benchmarks.md``). :class:`Prepared` keeps SQLAlchemy as the single source of the SQL
and of its types, and skips only the per-call machinery:

- The Core statement is compiled once per dialect and set of parameter names, by the engine's
  own dialect: the SQL text sent is the one SQLAlchemy would send.
- Parameters go through the bind processors of their column types, and result values through
  the result processors (``UtcDateTime`` and the like), so both paths give equal values.
- In a pipelined session (:func:`storage.pipelined.defers_writes`: PostgreSQL) the text runs on
  the session's own psycopg connection, inside its transaction, with ``prepare=True``: parsed
  and planned once per connection. Elsewhere (SQLite) it is plain ``Session.execute``.

Invariants:
- :meth:`Prepared.rows` returns only after the server answered (it syncs the pipeline), so
  its rows and errors are there, as for a read through SQLAlchemy. :meth:`Prepared.queue` only
  queues in a pipelined session: like :data:`storage.pipelined.DEFER`, its error is raised at
  the next sync (a later read's, or the commit's).
- A psycopg error is raised wrapped as SQLAlchemy wraps it (``DBAPIError.instance``:
  ``OperationalError``, ``IntegrityError``...), so callers, :mod:`handlers.errors` and
  :func:`storage.pipelined.unique_violation` see the same exceptions on both paths; a value a
  bind processor refuses (a naive datetime) raises ``StatementError``, as there.
- Only for statements with no ORM loading (columns, not entities) and no ``RETURNING`` of
  generated values: rows are plain tuples in the statement's column order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import psycopg
from sqlalchemy import Insert, Select, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import Compiled

from storage.pipelined import pipeline_of

Processor = Callable[[Any], Any]
Statement = Select[*tuple[Any, ...]] | Insert


class _Compiled:
    """One statement compiled for one dialect and parameter names, with its type processors."""

    def __init__(self, statement: Statement, dialect: Dialect, names: Sequence[str]) -> None:
        compiled: Compiled = statement.compile(dialect=dialect, column_keys=list(names))
        self.compiled = compiled
        self.sql = compiled.string
        binds = getattr(compiled, "binds", {})
        self.bind_processors: dict[str, Processor] = {}
        for name, bind in binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.bind_processors[name] = processor
        self.result_processors: list[Processor | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in getattr(statement, "selected_columns", ())
        ]

    def parameters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Every bound value of the statement (literals included), type-processed."""
        values = self.compiled.construct_params(dict(params)) or {}
        return {
            name: self.bind_processors[name](value) if name in self.bind_processors else value
            for name, value in values.items()
        }

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        """A result row with its columns' result processors applied."""
        return tuple(
            processor(value) if processor is not None else value
            for processor, value in zip(self.result_processors, raw, strict=True)
        )


class Prepared:
    """A Core statement run prepared on PostgreSQL's pipelined path; see the module invariants."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def _for(self, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled:
        key = (dialect.name, tuple(sorted(params)))
        compiled = self._compiled.get(key)
        if compiled is None:  # a benign race: two threads may both compile, one wins
            compiled = self._compiled[key] = _Compiled(self.statement, dialect, key[1])
        return compiled

    def rows(self, session: Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The statement's rows (a read; synced before returning)."""
        pipelined = pipeline_of(session)
        if pipelined is None:
            return [tuple(row) for row in session.execute(self.statement, dict(params))]
        dbapi, pipeline = pipelined
        compiled = self._for(session.get_bind().dialect, params)
        raw = _execute(dbapi, compiled, params)
        try:
            pipeline.sync()
            return [compiled.row(row) for row in raw.fetchall()]
        except psycopg.Error as error:
            raise _wrapped(compiled, params, error) from error

    def queue(self, session: Session, params: Mapping[str, Any]) -> None:
        """Run the statement (a write whose result nobody reads); queued when pipelined."""
        pipelined = pipeline_of(session)
        if pipelined is None:
            session.execute(self.statement, dict(params))
            return
        _execute(pipelined[0], self._for(session.get_bind().dialect, params), params)


def _execute(dbapi: Any, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    """Send (queue) the compiled text on the pipelined psycopg connection ``dbapi``, prepared."""
    try:
        values = compiled.parameters(params)
    except Exception as error:  # a bind processor refused a value, as in Session.execute
        raise exc.StatementError(
            str(error), compiled.sql, dict(params), error, hide_parameters=True
        ) from error
    cursor = cast("psycopg.Connection[Any]", dbapi).cursor()
    try:
        cursor.execute(compiled.sql, values, prepare=True)
    except psycopg.Error as error:
        raise _wrapped(compiled, params, error) from error
    return cursor


def _wrapped(compiled: _Compiled, params: Mapping[str, Any], error: psycopg.Error) -> Exception:
    """The error as SQLAlchemy would raise it, parameters hidden as the engines hide them."""
    return exc.DBAPIError.instance(
        compiled.sql, dict(params), error, psycopg.Error, hide_parameters=True
    )
