"""Helpers shared by migration scripts."""

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from alembic import op

#: How long a migration waits for a lock before it gives up, so it never queues
#: behind live traffic (and never makes live traffic queue behind it).
LOCK_TIMEOUT = "3s"
#: How long any one statement of a migration may run.
STATEMENT_TIMEOUT = "60s"
#: ...except a CONCURRENTLY build, which runs as long as it needs (0 = no limit).
CONCURRENT_STATEMENT_TIMEOUT = "0"


def set_timeouts() -> None:
    """Bound the migration's lock waits and statements, for this transaction only.

    PostgreSQL only; SQLite has neither setting and a single writer.
    """
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        op.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")


@contextmanager
def concurrent_ddl() -> Iterator[None]:
    """Run DDL that must not hold a long lock (``CREATE INDEX CONCURRENTLY``) outside the
    migration's transaction, with the same bound on lock waits and none on its time.

    PostgreSQL only; elsewhere the body runs as usual.
    """
    context = op.get_context()
    if context.dialect.name != "postgresql":
        yield
        return
    with context.autocommit_block():
        op.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        # No statement timeout: a concurrent build of a large table's index takes as long
        # as the table takes to read, and one cut at a fixed limit would fail on every
        # run. It blocks no one meanwhile (only its lock waits matter, and they stay bounded).
        op.execute(f"SET statement_timeout = '{CONCURRENT_STATEMENT_TIMEOUT}'")
        try:
            yield
        finally:
            op.execute("RESET lock_timeout")
            op.execute("RESET statement_timeout")


@contextmanager
def sqlite_foreign_keys_off() -> Iterator[None]:
    """On SQLite, run the body (the rebuild of a table that others reference, which
    copies it and drops the old one: :func:`rebuild_sqlite_table`) with foreign keys
    off, in a transaction of its own that checks every foreign key before it commits:
    the order SQLite's ALTER TABLE documentation prescribes. With them on, dropping the
    old table would delete (or refuse to) the rows that reference it.

    SQLite only; elsewhere the body runs as usual.
    """
    context = op.get_context()
    if context.dialect.name != "sqlite" or context.as_sql:
        yield
        return
    with context.autocommit_block():
        op.execute("PRAGMA foreign_keys = OFF")
        op.execute("BEGIN IMMEDIATE")
        try:
            yield
            broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the rebuild broke foreign keys: {broken[:5]}")
            op.execute("COMMIT")
        except BaseException:
            op.execute("ROLLBACK")
            raise
        finally:
            op.execute("PRAGMA foreign_keys = ON")


def rebuild_sqlite_table(table: str, edit: Callable[[str], str], drop: Sequence[str] = ()) -> None:
    """On SQLite, make a change its ALTER TABLE cannot (a column made NOT NULL, a
    column with a foreign key dropped) by its documented procedure: a new table from
    the current CREATE TABLE statement as ``edit`` changes it, every row copied (the
    columns in ``drop`` left out), the old table dropped, the new one renamed, and the
    table's indexes made again. The statement is edited, not regenerated, so every
    constraint keeps its form (a column's CHECK stays the column's, which a later
    DROP COLUMN needs).

    Run inside :func:`sqlite_foreign_keys_off`.
    """
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    indexes = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table,),
    ).scalars()
    indexes = list(indexes)
    columns = [
        row[1] for row in bind.exec_driver_sql(f"PRAGMA table_info({table})") if row[1] not in drop
    ]
    rebuilt = f"{table}_rebuilt"
    new_sql, made = re.subn(rf'^CREATE TABLE\s+"?{table}"?', f"CREATE TABLE {rebuilt}", edit(sql))
    if made != 1:
        raise RuntimeError(f"unexpected CREATE TABLE statement for {table}: {sql[:80]}")
    names = ", ".join(columns)
    bind.exec_driver_sql(new_sql)
    bind.exec_driver_sql(f"INSERT INTO {rebuilt} ({names}) SELECT {names} FROM {table}")
    bind.exec_driver_sql(f"DROP TABLE {table}")
    bind.exec_driver_sql(f"ALTER TABLE {rebuilt} RENAME TO {table}")
    for index in indexes:
        bind.exec_driver_sql(index)


@contextmanager
def own_transaction() -> Iterator[None]:
    """Inside an ``autocommit_block()``, a transaction of its own with the migration's
    bounds on lock waits and statements: for a step (validating a constraint) that
    must commit apart from the step before it."""
    op.execute("BEGIN")
    set_timeouts()
    yield
    op.execute("COMMIT")
