"""One PostgreSQL transaction in as few round trips as its reads allow (psycopg pipeline mode).

Used by the verify hot path (:meth:`storage.db.Database.pipelined`). Without it, psycopg sends
``BEGIN`` on its own and waits for the answer (even in pipeline mode, where it follows ``BEGIN``
with a sync), then one round trip per statement and one for ``COMMIT``. Here:

- The pooled connection is put in autocommit mode, so psycopg sends no ``BEGIN`` of its own, and
  in pipeline mode; our own ``BEGIN`` is queued ahead of the first statement.
- A statement executed normally is synced as soon as it has been sent (``after_cursor_execute``),
  so its rows and errors are there when SQLAlchemy reads them, exactly as without a pipeline: the
  ``BEGIN`` travels with the first read.
- A statement executed with the execution option :data:`DEFER` (a write whose result nobody
  reads) is only queued: it travels with the next sync.
- The commit (SQLAlchemy's ``do_commit``, after its ``commit`` event) queues ``COMMIT`` and
  leaves pipeline mode with one sync, which carries the deferred writes too. A transaction that
  reads once and then writes costs two round trips.

Invariants:
- Atomic and durable like :meth:`~storage.db.Database.transaction`: ``BEGIN`` is the first
  command on the connection, ``COMMIT`` is queued only by the commit, and ``Session.commit``
  returns only after the server answered every queued command, ``COMMIT`` included (with the
  server's ``synchronous_commit``, the commit is on disk by then). Any error rolls it all back.
- A deferred statement's error is raised at the next sync: a later read's, or the commit's,
  wrapped by SQLAlchemy as usual (``IntegrityError``, ``OperationalError``: ``handlers.errors``
  maps them). Code that defers a write must therefore handle its failure where it commits.
- A failure before the commit still sends what was queued (psycopg leaves pipeline mode with a
  sync), inside the transaction opened by the queued ``BEGIN``, and then rolls it back.
- Reads see what they would see in a ``READ COMMITTED`` transaction (it is one).
- The connection goes back to the pool out of pipeline mode, with autocommit off, idle: a
  failure rolls back on the server before the connection is released.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq
from sqlalchemy import Engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

# Execution option of a statement that may wait for the next sync (see the module docstring).
DEFER = {"wangzheng_defer": True}
_PIPELINE = "wangzheng.pipeline"
_PIPELINED_SESSION = "wangzheng.pipelined"


def install(engine: Engine) -> None:
    """Let :func:`pipelined_session` run on ``engine`` (a PostgreSQL engine; once per engine)."""
    event.listen(engine, "after_cursor_execute", _sync_unless_deferred)
    plain_commit = engine.dialect.do_commit

    def do_commit(dbapi_connection: Any) -> None:
        """Where SQLAlchemy commits (after its ``commit`` event): in a pipelined transaction,
        queue ``COMMIT`` and leave pipeline mode, one sync that carries the deferred writes too;
        psycopg's own commit then finds the connection idle and sends nothing."""
        _commit_queued(dbapi_connection.info, dbapi_connection.dbapi_connection)
        plain_commit(dbapi_connection)

    engine.dialect.do_commit = do_commit  # type: ignore[method-assign]


def _commit_queued(info: dict[Any, Any], raw: Any) -> None:
    """If ``info`` (the pooled connection's) holds an entered pipeline: queue ``COMMIT`` on the
    psycopg connection ``raw`` and leave pipeline mode, one sync that sends everything queued
    and waits for every answer, ``COMMIT``'s included."""
    entered = info.pop(_PIPELINE, None)
    if entered is None:
        return
    try:
        # psycopg may already read a deferred write's error while sending this.
        raw.cursor().execute("COMMIT")
    except BaseException as error:
        entered[0].__exit__(type(error), error, error.__traceback__)
        raise
    entered[0].__exit__(None, None, None)


def _sync_unless_deferred(
    conn: Any, _cursor: Any, _statement: Any, _parameters: Any, context: Any, _many: bool
) -> None:
    entered = conn.info.get(_PIPELINE)
    if entered is not None and not context.execution_options.get("wangzheng_defer"):
        entered[1].sync()


def _leave_pipeline(conn: Any, error: BaseException) -> None:
    """After a failure: leave pipeline mode (its last sync's own error is dropped: the block's
    error is the one to report)."""
    entered = conn.info.pop(_PIPELINE, None)
    if entered is not None:
        entered[0].__exit__(type(error), error, error.__traceback__)


@contextmanager
def pipelined_session(engine: Engine, session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction runs pipelined; committed at the end of the block, rolled
    back on error (see the module invariants)."""
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        if raw is None:  # pragma: no cover - a freshly checked-out connection always has one
            raise exc.InvalidRequestError("no DBAPI connection")
        # Set on psycopg itself, not as SQLAlchemy's isolation level (which goes through the
        # dialect at checkout and again at checkin); :func:`_release` turns it off again.
        raw.autocommit = True
        mode = raw.pipeline()
        connection.info[_PIPELINE] = (mode, mode.__enter__())
        session = session_factory(bind=connection)
        session.info[_PIPELINED_SESSION] = True
        try:
            raw.cursor().execute("BEGIN")  # queued: it travels with the first read
            yield session
            session.commit()
            # A block that ran nothing through the session was not committed by it.
            _commit_queued(connection.info, raw)
        except BaseException as error:
            _leave_pipeline(connection, error)
            session.rollback()  # psycopg sends ROLLBACK if the server is still in the transaction
            raise
        finally:
            connection.info.pop(_PIPELINE, None)
            session.close()
            _release(connection, raw)


def _release(connection: Any, raw: Any) -> None:
    """Hand the connection back as the pool expects it: out of pipeline mode, autocommit off,
    idle. A failed commit leaves the server's transaction aborted (SQLAlchemy rolls back only
    a transaction it still holds): it is rolled back here. A connection that cannot be made so
    (broken, or still in pipeline mode, never expected) is dropped instead."""
    try:
        reusable = raw.pgconn.pipeline_status == pq.PipelineStatus.OFF
        if reusable:
            if raw.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                raw.rollback()
            raw.autocommit = False
    except psycopg.Error:
        reusable = False
    if not reusable:
        connection.invalidate()


def pipeline_of(session: Session) -> tuple[Any, Any] | None:
    """The psycopg connection and pipeline of ``session``'s pipelined transaction, or None for
    any other session (for :mod:`storage.prepared`, which runs statements on that connection
    itself)."""
    if not session.info.get(_PIPELINED_SESSION):
        return None
    connection = session.connection()
    entered = connection.info.get(_PIPELINE)
    dbapi = connection.connection.dbapi_connection
    if entered is None or dbapi is None:
        return None
    return dbapi, entered[1]


def defers_writes(session: Session) -> bool:
    """Whether ``session`` runs a pipelined transaction, where :data:`DEFER` applies."""
    return bool(session.info.get(_PIPELINED_SESSION))


def unique_violation(error: BaseException) -> str | None:
    """The name of the unique index or constraint ``error`` violated on PostgreSQL, else None."""
    orig = getattr(error, "orig", error)
    if isinstance(orig, pg_errors.UniqueViolation):
        return orig.diag.constraint_name
    return None
