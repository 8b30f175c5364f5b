"""Helpers shared by migration scripts."""

from collections.abc import Iterator
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
