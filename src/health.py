"""Is the database reachable, and is its schema the one this code was written for?

Used by ``GET /health/ready`` and by the ``deploy-check`` command.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cache

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from src.config import PROJECT_ROOT
from src.database import Statement, transaction
from src.database.connections import pooler_hint

logger = logging.getLogger(__name__)

#: How long the readiness query may run on PostgreSQL.
READY_STATEMENT_TIMEOUT_MS = 2000


@cache
def migration_script() -> ScriptDirectory:
    """The project's Alembic scripts (read once per process)."""
    return ScriptDirectory.from_config(Config(str(PROJECT_ROOT / "alembic.ini")))


def code_head() -> str:
    """The newest migration this code knows."""
    head = migration_script().get_current_head()
    assert head is not None, "the project has no migrations"  # noqa: S101 - a packaging bug
    return head


@dataclass(frozen=True)
class SchemaStatus:
    """What the database said, in draft-inadarei-api-health-check terms."""

    status: str  # "pass", "warn" or "fail"
    revision: str | None
    response_time_ms: float | None
    output: str = ""
    #: What went wrong, for operators (logs, deploy-check); never in a public answer.
    detail: str = ""


def _classify(revisions: set[str]) -> tuple[str, str]:
    head = code_head()
    if revisions == {head}:
        return "pass", ""
    if not revisions:
        return "fail", "the database has no schema yet: run `alembic upgrade head`"
    known = {script.revision for script in migration_script().walk_revisions()}
    unknown = revisions - known
    if unknown:
        # New code is being rolled out: its migration ran, this process is the old code.
        return "warn", f"the database is at {', '.join(sorted(unknown))}, newer than this code"
    return "fail", f"the database is at {', '.join(sorted(revisions))}, behind this code's {head}"


# Nothing to bound on SQLite, whose busy timeout is the connection's.
_BOUND_TIME = Statement(
    lambda _params: [],
    postgresql=text(f"SET LOCAL statement_timeout = {READY_STATEMENT_TIMEOUT_MS}"),
)
_REVISIONS = Statement(text("SELECT version_num FROM alembic_version"))


def check_schema() -> SchemaStatus:
    """Read the database's Alembic revision with a short timeout and compare it to ours."""
    started = time.perf_counter()
    try:
        try:
            with transaction():
                _BOUND_TIME.run()
                revisions = {row[0] for row in _REVISIONS.rows()}
        except DBAPIError as error:
            if not _is_missing_table(error):
                raise
            revisions = set()
    except SQLAlchemyError as error:
        # The reason (host, port, role, database names) is for the log, which carries the
        # request id; /health/ready is public, so its answer stays generic.
        reason = str(getattr(error, "orig", error)).splitlines()[0] if str(error) else ""
        reason = pooler_hint(reason)
        logger.warning("readiness: database unreachable: %s", reason)
        return SchemaStatus("fail", None, None, "database unreachable", detail=reason)
    elapsed = (time.perf_counter() - started) * 1000
    status, output = _classify(revisions)
    revision = ", ".join(sorted(revisions)) or None
    return SchemaStatus(status, revision, round(elapsed, 2), output)


def _is_missing_table(error: DBAPIError) -> bool:
    message = str(error.orig).lower()
    return "alembic_version" in message and (
        "no such table" in message or "does not exist" in message
    )
