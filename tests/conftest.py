"""Fixtures shared by every test.

Tests run on a temporary SQLite file by default and on PostgreSQL when
``TEST_DATABASE_URL`` is set. Either way the schema is built by running the Alembic
migrations, and every table is emptied after each test, so tests are isolated even
when they commit from several threads.
"""

from __future__ import annotations

import datetime
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from alembic import command
from alembic.config import Config
from flask import Flask, current_app, has_app_context
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import ORMExecuteState, Session

from src import create_app
from src.auth.keys import create_api_key
from src.config import normalize_database_url
from src.database import db

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    """An Alembic configuration for the project's migrations against ``url``."""
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def is_postgresql(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database."""
    return url.startswith(("postgresql", "postgres:"))


def _admin_url(url: URL) -> str:
    return url.set(database="postgres").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def base_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of the database the suite runs on, as given (not yet migrated)."""
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if url:
        return normalize_database_url(url)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


class LazyLoadError(AssertionError):
    """A relationship was loaded lazily: a hidden query per object (N+1)."""


def _forbid_lazy_loads(state: ORMExecuteState) -> None:
    if state.is_select and state.lazy_loaded_from is not None:
        raise LazyLoadError(
            f"lazy load of {state.lazy_loaded_from.class_.__name__}: load it explicitly"
        )


@pytest.fixture(autouse=True)
def no_lazy_loads() -> Iterator[None]:
    """Make every lazy relationship load raise, in the app and in the tests alike."""
    event.listen(Session, "do_orm_execute", _forbid_lazy_loads)
    yield
    event.remove(Session, "do_orm_execute", _forbid_lazy_loads)


#: Under CI a test that cannot run fails: a skipped test there is no test.
CI = os.environ.get("CI", "").lower() == "true"


def needs(what: str, how: str) -> NoReturn:
    """Stop a test that needs ``what``, which this machine lacks: not run, with ``how``
    to get it (``make test`` installs Debian's packages when run as root), or under
    ``CI=true`` a failure."""
    message = f"needs {what}: {how}"
    if CI:
        pytest.fail(message)
    pytest.skip(f"not run: {message}")


def program(name: str, package: str) -> str:
    """The path of a program from Debian's ``package``, or :func:`needs` it."""
    path = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin", name), Path("/usr/bin", name)) if p.exists()), None
    )
    if path is None:
        needs(name, f"sudo apt-get install {package}")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``postgresql`` need the suite to run on PostgreSQL.

    ``make test`` runs them in its PostgreSQL pass; run alone on SQLite they are not
    run (under ``CI=true``, they fail).
    """
    if is_postgresql(os.environ.get("TEST_DATABASE_URL", "")):
        return
    reason = "PostgreSQL only: `make test` runs it when PostgreSQL is reachable"
    for item in items:
        if "postgresql" in item.keywords:
            if CI:
                item.add_marker(pytest.mark.usefixtures("_fail_without_postgresql"))
            else:
                item.add_marker(pytest.mark.skip(reason=f"not run: {reason}"))


@pytest.fixture
def _fail_without_postgresql() -> None:
    pytest.fail("PostgreSQL only, and CI=true: run the suite on PostgreSQL (make test does)")


def in_a_fresh_window(length: float, needed: float = 2.0) -> None:
    """Wait, if need be, until the rate limit's current window (``length`` seconds,
    aligned to the clock: ``src.ratelimit``) has ``needed`` seconds left, so that a
    burst a test counts falls in one window."""
    left = length - time.time() % length
    if left < needed:
        time.sleep(left + 0.01)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis for the tests that share rate limits through it: ``TEST_REDIS_URL``."""
    url = os.environ.get("TEST_REDIS_URL", "").strip()
    if not url:
        needs("Redis", "set TEST_REDIS_URL (make test finds the local server)")
    return url


