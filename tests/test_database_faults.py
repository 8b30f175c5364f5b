"""The database misbehaves; the service answers quickly and recovers by itself."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import create_engine, event, text

from src.database import connections, db
from tests.conftest import alembic_config, assert_problem, make_app

UNREACHABLE = "postgresql+psycopg2://nobody@127.0.0.1:1/nothing"
#: Any well-formed key: checking it is what needs the database.
SOME_KEY = "reg_00000000_" + "x" * 43


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word, like a hung server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_unreachable_database_is_503_problem_and_live_stays_up():
    client = make_app(UNREACHABLE, TEST_API_KEY=SOME_KEY).test_client()

    response = client.get("/students")

    body = assert_problem(response, 503, "database-unavailable")
    assert "psycopg2" not in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "1"
    assert body["detail"]
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 503


def test_a_hung_database_is_503_within_the_connect_timeout(silent_server):
    url = f"postgresql+psycopg2://nobody@127.0.0.1:{silent_server}/nothing"
    client = make_app(url, DATABASE_CONNECT_TIMEOUT=2, TEST_API_KEY=SOME_KEY).test_client()

    started = time.monotonic()
    response = client.post("/courses", json={"code": "X1", "title": "T"})
    elapsed = time.monotonic() - started

    assert_problem(response, 503, "database-unavailable")
    # libpq's connect_timeout is 2 s here; the bound only rules out a hang.
    assert elapsed < 10


def _admin_engine(url: str):
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.mark.postgresql
def test_connections_killed_by_the_server_are_replaced(app, client, make_course, database_url):
    make_course()
    assert client.get("/courses").status_code == 200
    db.session.remove()  # return the connection to the pool, as at the end of a request
    assert _kill_registrar_connections(database_url) >= 1

    responses = [client.get("/courses") for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]


def _kill_registrar_connections(database_url: str) -> int:
    admin = _admin_engine(database_url)
    with admin.connect() as connection:
        killed = (
            connection.execute(
                text(
                    "WITH victims AS MATERIALIZED (SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = 'registrar' "
                    "AND pid <> pg_backend_pid()) "
                    "SELECT array_agg(pid) FROM victims WHERE pg_terminate_backend(pid)"
                )
            ).scalar()
            or []
        )
        # pg_terminate_backend only signals: wait until the backends are gone.
        for _ in range(100):
            alive = connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                {"pids": killed},
            ).scalar()
            if not alive:
                break
            time.sleep(0.05)
    admin.dispose()
    return len(killed)


@pytest.mark.postgresql
def test_a_read_on_a_connection_that_died_unnoticed_is_sent_again(
    app, client, make_course, database_url
):
    make_course()
    assert client.get("/courses").status_code == 200
    db.session.remove()
    with app.app_context():
        # As if the server's goodbye had not arrived yet when the pool handed it out.
        event.remove(db.engine, "checkout", connections._drop_closed_connection)
    assert _kill_registrar_connections(database_url) >= 1

    responses = [client.get("/courses") for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]


@pytest.mark.postgresql
def test_statement_timeout_turns_a_blocked_request_into_a_503(app, database_url, make_course):
    course = make_course()
    fast = make_app(
        database_url, DATABASE_STATEMENT_TIMEOUT=0.3, TEST_API_KEY=app.config["TEST_API_KEY"]
    ).test_client()
    blocker = _admin_engine(database_url).connect()
    blocker.execute(text("BEGIN"))
    blocker.execute(text("SELECT * FROM courses WHERE id = :id FOR UPDATE"), {"id": course["id"]})
    try:
        started = time.monotonic()
        response = fast.patch(f"/courses/{course['id']}", json={"title": "Blocked"})
        elapsed = time.monotonic() - started
    finally:
        blocker.execute(text("ROLLBACK"))
        blocker.close()

    assert_problem(response, 503, "database-unavailable")
    assert elapsed < 5
    assert fast.patch(f"/courses/{course['id']}", json={"title": "Free"}).status_code == 200


def test_sqlite_writer_waits_at_most_the_statement_timeout(tmp_path):
    url = f"sqlite:///{tmp_path / 'locked.sqlite3'}"
    command.upgrade(alembic_config(url), "head")
    client = make_app(url, DATABASE_STATEMENT_TIMEOUT=0.3, TEST_API_KEY=SOME_KEY).test_client()
    blocker = create_engine(url)

    # Every SQLite transaction begins IMMEDIATE (src/models/base.py), taking the lock.
    with blocker.begin():
        started = time.monotonic()
        response = client.post("/courses", json={"code": "L1", "title": "Locked"})
        elapsed = time.monotonic() - started
    blocker.dispose()

    assert_problem(response, 503, "database-unavailable")
    assert elapsed < 5
