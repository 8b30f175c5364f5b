"""Bulk enrollment: POST /enrollments/batch and `flask enrollments import`."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from src.database import db
from src.models import EnrollmentEvent, StudentCourse
from tests.api.test_races import race
from tests.api.test_student_courses import enrollment_rows
from tests.api.test_waitlist_races import ROUNDS, make_students
from tests.api.test_waitlists import enrolled
from tests.conftest import assert_problem, new_key


def batch(client, pairs):
    body = {"enrollments": [{"student_id": s, "course_id": c} for s, c in pairs]}
    return client.post("/enrollments/batch", json=body)


def event_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(EnrollmentEvent))


@pytest.fixture
def world(make_student, make_course):
    """Three students and two courses, the second with two seats."""
    students = [make_student()["id"] for _ in range(3)]
    courses = [make_course()["id"], make_course(capacity=2)["id"]]
    return students, courses


# -- The endpoint ------------------------------------------------------------------------


def test_a_batch_enrolls_every_pair_in_request_order(client, world):
    (a, b, c), (open_course, small) = world
    pairs = [(c, open_course), (a, small), (a, open_course), (b, small)]

    response = batch(client, pairs)

    assert response.status_code == 200
    items = response.get_json()["enrollments"]
    assert [(i["student_id"], i["course_id"]) for i in items] == pairs
    assert all(i["created"] for i in items)
    assert all(datetime.fromisoformat(i["enrolled_at"]).tzinfo for i in items)
    assert enrollment_rows() == sorted(pairs)
    assert event_count() == 4


def test_running_a_batch_again_changes_nothing(client, world):
    (a, b, _), (open_course, small) = world
    pairs = [(a, open_course), (b, small)]
    first = batch(client, pairs).get_json()["enrollments"]

    again = batch(client, [*pairs, (a, small)])

    assert again.status_code == 200
    items = again.get_json()["enrollments"]
    assert [i["created"] for i in items] == [False, False, True]
    assert [i["enrolled_at"] for i in items[:2]] == [i["enrolled_at"] for i in first]
    assert event_count() == 3


def test_unknown_students_and_courses_are_404_listing_every_pair(client, world):
    (a, b, c), (open_course, small) = world
    client.post(f"/students/{a}/courses", json={"course_id": small})
    client.post(f"/students/{b}/courses", json={"course_id": small})

    response = batch(client, [(a, open_course), (999, open_course), (c, small), (b, 998)])

    problem = assert_problem(response, 404, "batch-rejected")
    assert problem["errors"] == [
        {
            "index": 1,
            "type": "/problems/student-not-found",
            "detail": "Student 999 does not exist.",
        },
        {"index": 2, "type": "/problems/course-full", "detail": problem["errors"][1]["detail"]},
        {"index": 3, "type": "/problems/course-not-found", "detail": "Course 998 does not exist."},
    ]
    assert enrollment_rows() == sorted([(a, small), (b, small)])
    assert event_count() == 2


def test_a_course_without_room_for_all_new_pairs_is_409(client, world):
    (a, b, c), (open_course, small) = world
    client.post(f"/students/{a}/courses", json={"course_id": small})

    response = batch(client, [(a, small), (b, open_course), (b, small), (c, small)])

    problem = assert_problem(response, 409, "batch-rejected")
    assert [(e["index"], e["type"]) for e in problem["errors"]] == [
        (2, "/problems/course-full"),
        (3, "/problems/course-full"),
    ]
    assert "1 free seat of 2" in problem["errors"][0]["detail"]
    assert enrollment_rows() == [(a, small)]
    ok = batch(client, [(a, small), (b, small)])
    assert [i["created"] for i in ok.get_json()["enrollments"]] == [False, True]


@pytest.mark.parametrize(
    ("body", "indexes"),
    [
        ({"enrollments": []}, [None]),
        ({}, [None]),
        ({"enrollments": "all"}, [None]),
        ({"enrollments": [{"student_id": 1, "course_id": 1}] * 2}, [1]),
        (
            {"enrollments": [{"student_id": 1, "course_id": 1}, {"student_id": "2"}, 3]},
            [1, 1, 2],
        ),
        ({"enrollments": [{"student_id": 1, "course_id": 1, "grade": "A"}]}, [0]),
        ({"enrollments": [{"student_id": 1, "course_id": n} for n in range(1, 1002)]}, [None]),
    ],
)
def test_bad_batches_are_422_with_the_index_of_each_bad_item(client, world, body, indexes):
    response = client.post("/enrollments/batch", json=body)

    # Its own problem type: its errors are a list of items, where a validation-error's
    # are an object of field -> messages.
    problem = assert_problem(response, 422, "invalid-items")
    assert [e["index"] for e in problem["errors"]] == indexes
    assert all(e["type"] == "/problems/validation-error" and e["detail"] for e in problem["errors"])
    assert enrollment_rows() == []


def test_a_thousand_pairs_is_the_limit(client, make_student, make_course):
    course = make_course()["id"]
    students = [make_student()["id"] for _ in range(10)]
    pairs = [(s, course) for s in students]

    assert batch(client, pairs).status_code == 200
    assert len(enrollment_rows()) == 10


def test_batches_are_for_admins_only(app, world):
    (a, _, _), (open_course, _) = world
    for key in (new_key(app, "reader"), new_key(app, "student", a)):
        assert_problem(batch(app.test_client(api_key=key), [(a, open_course)]), 403, "forbidden")


# -- The CSV import --------------------------------------------------------------------------


@pytest.fixture
def csv_world(client, make_student, make_course):
    """Students ada1..ada3@example.edu and courses CS101 (2 seats) and CS102."""
    students = [make_student()["id"] for _ in range(3)]
    courses = [make_course(capacity=2)["id"], make_course()["id"]]
    return students, courses


def run_import(app, tmp_path, text, *args):
    path = tmp_path / "enrollments.csv"
    path.write_text(text)
    # The command has a session of its own; end the test's (on SQLite it holds the lock).
    db.session.remove()
    return app.test_cli_runner().invoke(args=["enrollments", "import", str(path), *args])


def test_import_enrolls_every_line_and_reports(app, tmp_path, csv_world):
    (a, b, _c), (cs101, cs102) = csv_world
    text = "Student_Email,Course_Code\nADA1@example.edu,cs101\nada2@example.edu,CS102\n"

    result = run_import(app, tmp_path, text)

    assert result.exit_code == 0, result.output
    assert "Enrolled 2 new pairs; 0 already enrolled." in result.output
    assert enrollment_rows() == sorted([(a, cs101), (b, cs102)])
    again = run_import(app, tmp_path, text + "ada3@example.edu,cs102\n")
    assert "Enrolled 1 new pair; 2 already enrolled." in again.output
    assert event_count() == 3
    actors = db.session.scalars(select(EnrollmentEvent.actor_kind).distinct()).all()
    assert actors == ["cli"]


def test_import_resolves_codes_in_the_term_the_file_names(app, client, tmp_path, csv_world):
    (a, b, _c), (cs101, _) = csv_world
    spring = client.post(
        "/terms",
        json={
            "code": "2027-SP",
            "name": "Spring",
            "starts_on": "2027-01-11",
            "ends_on": "2027-05-07",
        },
    ).get_json()
    later = client.post(
        "/courses", json={"code": "CS101", "title": "Intro", "term_id": spring["id"]}
    )
    text = (
        "student_email,course_code,term_code\n"
        "ada1@example.edu,cs101,2027-sp\n"
        "ada2@example.edu,CS101,\n"
    )

    result = run_import(app, tmp_path, text)

    assert result.exit_code == 0, result.output
    assert enrollment_rows() == sorted([(a, later.get_json()["id"]), (b, cs101)])
    bad = run_import(
        app, tmp_path, "student_email,course_code,term_code\nada3@example.edu,CS101,NOPE\n"
    )
    assert "line 2: no term has the code 'NOPE'" in bad.output
    short = run_import(
        app, tmp_path, "student_email,course_code,term_code\nada3@example.edu,CS101\n"
    )
    assert "line 2: expected an email, a course code and a term code" in short.output


def test_import_lists_every_bad_line_and_writes_nothing(app, tmp_path, csv_world):
    text = (
        "student_email,course_code\n"
        "ada1@example.edu,CS101\n"
        "nobody@example.edu,CS101\n"
        "ada2@example.edu,NOPE\n"
        "ADA1@example.edu,cs101\n"
    )

    result = run_import(app, tmp_path, text)

    assert result.exit_code == 1
    assert "line 3: no student has the email 'nobody@example.edu'" in result.output
    # As the file gives it, in the default term (the file names none).
    assert "line 4: no course of the default term has the code 'NOPE'" in result.output
    assert "line 5: the same pair as line 2" in result.output
    assert "3 bad lines; nothing was written." in result.output
    assert "Traceback" not in result.output
    assert enrollment_rows() == []


def test_import_reports_a_full_course_once_by_its_code_with_its_lines(app, tmp_path, csv_world):
    text = "student_email,course_code\n" + "".join(f"ada{n}@example.edu,cs101\n" for n in (1, 2, 3))

    result = run_import(app, tmp_path, text)

    assert result.exit_code == 1
    problem = "course 'cs101' (lines 2, 3, 4): 2 free seats of 2, fewer than the file's 3 new pairs"
    assert result.output.count(problem) == 1, result.output
    assert "Course 1" not in result.output  # no id the user never typed
    assert enrollment_rows() == []


def run_import_bytes(app, tmp_path, data, *args):
    path = tmp_path / "enrollments.csv"
    path.write_bytes(data)
    db.session.remove()
    return app.test_cli_runner().invoke(args=["enrollments", "import", str(path), *args])


@pytest.mark.parametrize(
    "data",
    [
        "student_email,course_code\nada1@example.edu,CS101\n".encode("utf-8-sig"),
        b"student_email,course_code\r\nada1@example.edu,CS101\r\n",
    ],
)
def test_import_reads_utf8_with_or_without_a_bom(app, tmp_path, csv_world, data):
    result = run_import_bytes(app, tmp_path, data)

    assert result.exit_code == 0, result.output
    assert "Enrolled 1 new pair" in result.output


def test_import_names_the_line_where_a_file_stops_being_utf8(app, tmp_path, csv_world):
    data = "student_email,course_code\nada1@example.edu,CS101\nJosé@example.edu,CS101\n"

    result = run_import_bytes(app, tmp_path, data.encode("cp1252"))

    assert result.exit_code == 1
    assert "line 3: not UTF-8 (byte 0xe9): save the file as CSV UTF-8" in result.output
    assert "Traceback" not in result.output
    assert enrollment_rows() == []


def test_import_says_a_utf16_file_is_utf16(app, tmp_path, csv_world):
    data = "student_email,course_code\nada1@example.edu,CS101\n".encode("utf-16")

    result = run_import_bytes(app, tmp_path, data)

    assert result.exit_code == 1
    assert "the file is UTF-16" in result.output
    assert "Traceback" not in result.output


def test_import_dry_run_writes_nothing(app, tmp_path, csv_world):
    result = run_import(
        app, tmp_path, "student_email,course_code\nada1@example.edu,CS101\n", "--dry-run"
    )

    assert result.exit_code == 0, result.output
    assert "Would enroll 1 new pair; 0 already enrolled." in result.output
    assert enrollment_rows() == []
    assert db.session.scalar(select(func.count()).select_from(StudentCourse)) == 0


@pytest.mark.parametrize(
    "text",
    ["email,course\nada1@example.edu,CS101\n", "", "student_email,course_code\nada1@example.edu\n"],
)
def test_import_refuses_a_malformed_file(app, tmp_path, csv_world, text):
    result = run_import(app, tmp_path, text)

    assert result.exit_code == 1
    assert "nothing was written" in result.output
    assert "Traceback" not in result.output


# -- Concurrency (PostgreSQL) -------------------------------------------------------------


@pytest.mark.postgresql
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_batches_in_opposite_orders_and_single_enrollments_race_safely(app, client, round_):
    """Two batches share four courses, their pairs in opposite course orders; single
    enrollments race them. Only one batch fits: it lands whole, the other leaves
    nothing, no course overfills and nothing deadlocks into a 5xx."""
    courses = [
        client.post("/courses", json={"code": f"B{n}", "title": "Bulk", "capacity": 25}).get_json()[
            "id"
        ]
        for n in range(4)
    ]
    students = make_students(client, 56)
    first, second, singles = students[:20], students[20:40], students[40:]
    forward = [{"student_id": s, "course_id": c} for c in courses for s in first]
    backward = [{"student_id": s, "course_id": c} for c in reversed(courses) for s in second]
    requests = [
        ("POST", "/enrollments/batch", {"enrollments": forward}),
        ("POST", "/enrollments/batch", {"enrollments": backward}),
    ] + [
        ("POST", f"/students/{s}/courses", {"course_id": courses[n % 4]})
        for n, s in enumerate(singles)
    ]

    responses = race(app, requests)

    statuses = [r.status_code for r in responses]
    assert all(s < 500 for s in statuses), [r.get_json() for r in responses if r.status_code >= 500]
    assert sorted(statuses[:2]) == [200, 409], [r.get_json() for r in responses[:2]]
    assert set(statuses[2:]) <= {201, 409}
    with app.app_context():
        for course_id in courses:
            seated = set(enrolled(course_id))
            assert len(seated) <= 25
            landed, failed = (first, second) if statuses[0] == 200 else (second, first)
            assert set(landed) <= seated
            assert not set(failed) & seated
