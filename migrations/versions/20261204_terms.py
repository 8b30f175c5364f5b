"""Add terms: every course becomes an offering in a term, with meetings and requisites.

A new table of terms and a one-row table naming the default term. The migration
creates the default term (code DEFAULT, spanning every existing course and
enrollment) and puts every existing course in it. Course codes become unique per
term: the new index on (term_id, lower(code)) is built before the old one on
lower(code) is dropped, so one of them holds at every moment.

On PostgreSQL, safe on a live table: term_id is added nullable (a catalog change),
filled, then made NOT NULL behind a validated CHECK, so SET NOT NULL does not scan
under its lock; the foreign key is added NOT VALID and validated apart. The JSON
columns get constant defaults (no rewrite). During a rolling deploy the previous
code inserts courses without a term: a trigger puts an insert that names no term in
the default term (it stays, for SQL by hand such as the benchmark's; the service always
names the term). On SQLite, which cannot add a NOT NULL foreign key, the
courses table is rebuilt with foreign keys off (migrations.helpers), its CREATE
TABLE statement edited so that every other column keeps its form.

Downgrade drops terms, meetings and requisites; it fails while two terms hold the
same code, since lower(code) alone becomes unique again.

Revision ID: 20261204_terms
Revises: 20261203_feed_horizon
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import (
    concurrent_ddl,
    own_transaction,
    rebuild_sqlite_table,
    set_timeouts,
    sqlite_foreign_keys_off,
)

revision: str = "20261204_terms"
down_revision: str | None = "20261203_feed_horizon"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_INDEX = "uq_courses_code_lower"
NEW_INDEX = "uq_courses_term_id_code_lower"
FOREIGN_KEY = "fk_courses_term_id_terms"
NOT_NULL_CHECK = "ck_courses_term_id_not_null"
_ROBUST = "-- squawk-ignore prefer-robust-stmts\n"
JSON_COLUMNS = ("meetings", "prerequisites", "corequisites")
_SQLITE_TERM_ID = "term_id INTEGER REFERENCES terms (id)"
# What the rebuilt table says of term_id: NOT NULL, and a named foreign key, as a table
# constraint (SQLite's reflection names only those).
_SQLITE_TERM_ID_NOT_NULL = "term_id INTEGER NOT NULL"
_SQLITE_FOREIGN_KEY = (
    f", \n\tCONSTRAINT {FOREIGN_KEY} FOREIGN KEY(term_id) REFERENCES terms (id) ON DELETE RESTRICT"
)

# The default term spans the existing data (and today, for an empty database).
_DAYS = {
    "postgresql": (
        "SELECT least(current_date, min(day)), greatest(current_date, max(day)) FROM ("
        " SELECT CAST(created_at AS date) AS day FROM courses"
        " UNION ALL SELECT CAST(enrolled_at AS date) FROM student_courses) AS days"
    ),
    "sqlite": (
        "SELECT min(date('now'), coalesce(min(day), date('now'))),"
        " max(date('now'), coalesce(max(day), date('now'))) FROM ("
        " SELECT date(created_at) AS day FROM courses"
        " UNION ALL SELECT date(enrolled_at) FROM student_courses)"
    ),
}

# Rows inserted without a term (the previous code's, during a rolling deploy): the default one.
_DEFAULT_TERM_TRIGGER = """
CREATE FUNCTION courses_default_term() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.term_id := (SELECT term_id FROM default_term WHERE id = 1);
    RETURN NEW;
END $$;
CREATE TRIGGER courses_default_term BEFORE INSERT ON courses
    FOR EACH ROW WHEN (NEW.term_id IS NULL) EXECUTE FUNCTION courses_default_term();
