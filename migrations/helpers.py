"""Helpers shared by migration scripts."""

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
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
    table's indexes and triggers made again. The statement is edited, not regenerated, so every
    constraint keeps its form (a column's CHECK stays the column's, which a later
    DROP COLUMN needs), and an AUTOINCREMENT table keeps its counter.

    Run inside :func:`sqlite_foreign_keys_off`.
    """
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    # Its indexes and triggers go with the old table: made again on the new one.
    indexes = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = ? "
        "AND sql IS NOT NULL",
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
    counter = _autoincrement_counter(table)
    bind.exec_driver_sql(new_sql)
    bind.exec_driver_sql(f"INSERT INTO {rebuilt} ({names}) SELECT {names} FROM {table}")
    bind.exec_driver_sql(f"DROP TABLE {table}")
    # Triggers on other tables may name this one (student_courses' keep courses'
    # counts): without the legacy rename, SQLite re-checks them while the table is away.
    bind.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    bind.exec_driver_sql(f"ALTER TABLE {rebuilt} RENAME TO {table}")
    bind.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
    for index in indexes:
        bind.exec_driver_sql(index)
    if counter is not None:
        # The copy set the AUTOINCREMENT counter to the greatest id left; ids handed out
        # above it (rows deleted since) must never be handed out again.
        bind.exec_driver_sql(
            "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (counter, table)
        )
        bind.exec_driver_sql(
            "INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? "
            "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)",
            (table, counter, table),
        )


def _autoincrement_counter(table: str) -> int | None:
    bind = op.get_bind()
    has_sequence = bind.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
    ).scalar()
    if not has_sequence:
        return None
    return bind.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).scalar()


@contextmanager
def own_transaction() -> Iterator[None]:
    """Inside an ``autocommit_block()``, a transaction of its own with the migration's
    bounds on lock waits and statements: for a step (validating a constraint) that
    must commit apart from the step before it."""
    op.execute("BEGIN")
    set_timeouts()
    yield
    op.execute("COMMIT")


#: SQLite's random 128 bits, as the 32 hex digits SQLAlchemy's ``Uuid`` stores there.
SQLITE_RANDOM_UUID = "lower(hex(randomblob(16)))"
_FILL_BATCH = 1000


def add_random_uuid_columns(column: str, tables: Sequence[str]) -> None:
    """Add ``column``, a NOT NULL random UUID for every row old and new, unique by the
    index ``uq_<table>_<column>``, to each of ``tables``, which have data (and ``id``
    primary keys).

    On PostgreSQL safe on live tables. In the migration's transaction, catalog changes
    only: the column added nullable (a default given in ADD COLUMN would be evaluated
    for every row: a rewrite), then given ``gen_random_uuid()`` as its default (rows
    the previous code inserts get one), and a NOT VALID check that it is set. Then,
    committed, each step its own short transaction: the existing rows filled a batch
    at a time under row locks only, the check validated (blocking neither reads nor
    writes), SET NOT NULL (which the check spares a scan) and the check dropped; and
    the index built CONCURRENTLY. On SQLite, which adds a column with a constant
    default only: the column added, filled, and the table rebuilt with the random
    default and NOT NULL (:func:`rebuild_sqlite_table`).
    """
    context = op.get_context()
    if context.dialect.name == "sqlite":
        for table in tables:
            _add_random_uuid_column_on_sqlite(table, column)
        return
    for table in tables:
        op.add_column(table, sa.Column(column, sa.Uuid(), nullable=True))
        op.alter_column(table, column, server_default=sa.text("gen_random_uuid()"))
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_{column}_not_null "
            f"CHECK ({column} IS NOT NULL) NOT VALID"
        )
    robust = "-- squawk-ignore prefer-robust-stmts\n"
    with context.autocommit_block():
        for table in tables:
            check = f"ck_{table}_{column}_not_null"
            fill = (
                f"UPDATE {table} SET {column} = gen_random_uuid() WHERE id IN "
                f"(SELECT id FROM {table} WHERE {column} IS NULL ORDER BY id LIMIT {_FILL_BATCH})"
            )
            # A batch at a time, each its own transaction with the migration's bounds.
            if context.as_sql:  # offline SQL: one batch stands for them all
                with own_transaction():
                    op.execute(fill)
            else:
                while _fill_one_batch(fill):
                    pass
            # Rerunnable, as squawk asks: validating or setting NOT NULL twice does
            # nothing the second time; the check dropped is ours, its work NOT NULL's now.
            with own_transaction():
                op.execute(f"{robust}ALTER TABLE {table} VALIDATE CONSTRAINT {check}")
            with own_transaction():
                op.execute(f"{robust}ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL")
                op.execute(
                    "-- squawk-ignore ban-drop-constraint\n"
                    f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {check}"
                )
    for table in tables:
        index = f"uq_{table}_{column}"
        with concurrent_ddl():
            # A CONCURRENTLY build that failed leaves an invalid index behind: dropped first.
            op.drop_index(index, table_name=table, postgresql_concurrently=True, if_exists=True)
            op.create_index(
                index,
                table,
                [column],
                unique=True,
                postgresql_concurrently=True,
                if_not_exists=True,
            )


def _fill_one_batch(fill: str) -> int:
    with own_transaction():
        return int(op.get_bind().exec_driver_sql(fill).rowcount)


def _add_random_uuid_column_on_sqlite(table: str, column: str) -> None:
    sqlite_column = f"{column} CHAR(32)"

    def required(sql: str) -> str:
        if sqlite_column not in sql:
            raise RuntimeError(f"unexpected {table} table: {sql}")
        default = f"DEFAULT ({SQLITE_RANDOM_UUID}) NOT NULL"
        return sql.replace(sqlite_column, f"{sqlite_column} {default}")

    with sqlite_foreign_keys_off():
        op.execute(f"ALTER TABLE {table} ADD COLUMN {sqlite_column}")
        op.execute(f"UPDATE {table} SET {column} = {SQLITE_RANDOM_UUID}")
        rebuild_sqlite_table(table, required)
    op.create_index(f"uq_{table}_{column}", table, [column], unique=True)


def drop_random_uuid_columns(column: str, tables: Sequence[str]) -> None:
    """Undo :func:`add_random_uuid_columns`."""
    for table in tables:
        with concurrent_ddl():
            op.drop_index(
                f"uq_{table}_{column}",
                table_name=table,
                postgresql_concurrently=True,
                if_exists=True,
            )
        set_timeouts()  # the block ended the transaction that had them
        op.drop_column(table, column)
