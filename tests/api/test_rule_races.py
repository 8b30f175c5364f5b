"""The registration rules under concurrency, on PostgreSQL: one student's requests
racing each other, and holds placed while they race."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from src.database import db
from tests.api.test_races import race
from tests.api.test_registration_rules import MW_930, MWF_9, NEXT

pytestmark = pytest.mark.postgresql

ROUNDS = 3


def _offer(client, term, **fields):
    body = {"code": f"R{time.perf_counter_ns()}"[:20], "title": "T", "term_id": term["id"]}
    response = client.post("/courses", json=body | fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _at_once(app, path: str, courses: list[dict]) -> list:
    """POST each course to ``path`` from its own thread, all at once (no app context:
    for a thread of the test's own)."""
    barrier = threading.Barrier(len(courses))

    def send(course: dict):
        client = app.test_client()
        barrier.wait()
        return client.post(path, json={"course_id": course["id"]})

    with ThreadPoolExecutor(len(courses)) as pool:
        return list(pool.map(send, courses))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_ten_requests_at_once_stay_within_the_credit_limit(app, client, make_student, round_):
    term = client.post("/terms", json={**NEXT, "max_credits": 12}).get_json()
    courses = [_offer(client, term, credits=3) for _ in range(10)]
    student = make_student()
    path = f"/students/{student['id']}/courses"

    responses = race(app, [("POST", path, {"course_id": c["id"]}) for c in courses])

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 4 + [409] * 6, [r.get_json() for r in responses]
    refused = [r.get_json() for r in responses if r.status_code == 409]
    assert {problem["type"] for problem in refused} == {"/problems/credit-limit-exceeded"}
    with app.app_context():
        taken = db.session.execute(
            text(
                "SELECT sum(c.credits) FROM student_courses sc JOIN courses c "
                "ON c.id = sc.course_id WHERE sc.student_id = :s"
            ),
            {"s": student["id"]},
        ).scalar()
    assert taken == 12


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_overlapping_courses_at_once_enroll_one(app, client, make_student, round_):
    term = client.post("/terms", json=NEXT).get_json()
    first = _offer(client, term, meetings=[MWF_9])
    second = _offer(client, term, meetings=[MW_930])
    student = make_student()
    path = f"/students/{student['id']}/courses"

    responses = race(app, [("POST", path, {"course_id": c["id"]}) for c in (first, second)])

    assert sorted(r.status_code for r in responses) == [201, 409]
    [refused] = [r.get_json() for r in responses if r.status_code == 409]
    assert refused["type"] == "/problems/time-conflict"


HOLD = (
    "INSERT INTO holds (student_id, kind, reason, blocks_registration, blocks_drop, placed_by) "
    "VALUES (:s, 'financial', 'Fees', true, false, '{\"kind\": \"cli\"}')"
)


def _while_the_student_is_locked(database_url, student_id, write, act) -> tuple[list, list]:
    """Lock the student's row from a connection of the test's own, as a change in
    progress does, and make that change (``write``: SQL and its parameters beside
    ``s``); run ``act`` (which returns a list) in a thread meanwhile, then commit.
    Returns what ``act`` had given half a second in (before the commit) and in the end."""
    sql, params = write
    engine = create_engine(database_url)
    results: list = []
    with engine.connect() as holder:
        transaction = holder.begin()
        holder.execute(
            text("SELECT id FROM students WHERE id = :s FOR NO KEY UPDATE"), {"s": student_id}
        )
        holder.execute(text(sql), {"s": student_id, **params})
        acting = threading.Thread(target=lambda: results.extend(act()))
        acting.start()
        time.sleep(0.5)
        before_the_commit = list(results)
        transaction.commit()
        acting.join()
    engine.dispose()
    return before_the_commit, results


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_no_enrollment_commits_after_a_hold_that_was_placed_first(
    app, client, database_url, make_student, round_
):
    """A hold committed while enrollments wait for the student: each of them sees it.
    The hold's transaction is held open from its own connection, as a placement in
    progress is (it locks the student as the service does), while the requests start."""
    term = client.post("/terms", json=NEXT).get_json()
    courses = [_offer(client, term) for _ in range(5)]
    student = make_student()
    path = f"/students/{student['id']}/courses"

    waiting, results = _while_the_student_is_locked(
        database_url, student["id"], (HOLD, {}), lambda: _at_once(app, path, courses)
    )

    assert waiting == []  # the requests waited for the student's lock
    assert [r.status_code for r in results] == [409] * 5, [r.get_json() for r in results]
    assert {r.get_json()["type"] for r in results} == {"/problems/hold-active"}


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_hold_placed_during_enrollments_waits_for_the_one_in_progress(
    app, client, database_url, make_student, round_
):
    """An enrollment in progress (its course and student locked) commits first; the
    hold placed meanwhile commits after it, and the next enrollment is refused."""
    term = client.post("/terms", json=NEXT).get_json()
    first, second = _offer(client, term), _offer(client, term)
    student = make_student()
    hold = {"kind": "financial", "reason": "Fees", "blocks": ["registration"]}
    holds = f"/students/{student['id']}/holds"
    enrolling = (
        "INSERT INTO student_courses (student_id, course_id) VALUES (:s, :c)",
        {"c": first["id"]},
    )

    waiting, placed = _while_the_student_is_locked(
        database_url, student["id"], enrolling, lambda: [app.test_client().post(holds, json=hold)]
    )

    assert waiting == []  # the hold waited for the enrollment's lock
    assert placed[0].status_code == 201
    refused = client.post(f"/students/{student['id']}/courses", json={"course_id": second["id"]})
    assert refused.get_json()["type"] == "/problems/hold-active"


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_promotion_waits_for_a_hold_in_progress_and_passes_the_student_over(
    app, client, database_url, make_student, round_
):
    """The first in line gets a hold while a drop frees the seat: the promotion locks
    them before reading their holds, so it waits for the hold and then passes them by."""
    term = client.post("/terms", json=NEXT).get_json()
    course = _offer(client, term, capacity=1, waitlist_capacity=5)
    seated, first, second = make_student(), make_student(), make_student()
    for student, body in ((seated, {}), (first, {"waitlist": True}), (second, {"waitlist": True})):
        client.post(f"/students/{student['id']}/courses", json={"course_id": course["id"], **body})
    path = f"/students/{seated['id']}/courses/{course['id']}"

    waiting, dropped = _while_the_student_is_locked(
        database_url, first["id"], (HOLD, {}), lambda: [app.test_client().delete(path)]
    )

    assert waiting == []  # the promotion waited for the first in line's lock
    assert dropped[0].status_code == 204
    roster = client.get(f"/courses/{course['id']}/students").get_json()
    assert [s["id"] for s in roster] == [second["id"]]
    line = client.get(f"/courses/{course['id']}/waitlist").get_json()
    assert [(s["id"], s["blocked_by"]) for s in line] == [(first["id"], ["hold-active"])]
