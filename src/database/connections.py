"""The engine's settings, and what every connection gets before it is used.

- **Timeouts.** Every statement is bounded (``DATABASE_STATEMENT_TIMEOUT``): on
  PostgreSQL by a startup option, once per connection; behind a transaction pooler
  (``DATABASE_POOLER=pgbouncer``), which refuses startup options and lends one server
  connection to many clients, by ``SET LOCAL`` in every transaction instead.
- **No JIT.** PostgreSQL compiles a query whose estimated cost passes
  ``jit_above_cost``; the registration rules' statement (``src.services.rules``), a
  millisecond's work whose JSON functions the planner guesses at a hundred rows each,
  took 380 ms that way, 350 of them compiling. Every statement here is that short, so
  JIT is off for the service's connections, set as the timeout is.
- **Dead connections** are noticed when the pool hands them out, without a round
  trip. A server that ends a connection (a restart, a failover, PgBouncer going
  away, ``pg_terminate_backend``) tells the client so: it sends a last message and
  closes the socket, which leaves the socket readable. An idle connection in the
  pool has nothing to read, so a readable one is dead (or holds a stray notice:
  replacing it costs nothing). A server that vanished without a word is left to the
  TCP keepalives. Other databases get a ping (``pool_pre_ping``).
- **PgBouncer without ``DATABASE_POOLER=pgbouncer``** refuses every connection; the
  first refusal is logged with the setting to change.
- **SQLite** checks foreign keys only when asked, on every connection, and takes the
  write lock at ``BEGIN`` (``BEGIN IMMEDIATE``): a deferred transaction that reads,
  then writes, can deadlock with another and fail at once with "database is locked";
  taken at ``BEGIN``, concurrent transactions wait their turn up to the busy timeout.
  Its ``now()`` is read to the millisecond, where ``CURRENT_TIMESTAMP`` has seconds.
  These apply to every engine in the process (Alembic's too), from the import of
  this module on.
"""

from __future__ import annotations

import logging
import select
import sqlite3
from collections.abc import Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import functions

log = logging.getLogger("registrar.database")

#: What PgBouncer answers to the startup option that sets the statement timeout.
PGBOUNCER_REFUSAL = "unsupported startup parameter: options"
POOLER_HINT = (
    "PgBouncer refused the connection's startup option (statement_timeout): "
    "set DATABASE_POOLER=pgbouncer when DATABASE_URL points at PgBouncer"
)


def engine_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """SQLAlchemy engine options for the configured database and its timeouts."""
    url = config["SQLALCHEMY_DATABASE_URI"]
    options: dict[str, Any] = {
        "pool_pre_ping": not url.startswith("postgresql"),
        "pool_size": config["DATABASE_POOL_SIZE"],
        "max_overflow": config["DATABASE_MAX_OVERFLOW"],
        "pool_timeout": config["DATABASE_POOL_TIMEOUT"],
    }
    if url.startswith("postgresql"):
        statement_ms = max(int(config["DATABASE_STATEMENT_TIMEOUT"] * 1000), 1)
        options["pool_recycle"] = 1800
        options["connect_args"] = {
            "connect_timeout": config["DATABASE_CONNECT_TIMEOUT"],
            "application_name": "registrar",
            # Notice a server that vanished without closing the connection.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        if config.get("DATABASE_POOLER", "none") == "none":
            options["connect_args"]["options"] = f"-c statement_timeout={statement_ms} -c jit=off"
    elif url.startswith("sqlite"):
        # How long to wait for another writer before giving up (a 503).
        options["connect_args"] = {"timeout": config["DATABASE_STATEMENT_TIMEOUT"]}
    return options


def statement_timeout_sql(config: Mapping[str, Any]) -> str | None:
    """Behind a transaction pooler, what each transaction runs first to bound its
    statements and turn JIT off (``SET LOCAL`` lasts until the transaction ends,
    whichever server connection PgBouncer lends it), in one round trip; ``None`` when
    the connection's own settings hold."""
    if config.get("DATABASE_POOLER", "none") == "none":
        return None
    if not config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return None
    statement_ms = max(int(config["DATABASE_STATEMENT_TIMEOUT"] * 1000), 1)
    return f"SET LOCAL statement_timeout = {statement_ms}; SET LOCAL jit = off"


def watch(engine: Engine, config: Mapping[str, Any], extensions: dict[str, Any]) -> None:
    """Give the app's engine its checks and per-transaction settings (see the module)."""
    timeout_sql = statement_timeout_sql(config)
    # Statements that run alone (src.database.execution.alone) send it themselves.
    extensions["registrar.statement_timeout_sql"] = timeout_sql
    if timeout_sql is not None:
        event.listen(engine, "begin", lambda connection: connection.exec_driver_sql(timeout_sql))
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", _drop_closed_connection)
        if timeout_sql is None:
            event.listen(engine, "handle_error", _hint_at_the_pooler)


def _drop_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # Raising DisconnectionError makes the pool discard the connection and hand out
    # another (a fresh one if need be), up to three times.
    if dbapi_connection.closed:
        raise DisconnectionError("the connection is closed")
    readable, _, _ = select.select([dbapi_connection], [], [], 0)
    if readable:
        raise DisconnectionError("the server closed the connection")


_hinted: set[int] = set()


def _hint_at_the_pooler(context: Any) -> None:
    # Once per engine: every connection attempt fails the same way until it is fixed.
    if PGBOUNCER_REFUSAL in str(context.original_exception) and id(context.engine) not in _hinted:
        _hinted.add(id(context.engine))
        log.error(POOLER_HINT)


def pooler_hint(reason: str) -> str:
    """``reason`` with the setting to change when it is PgBouncer's refusal."""
    return f"{reason} ({POOLER_HINT})" if PGBOUNCER_REFUSAL in reason else reason


@compiles(functions.now, "sqlite")
def _sqlite_now(_element: Any, _compiler: Any, **_kw: Any) -> str:
    # SQLite's CURRENT_TIMESTAMP has whole seconds; this, milliseconds, written with six
    # digits as SQLAlchemy writes the datetimes it stores.
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"


@event.listens_for(Engine, "connect")
def _configure_sqlite_connection(dbapi_connection: object, _record: object) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        # SQLAlchemy issues BEGIN itself (below), not the driver's deferred BEGIN.
        dbapi_connection.isolation_level = None


@event.listens_for(Engine, "begin")
def _begin_sqlite_immediate(connection: Connection) -> None:
    # Not under AUTOCOMMIT, where a migration runs its own BEGIN (migrations.helpers).
    if (
        connection.dialect.name == "sqlite"
        and connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT"
    ):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
