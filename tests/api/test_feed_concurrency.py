"""The change feed on PostgreSQL: exactly once and in order, while transactions commit
out of order. See ``src.services.events`` for the design these tests hold to."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, select, text

from src.database import db
from src.models import StudentCourse
from tests.api.test_events import follow

pytestmark = pytest.mark.postgresql

INSERT_EVENT = text(
    "INSERT INTO enrollment_events (type, student_id, course_id, actor_kind) "
    "VALUES (:type, :student_id, :course_id, 'system') RETURNING id"
)


@pytest.fixture
def engine(database_url):
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def naive_ids_after(engine, last_id: int) -> list[int]:
    """What a feed that pages by ascending id alone would return next."""
    with engine.connect() as connection:
        query = text("SELECT id FROM enrollment_events WHERE id > :id ORDER BY id")
        return list(connection.execute(query, {"id": last_id}).scalars())


def test_an_event_that_commits_late_with_a_smaller_id_is_not_missed(client, engine, make_student):
    student_id = make_student()["id"]
    _, cursor = follow(client)
    late = engine.connect()
    late_id = late.execute(INSERT_EVENT, {"type": "enrolled", "student_id": 1, "course_id": 1})
    late_id = late_id.scalar_one()  # taken, not committed
    course_id = client.post("/courses", json={"code": "X1", "title": "X"}).get_json()["id"]
    assert (
        client.post(f"/students/{student_id}/courses", json={"course_id": course_id}).status_code
        == 201
    )

    first, cursor = follow(client, cursor)
    late.commit()
    late.close()
    second, _ = follow(client, cursor)

    assert [e["course_id"] for e in first] == [course_id]
    assert [int(e["id"]) for e in second] == [late_id]
    # The trap is real: paging by id, the late event is behind the cursor for good.
    assert late_id < int(first[0]["id"])
    assert naive_ids_after(engine, int(first[0]["id"])) == []


def test_a_drop_never_comes_before_the_enrollment_it_ends(
    client, engine, make_student, make_course
):
    student_id, course_id = make_student()["id"], make_course()["id"]
    _, cursor = follow(client)
    dropper = engine.connect()
    # The dropping transaction gets its transaction id before the enrollment exists.
    early_xid = dropper.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one()
    assert (
        client.post(f"/students/{student_id}/courses", json={"course_id": course_id}).status_code
        == 201
    )
    dropped = dropper.execute(
        text("DELETE FROM student_courses WHERE student_id = :s AND course_id = :c"),
        {"s": student_id, "c": course_id},
    )
    assert dropped.rowcount == 1
    dropper.execute(
        INSERT_EVENT, {"type": "dropped", "student_id": student_id, "course_id": course_id}
    )
    dropper.commit()
    dropper.close()

    events, _ = follow(client, cursor)

    assert [e["type"] for e in events] == ["enrolled", "dropped"]
    with engine.connect() as connection:
        txids = connection.execute(text("SELECT type, txid FROM enrollment_events")).all()
    # Ordered by transaction id, the drop would come first.
    assert dict(txids)["dropped"] == early_xid < dict(txids)["enrolled"]


def test_a_poller_sees_every_committed_event_exactly_once_while_writers_race(app, client):
    """Writers enroll, drop, re-enroll and delete students for a few seconds while a
    poller follows the feed; its events are exactly the committed ones, in an order
    that rebuilds the enrollments."""
    admin = app.test_client
    courses = [
        client.post("/courses", json={"code": f"F{n}", "title": "Feed"}).get_json()["id"]
        for n in range(3)
    ]
    student_ids: list[int] = []
    student_lock = threading.Lock()
    serial = iter(range(1_000_000))

    def new_student(writer) -> None:
        with student_lock:
            n = next(serial)
        body = {"first_name": "W", "last_name": "R", "email": f"w{n}@example.edu"}
        response = writer.post("/students", json=body)
        assert response.status_code == 201
        with student_lock:
            student_ids.append(response.get_json()["id"])

    for _ in range(8):
        new_student(client)
    db.session.close()

    stop = threading.Event()
    seen = Counter()

    def write(seed: int) -> None:
        rng = random.Random(seed)
        writer = admin()
        while not stop.is_set():
            with student_lock:
                student_id = rng.choice(student_ids)
            course_id = rng.choice(courses)
            action = rng.random()
            if action < 0.5:
                status = writer.post(
                    f"/students/{student_id}/courses", json={"course_id": course_id}
                ).status_code
                assert status in (201, 404, 409)
                seen["enrolled"] += status == 201
            elif action < 0.9:
                status = writer.delete(f"/students/{student_id}/courses/{course_id}").status_code
                assert status in (204, 404)
                seen["dropped"] += status == 204
            else:
                status = writer.delete(f"/students/{student_id}").status_code
                assert status in (204, 404)
                if status == 204:
                    with student_lock:
                        student_ids.remove(student_id)
                    new_student(writer)

    polled: list[dict] = []

    writers_done = threading.Event()

    def poll() -> None:
        reader = admin()
        cursor = None
        while True:
            # Read once more after every writer's last request has returned.
            done = writers_done.is_set()
            page, cursor = follow(reader, cursor, limit=7)
            polled.extend(page)
            if done:
                return

    with ThreadPoolExecutor(7) as pool:
        poller = pool.submit(poll)
        writers = [pool.submit(write, seed) for seed in range(6)]
        time.sleep(4)
        stop.set()
        for writer in writers:
            writer.result()
        writers_done.set()
        poller.result()
    tail, _ = follow(admin(), None, limit=1000)

    ids = [e["id"] for e in polled]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert Counter(e["id"] for e in tail) == Counter(ids)
    kinds = Counter((e["type"], e["reason"]) for e in polled)
    assert kinds[("enrolled", None)] == seen["enrolled"] > 50
    assert kinds[("dropped", None)] == seen["dropped"] > 20
    assert kinds[("dropped", "student-deleted")] > 0

    mirror: set[tuple[int, int]] = set()
    for event in polled:
        pair = (event["student_id"], event["course_id"])
        if event["type"] == "enrolled":
            assert pair not in mirror, f"enrolled twice without a drop: {event}"
            mirror.add(pair)
        else:
            assert pair in mirror, f"dropped before it was enrolled: {event}"
            mirror.remove(pair)
    with app.app_context():
        rows = db.session.execute(select(StudentCourse.student_id, StudentCourse.course_id)).all()
    assert mirror == {tuple(row) for row in rows}


def test_a_page_at_the_end_of_a_million_events_reads_an_index(engine):
    """The feed's page query, on a feed of 1,000,000 events written by as many
    transactions, reads the recent ones through the txid index, not the table."""
    from src.services.events import _FEED_PAGE

    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO enrollment_events (txid, type, student_id, course_id, actor_kind) "
                "SELECT 1000 + n, 'enrolled', n, 1, 'system' FROM generate_series(1, 1000000) n"
            )
        )
        connection.execute(text("ANALYZE enrollment_events"))
    sql = str(_FEED_PAGE.postgresql.compile(dialect=engine.dialect))
    # A client caught up to transaction 1,000,900 of 1,001,000, and one still running.
    params = {
        "lo_xmin": 1_000_900,
        "lo_xmax": 1_000_950,
        "lo_xip": [1_000_920],
        "hi_xmax": 1_001_001,
        "hi_xip": [],
        "last_id": 0,
        "limit": 101,
    }
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(sql, params)
        page = cursor.fetchall()
    finally:
        raw.close()

    assert "Seq Scan" not in plan, plan
    assert "ix_enrollment_events_txid" in plan, plan
    assert len(page) == 52  # 1,000,920 and 1,000,950..1,001,000