@pytest.fixture(scope="session")
def database_url(base_database_url: str) -> str:
    """The test database, emptied and migrated to head once per session."""
    if is_postgresql(base_database_url):
        engine = create_engine(base_database_url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    command.upgrade(alembic_config(base_database_url), "head")
    return base_database_url


@pytest.fixture
def empty_database_url(base_database_url: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database of the suite's kind, for migration tests; dropped afterwards."""
    if not is_postgresql(base_database_url):
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    url = make_url(base_database_url)
    name = f"{url.database}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(_admin_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def empty_tables() -> None:
    """Delete every row of every table (in an app context), but the default term."""
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(t.name for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
        # AUTOINCREMENT tables count on past the deleted rows; restart them, as
        # PostgreSQL's RESTART IDENTITY does.
        db.session.execute(text("DELETE FROM sqlite_sequence"))
    # The migration's default term, which the service counts on being there.
    db.session.execute(
        text(
            "INSERT INTO terms (code, name, starts_on, ends_on) "
            "VALUES ('DEFAULT', 'Default term', :today, :today)"
        ),
        {"today": datetime.date.today()},
    )
    db.session.execute(text("INSERT INTO default_term (id, term_id) SELECT 1, id FROM terms"))
    db.session.commit()


_CONFIGURED = object()


class KeyedClient(FlaskClient):
    """A test client that calls with an API key and ends each request's session.

    The key is ``api_key`` when given (``None`` for no Authorization header), else
    ``app.config["TEST_API_KEY"]``; a request's own ``Authorization`` header wins.

    The service runs its SQL on connections of its own (``src.database``); the test's
    ORM session, which pytest-flask's app context keeps for the whole test, is ended
    before and after every request, so that a transaction a test left open (on SQLite
    it holds the database's write lock) never waits for, or hides, the request's.
    """

    def __init__(self, *args: Any, api_key: Any = _CONFIGURED, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        key = self.application.config.get("TEST_API_KEY") if api_key is _CONFIGURED else api_key
        if key:
            self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"

    def open(self, *args: Any, **kwargs: Any) -> Any:
        _end_session(self.application)
        response = super().open(*args, **kwargs)
        _end_session(self.application)
        return response


def _end_session(app: Flask) -> None:
    """End the ORM session of the app context the test holds, if it is ``app``'s."""
    if has_app_context() and current_app._get_current_object() is app:  # type: ignore[attr-defined]
        db.session.remove()


class SessionEndingCliRunner(FlaskCliRunner):
    """A CLI runner that ends the test's ORM session around each command, as
    :class:`KeyedClient` does around each request: commands run their SQL on
    connections of their own."""

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        _end_session(self.app)
        result = super().invoke(*args, **kwargs)
        _end_session(self.app)
        return result


def make_app(database_url: str, **config: Any) -> Flask:
    """An app for tests on ``database_url``, with engine options derived from ``config``.

    Rate limiting is off unless a test turns it on: the suite sends bursts on purpose.
    """
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_ENABLED": False}
        | config
    )
    app.test_client_class = KeyedClient
    app.test_cli_runner_class = SessionEndingCliRunner
    return app


def new_key(
    app: Flask,
    role: str = "admin",
    student_id: int | None = None,
    instructor_id: int | None = None,
) -> str:
    """Create an API key in ``app``'s database and return it."""
    with app.app_context():
        db.session.remove()  # a transaction the test left open (SQLite's write lock)
        return create_api_key(role, student_id=student_id, instructor_id=instructor_id).key


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The app on the migrated test database, its clients calling with an admin key;
    its tables are emptied after the test."""
    app = make_app(database_url)
    app.config["TEST_API_KEY"] = new_key(app)
    yield app
    with app.app_context():
        db.session.remove()
        empty_tables()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_student(client: FlaskClient) -> Any:
    """Create a student through the API and return its JSON."""
    counter = iter(range(1, 1_000_000))

    def make(**fields: Any) -> dict[str, Any]:
        n = next(counter)
        body = {"first_name": "Ada", "last_name": f"Lovelace{n}", "email": f"ada{n}@example.edu"}
        body.update(fields)
        response = client.post("/students", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def make_course(client: FlaskClient) -> Any:
    """Create a course through the API and return its JSON."""
    counter = iter(range(1, 1_000_000))

    def make(**fields: Any) -> dict[str, Any]:
        n = next(counter)
        body = {"code": f"CS{100 + n}", "title": f"Computing {n}"}
        body.update(fields)
        response = client.post("/courses", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


#: A course's fields, in the order the API returns them.
COURSE_FIELDS = [
    "id", "term_id", "code", "title", "description", "credits", "capacity",
    "waitlist_capacity", "meetings", "prerequisites", "corequisites", "enrolled_count",
    "seats_available", "created_at", "updated_at",
]  # fmt: skip


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    """Assert ``response`` is an RFC 9457 problem of ``status`` and ``slug``; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["type"].endswith("/" + slug), body
    assert body["title"]
    assert body["detail"]
    return body
