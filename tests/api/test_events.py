"""Enrollment events: what each change writes, a pair's history, and the change feed."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from src.database import db
from src.models import EnrollmentEvent
from src.services import events as events_service
from tests.conftest import assert_problem, make_app, new_key


def enroll(client, student_id, course_id):
    return client.post(f"/students/{student_id}/courses", json={"course_id": course_id})


def stored_events() -> list[tuple[str, int, int, str | None]]:
    db.session.expire_all()
    rows = db.session.execute(
        select(
            EnrollmentEvent.type,
            EnrollmentEvent.student_id,
            EnrollmentEvent.course_id,
            EnrollmentEvent.reason,
        ).order_by(EnrollmentEvent.id)
    )
    return [tuple(row) for row in rows]


def prefix_of(key: str) -> str:
    return key.split("_")[1]


@pytest.fixture
def pair(make_student, make_course):
    return make_student()["id"], make_course()["id"]


# -- What each change writes ------------------------------------------------------------


def test_enrolling_writes_an_enrolled_event_with_the_callers_key(app, client, pair):
    student_id, course_id = pair

    assert enroll(client, student_id, course_id).status_code == 201

    assert stored_events() == [("enrolled", student_id, course_id, None)]
    history = client.get(f"/students/{student_id}/courses/{course_id}/history").get_json()
    key = app.config["TEST_API_KEY"]
    assert history[0]["actor"] == {"kind": "api_key", "key_prefix": prefix_of(key), "role": "admin"}
    assert key not in str(history)
    assert isinstance(history[0]["id"], str)
    assert datetime.fromisoformat(history[0]["occurred_at"]).utcoffset().total_seconds() == 0
    assert list(history[0]) == [
        "id", "type", "student_id", "course_id", "term_id", "occurred_at", "actor", "reason",
        "overrides", "override_reason",
    ]  # fmt: skip
    assert history[0]["term_id"] == client.get(f"/courses/{course_id}").get_json()["term_id"]


def test_a_student_key_is_its_own_actor(app, pair):
    student_id, course_id = pair
    key = new_key(app, "student", student_id)
    client = app.test_client(api_key=key)

    assert enroll(client, student_id, course_id).status_code == 201

    history = client.get(f"/students/{student_id}/courses/{course_id}/history").get_json()
    assert history[0]["actor"] == {
        "kind": "api_key",
        "key_prefix": prefix_of(key),
        "role": "student",
    }


def test_unenrolling_writes_a_dropped_event(client, pair):
    student_id, course_id = pair
    enroll(client, student_id, course_id)

    assert client.delete(f"/students/{student_id}/courses/{course_id}").status_code == 204

    assert stored_events() == [
        ("enrolled", student_id, course_id, None),
        ("dropped", student_id, course_id, None),
    ]


def test_put_writes_an_event_only_when_it_enrolls(client, pair):
    student_id, course_id = pair

    assert client.put(f"/students/{student_id}/courses/{course_id}").status_code == 201
    assert client.put(f"/students/{student_id}/courses/{course_id}").status_code == 200

    assert stored_events() == [("enrolled", student_id, course_id, None)]


def test_refused_changes_write_nothing(client, make_student, make_course):
    course = make_course(capacity=1)
    first, second = make_student()["id"], make_student()["id"]
    enroll(client, first, course["id"])

    assert enroll(client, second, course["id"]).status_code == 409  # full
    assert enroll(client, first, course["id"]).status_code == 409  # already enrolled
    assert client.delete(f"/students/{second}/courses/{course['id']}").status_code == 404
    assert enroll(client, first, 999).status_code == 404

    assert stored_events() == [("enrolled", first, course["id"], None)]


def test_deleting_a_student_drops_each_enrollment_with_a_reason(client, make_student, make_course):
    student_id = make_student()["id"]
    other = make_student()["id"]
    courses = [make_course()["id"] for _ in range(3)]
    for course_id in courses:
        enroll(client, student_id, course_id)
    enroll(client, other, courses[0])

    assert client.delete(f"/students/{student_id}").status_code == 204

    drops = [e for e in stored_events() if e[0] == "dropped"]
    assert drops == [("dropped", student_id, c, "student-deleted") for c in courses]


def test_deleting_a_student_without_enrollments_writes_nothing(client, make_student):
    student_id = make_student()["id"]

    assert client.delete(f"/students/{student_id}").status_code == 204
    assert client.delete(f"/students/{student_id}").status_code == 404

    assert stored_events() == []


# -- History ----------------------------------------------------------------------------


def test_history_lists_a_pairs_events_oldest_first_after_the_drop(client, pair, make_course):
    student_id, course_id = pair
    other_course = make_course()["id"]
    enroll(client, student_id, course_id)
    enroll(client, student_id, other_course)
    client.delete(f"/students/{student_id}/courses/{course_id}")
    enroll(client, student_id, course_id)
    client.delete(f"/students/{student_id}/courses/{course_id}")

    response = client.get(f"/students/{student_id}/courses/{course_id}/history")

    assert response.status_code == 200
    body = response.get_json()
    assert [e["type"] for e in body] == ["enrolled", "dropped", "enrolled", "dropped"]
    assert {(e["student_id"], e["course_id"]) for e in body} == {(student_id, course_id)}
    assert response.headers["X-Total-Count"] == "4"


def test_history_is_paginated(client, pair):
    student_id, course_id = pair
    for _ in range(3):
        enroll(client, student_id, course_id)
        client.delete(f"/students/{student_id}/courses/{course_id}")

    response = client.get(f"/students/{student_id}/courses/{course_id}/history?limit=4&offset=4")

    assert [e["type"] for e in response.get_json()] == ["enrolled", "dropped"]
    assert response.headers["X-Total-Count"] == "6"
    assert 'rel="prev"' in response.headers["Link"]


def test_history_of_a_pair_without_events_is_empty(client, pair):
    student_id, course_id = pair

    response = client.get(f"/students/{student_id}/courses/{course_id}/history")

    assert response.status_code == 200
    assert response.get_json() == []


def test_history_of_unknown_student_or_course_is_404(client, pair):
    student_id, course_id = pair

    assert_problem(
        client.get(f"/students/999/courses/{course_id}/history"), 404, "student-not-found"
    )
    assert_problem(
        client.get(f"/students/{student_id}/courses/999/history"), 404, "course-not-found"
    )


def test_history_is_readable_by_readers_and_the_student_only(app, client, make_student, pair):
    student_id, course_id = pair
    other = make_student()["id"]
    path = f"/students/{student_id}/courses/{course_id}/history"

    assert app.test_client(api_key=new_key(app, "reader")).get(path).status_code == 200
    assert app.test_client(api_key=new_key(app, "student", student_id)).get(path).status_code == 200
    forbidden = app.test_client(api_key=new_key(app, "student", other)).get(path)
    assert_problem(forbidden, 403, "forbidden")


# -- The feed -----------------------------------------------------------------------------


def follow(client, cursor: str | None = None, limit: int = 100) -> tuple[list[dict], str]:
    """Read the feed from ``cursor`` until a page comes back empty."""
    seen: list[dict] = []
    while True:
        query = f"limit={limit}" + (f"&after={cursor}" if cursor else "")
        response = client.get(f"/events?{query}")
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert set(body) == {"events", "cursor"}
        cursor = body["cursor"]
        if not body["events"]:
            return seen, cursor
        seen.extend(body["events"])


def test_the_feed_starts_at_the_beginning_and_follows_its_cursor(client, pair, make_course):
    student_id, course_id = pair
    enroll(client, student_id, course_id)
    client.delete(f"/students/{student_id}/courses/{course_id}")
    enroll(client, student_id, make_course()["id"])

    events, cursor = follow(client, limit=2)

    assert [e["type"] for e in events] == ["enrolled", "dropped", "enrolled"]
    assert len({e["id"] for e in events}) == 3

    enroll(client, student_id, course_id)
    more, _ = follow(client, cursor)
    assert [(e["type"], e["course_id"]) for e in more] == [("enrolled", course_id)]


def test_an_empty_feed_returns_a_cursor_that_continues(client, pair):
    response = client.get("/events")

    assert response.status_code == 200
    body = response.get_json()
    assert body["events"] == []
    student_id, course_id = pair
    enroll(client, student_id, course_id)
    events, _ = follow(client, body["cursor"])
    assert [e["type"] for e in events] == ["enrolled"]


def test_the_feed_agrees_with_the_histories(client, make_student, make_course):
    students = [make_student()["id"] for _ in range(3)]
    courses = [make_course()["id"] for _ in range(2)]
    for s in students:
        for c in courses:
            enroll(client, s, c)
    client.delete(f"/students/{students[0]}")

    events, _ = follow(client, limit=5)

    histories = []
    for s in students[1:]:
        for c in courses:
            histories += client.get(f"/students/{s}/courses/{c}/history").get_json()
    assert sorted(e["id"] for e in events if e["student_id"] != students[0]) == sorted(
        e["id"] for e in histories
    )
    assert len(events) == 8


def signed(app, raw: bytes) -> str:
    """A cursor of these contents, signed as the service signs its own."""
    text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with app.app_context():
        return events_service._signer().sign(text).decode()


@pytest.mark.parametrize(
    "raw",
    [
        b"1|0:0:|0:0:|0",  # the unsigned format of before
        b"3|0:0:||0|0",
        b"2|5:3:||0|0",  # xmin above xmax
        b"2|3:9:12||0|0",  # in progress beyond xmax
        b"2|3:9:5,4||0|0",  # unsorted
        b"2|0:0:|0:0:|-1|0",
        b"2|0:0:|0:0:|99999999999999999999|0",
        "2|0:0:|0:0:|٣|0".encode(),
        b"2|0:0:||7|0",  # past an event of a batch that has no snapshot
    ],
)
def test_a_malformed_cursor_is_422_even_signed(app, client, raw):
    response = client.get(f"/events?after={signed(app, raw)}")

    problem = assert_problem(response, 422, "validation-error")
    assert "after" in problem["errors"]


@pytest.mark.parametrize("after", ["nonsense", "%00", "MnwwOjA6fHwwfDA"])
def test_a_cursor_the_service_did_not_sign_is_422(client, after):
    # MnwwOjA6fHwwfDA is the start of the feed, well formed but unsigned: forged.
    problem = assert_problem(client.get(f"/events?after={after}"), 422, "validation-error")
    assert "after" in problem["errors"]


def test_cursors_signed_with_a_rotated_key_keep_working(app, client, pair):
    student_id, course_id = pair
    enroll(client, student_id, course_id)
    _, cursor = follow(client, limit=1)
    rotated = make_app(
        app.config["SQLALCHEMY_DATABASE_URI"],
        SECRET_KEY="a-new-key-" + "x" * 32,
        SECRET_KEY_FALLBACKS=[app.config["SECRET_KEY"]],
        TEST_API_KEY=app.config["TEST_API_KEY"],
    ).test_client()
    retired = make_app(
        app.config["SQLALCHEMY_DATABASE_URI"],
        SECRET_KEY="a-new-key-" + "x" * 32,
        TEST_API_KEY=app.config["TEST_API_KEY"],
    ).test_client()

    assert rotated.get(f"/events?after={cursor}").status_code == 200
    assert_problem(retired.get(f"/events?after={cursor}"), 422, "validation-error")


@pytest.mark.parametrize("limit", ["0", "1001", "x", "1.5"])
def test_a_bad_limit_is_422(client, limit):
    assert_problem(client.get(f"/events?limit={limit}"), 422, "validation-error")


def test_the_feed_is_for_admins_and_readers(app, client, pair):
    student_id, _ = pair

    assert app.test_client(api_key=new_key(app, "reader")).get("/events").status_code == 200
    student = app.test_client(api_key=new_key(app, "student", student_id))
    assert_problem(student.get("/events"), 403, "forbidden")


# -- Pruning ------------------------------------------------------------------------------


def age_every_event() -> None:
    """Make every event so far three years old."""
    db.session.execute(update(EnrollmentEvent).values(occurred_at=datetime(2023, 1, 1, tzinfo=UTC)))
    db.session.commit()
    db.session.remove()


def mirror_from_the_start(client) -> tuple[set, set]:
    """Enrollments and places in line, rebuilt from the feed read from its start."""
    enrolled, waiting = set(), set()
    for event in follow(client)[0]:
        pair = (event["student_id"], event["course_id"])
        if event["type"] in ("enrolled", "promoted"):
            waiting.discard(pair)
            enrolled.add(pair)
        elif event["type"] == "dropped":
            enrolled.discard(pair)
        elif event["type"] == "waitlisted":
            waiting.add(pair)
        elif event["type"] == "left_waitlist":
            waiting.discard(pair)
    return enrolled, waiting


@pytest.fixture
def history(client, make_student, make_course):
    """Three students and two courses with a past: drops, a re-enrollment, a line."""
    ada, bob, cy = (make_student()["id"] for _ in range(3))
    full = make_course(capacity=1, waitlist_capacity=5)["id"]
    other = make_course()["id"]
    enroll(client, ada, other)
    client.delete(f"/students/{ada}/courses/{other}")
    enroll(client, ada, other)  # enrolled again: this is the event that explains it
    enroll(client, bob, other)
    client.delete(f"/students/{bob}/courses/{other}")  # nothing of bob's stands
    enroll(client, cy, full)
    client.post(f"/students/{bob}/courses", json={"course_id": full, "waitlist": True})
    return {(ada, other), (cy, full)}, {(bob, full)}


def test_prune_keeps_what_explains_the_current_state(app, client, history):
    enrolled, waiting = history
    age_every_event()
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["events", "prune", "--before", "2024-01-01", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would delete 4 events" in dry.output
    assert len(stored_events()) == 7

    pruned = runner.invoke(args=["events", "prune", "--before", "2024-01-01"])

    assert pruned.exit_code == 0, pruned.output
    assert "Deleted 4 events" in pruned.output
    assert "Kept 3 older events" in pruned.output
    assert "2 made current enrollments, 1 current places in a line" in pruned.output
    assert sorted((t, s, c) for t, s, c, _ in stored_events()) == sorted(
        [("enrolled", s, c) for s, c in enrolled] + [("waitlisted", s, c) for s, c in waiting]
    )
    # A mirror that replays the feed from the start still has every enrollment and place.
    assert mirror_from_the_start(client) == (enrolled, waiting)


def test_prune_deletes_nothing_newer_and_nothing_without_old_events(app, client, history):
    runner = app.test_cli_runner()

    kept = runner.invoke(args=["events", "prune", "--before", "2000-01-01"])

    assert kept.exit_code == 0, kept.output
    assert "Deleted 0 events" in kept.output
    assert len(stored_events()) == 7


def test_prune_refuses_a_date_in_the_future(app, client, history):
    result = app.test_cli_runner().invoke(args=["events", "prune", "--before", "2999-01-01"])

    assert result.exit_code == 2
    assert "future" in result.output
    assert len(stored_events()) == 7


def test_a_cursor_from_before_a_prune_that_passed_it_is_410(app, client, history):
    _, waiting = history
    midway = client.get("/events?limit=1").get_json()["cursor"]  # one event read of seven
    _, caught_up = follow(client, midway)  # another client, which read them all
    age_every_event()
    student, course = next(iter(waiting))
    client.delete(f"/students/{student}/courses/{course}")  # one more event, after them all
    pruned = app.test_cli_runner().invoke(args=["events", "prune", "--before", "2024-01-01"])
    assert pruned.exit_code == 0, pruned.output

    behind = client.get(f"/events?after={midway}")
    ahead = client.get(f"/events?after={caught_up}")

    problem = assert_problem(behind, 410, "cursor-expired")
    assert "from the start" in problem["detail"]
    # The client that had read every pruned event goes on, and sees what came after.
    assert ahead.status_code == 200, ahead.get_json()
    assert [e["type"] for e in ahead.get_json()["events"]] == ["left_waitlist"]
    # Reading again from the start is always possible, and its cursors go on too.
    _, fresh = follow(client, limit=1)
    assert client.get(f"/events?after={fresh}").status_code == 200


def test_prune_refuses_a_bad_date(app):
    result = app.test_cli_runner().invoke(args=["events", "prune", "--before", "yesterday"])

    assert result.exit_code == 2
    assert "yesterday" in result.output