"""


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def _json_column(name: str) -> sa.Column:
    return sa.Column(name, sa.JSON(), server_default=sa.text("'[]'"), nullable=False)


def upgrade() -> None:
    set_timeouts()
    dialect = op.get_context().dialect.name
    op.create_table(
        "terms",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("registration_opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("add_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drop_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdraw_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_credits", sa.Integer(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("starts_on <= ends_on", name=op.f("ck_terms_dates_in_order")),
        sa.CheckConstraint(
            "max_credits IS NULL OR (max_credits >= 0 AND max_credits <= 100)",
            name=op.f("ck_terms_max_credits_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terms")),
        sqlite_autoincrement=True,
    )
    op.create_index("uq_terms_code_lower", "terms", [sa.literal_column("lower(code)")], unique=True)
    op.create_table(
        "default_term",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("term_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_default_term_one_row")),
        sa.ForeignKeyConstraint(
            ["term_id"],
            ["terms.id"],
            name=op.f("fk_default_term_term_id_terms"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_default_term")),
    )
    op.execute(
        "INSERT INTO terms (code, name, starts_on, ends_on) "
        f"SELECT 'DEFAULT', 'Default term', days.* FROM ({_DAYS[dialect]}) AS days"
    )
    op.execute("INSERT INTO default_term (id, term_id) SELECT 1, id FROM terms")

    if dialect == "sqlite":
        _rebuild_courses_with_terms_on_sqlite()
    else:
        _add_term_id_on_postgresql()

    with concurrent_ddl():
        # A CONCURRENTLY build that failed leaves an invalid index behind: dropped first.
        op.drop_index(NEW_INDEX, table_name="courses", postgresql_concurrently=True, if_exists=True)
        op.create_index(
            NEW_INDEX,
            "courses",
            ["term_id", sa.literal_column("lower(code)")],
            unique=True,
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.drop_index(OLD_INDEX, table_name="courses", postgresql_concurrently=True, if_exists=True)


def _add_term_id_on_postgresql() -> None:
    # In the migration's transaction, catalog changes only: the column, nullable; the
    # trigger that gives the previous code's inserts a term; the two constraints, NOT VALID.
    op.add_column("courses", sa.Column("term_id", sa.Integer(), nullable=True))
    for name in JSON_COLUMNS:
        op.add_column("courses", _json_column(name))
    op.execute(_DEFAULT_TERM_TRIGGER)
    op.execute(
        f"ALTER TABLE courses ADD CONSTRAINT {NOT_NULL_CHECK} CHECK (term_id IS NOT NULL) NOT VALID"
    )
    op.execute(
        f"ALTER TABLE courses ADD CONSTRAINT {FOREIGN_KEY} FOREIGN KEY (term_id) "
        "REFERENCES terms (id) ON DELETE RESTRICT NOT VALID"
    )
    # Then, committed, each step its own transaction: the rows filled a batch at a time
    # under row locks only; the constraints validated under a lock that blocks neither
    # reads nor writes; SET NOT NULL, which the validated check spares a scan; and the
    # check, whose work the NOT NULL now does, dropped.
    with op.get_context().autocommit_block():
        _fill_term_ids()
        # squawk asks these to be rerunnable: they are (validating twice, or setting
        # NOT NULL twice, does nothing the second time). The check dropped is ours,
        # added above; NOT NULL keeps its guarantee.
        with own_transaction():
            op.execute(f"{_ROBUST}ALTER TABLE courses VALIDATE CONSTRAINT {NOT_NULL_CHECK}")
        with own_transaction():
            op.execute(f"{_ROBUST}ALTER TABLE courses VALIDATE CONSTRAINT {FOREIGN_KEY}")
        with own_transaction():
            op.execute(f"{_ROBUST}ALTER TABLE courses ALTER COLUMN term_id SET NOT NULL")
            op.execute(
                "-- squawk-ignore ban-drop-constraint\n"
                f"ALTER TABLE courses DROP CONSTRAINT IF EXISTS {NOT_NULL_CHECK}"
            )


_FILL_BATCH = (
    "UPDATE courses SET term_id = (SELECT term_id FROM default_term WHERE id = 1) "
    "WHERE id IN (SELECT id FROM courses WHERE term_id IS NULL ORDER BY id LIMIT 1000)"
)


def _fill_term_ids() -> None:
    if op.get_context().as_sql:  # offline SQL: one batch stands for them all
        op.execute(_FILL_BATCH)
        return
    while op.get_bind().exec_driver_sql(_FILL_BATCH).rowcount:
        pass


def _rebuild_courses_with_terms_on_sqlite() -> None:
    with sqlite_foreign_keys_off():
        # SQLite adds a column with a foreign key only if it may be null (the key's
        # name and ON DELETE come with the rebuild)...
        op.execute(f"ALTER TABLE courses ADD COLUMN {_SQLITE_TERM_ID}")
        for name in JSON_COLUMNS:
            op.add_column("courses", _json_column(name))
        op.execute("UPDATE courses SET term_id = (SELECT term_id FROM default_term WHERE id = 1)")
        # ...and makes it NOT NULL only in a new table.
        rebuild_sqlite_table("courses", _with_term_id_required)


def _with_term_id_required(sql: str) -> str:
    if _SQLITE_TERM_ID not in sql or not sql.endswith(")"):
        raise RuntimeError(f"unexpected courses table: {sql}")
    sql = sql.replace(_SQLITE_TERM_ID, _SQLITE_TERM_ID_NOT_NULL)
    return sql[: sql.rindex(")")].rstrip() + _SQLITE_FOREIGN_KEY + "\n)"


def _without_term_id(sql: str) -> str:
    column = f", {_SQLITE_TERM_ID_NOT_NULL}"
    if column not in sql or _SQLITE_FOREIGN_KEY not in sql:
        raise RuntimeError(f"unexpected courses table: {sql}")
    return sql.replace(column, "").replace(_SQLITE_FOREIGN_KEY, "")


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    with concurrent_ddl():
        op.drop_index(OLD_INDEX, table_name="courses", postgresql_concurrently=True, if_exists=True)
        op.create_index(
            OLD_INDEX,
            "courses",
            [sa.literal_column("lower(code)")],
            unique=True,
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.drop_index(NEW_INDEX, table_name="courses", postgresql_concurrently=True, if_exists=True)
    set_timeouts()
    if dialect == "sqlite":
        with sqlite_foreign_keys_off():
            for name in JSON_COLUMNS:
                op.drop_column("courses", name)
            # SQLite drops a column with a foreign key only by making the table anew.
            rebuild_sqlite_table("courses", _without_term_id, drop=["term_id"])
    else:
        op.execute("DROP TRIGGER courses_default_term ON courses")
        op.execute("DROP FUNCTION courses_default_term()")
        op.drop_constraint(FOREIGN_KEY, "courses", type_="foreignkey")
        for name in ("term_id", *JSON_COLUMNS):
            op.drop_column("courses", name)
    op.drop_table("default_term")
    op.drop_index("uq_terms_code_lower", table_name="terms")
    op.drop_table("terms")
