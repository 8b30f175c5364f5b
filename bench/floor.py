"""The floor: a bare WSGI app on raw psycopg2, for the benchmark only.

It answers the benchmark's requests with the same JSON and status codes as the
service (GET /students/<id>/courses, POST and DELETE of an enrollment, GET /courses,
and GET /courses?term_id=…&has_seats=true) and makes the same writes under the same
locks, after the same registration rules and capacity checks, with the fewest
statements and no framework, validation library, ORM, authentication, rate limit,
logging or metrics. What the service costs above it is what those buy.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC
from typing import Any
from urllib.parse import parse_qs

import psycopg2

# Kept by the database's triggers, as the service reads it.
ENROLLED = "c.enrolled_count"
# A course's own columns, as the enrollment's lock reads them.
OWN_COLUMNS = (
    "c.id, c.term_id, c.code, c.title, c.description, c.credits, c.capacity, "
    "c.waitlist_capacity, c.meetings, c.prerequisites, c.corequisites, c.enrolled_count, "
    "c.created_at, c.updated_at"
)
COURSE_COLUMNS = (
    "c.id, c.term_id, c.code, c.title, c.description, c.credits, c.capacity, "
    f"c.waitlist_capacity, c.meetings, c.prerequisites, c.corequisites, {ENROLLED}, "
    f"c.capacity - {ENROLLED}, c.created_at, c.updated_at"
)
FIELDS = (
    "id", "term_id", "code", "title", "description", "credits", "capacity",
    "waitlist_capacity", "meetings", "prerequisites", "corequisites", "enrolled_count",
    "seats_available", "created_at", "updated_at",
)  # fmt: skip


# The same writes as the service: each change records its event, with the course's
# term, in the same statement.
def record(type_: str) -> str:
    """The event insert for the rows of the CTE ``changed``."""
    return (
        "INSERT INTO enrollment_events (type, student_id, course_id, term_id, actor_kind) "
        f"SELECT '{type_}', student_id, course_id, "
        "(SELECT term_id FROM courses WHERE id = course_id), 'system' FROM changed"
    )


ENROLLMENTS = re.compile(r"^/students/(\d{1,10})/courses$")
ENROLLMENT = re.compile(r"^/students/(\d{1,10})/courses/(\d{1,10})$")

_connection = None


def connection() -> Any:
    """One connection per worker process, opened after the fork."""
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg2.connect(os.environ["FLOOR_DATABASE_URL"])
        with _connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
            cursor.execute("SET jit = off")  # as the service's connections (no compiling)
        _connection.commit()
    return _connection


def _iso(value: Any) -> Any:
    # As the service shows timestamps: UTC, to the millisecond.
    if not hasattr(value, "astimezone"):
        return value
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def _course(row: tuple) -> dict[str, Any]:
    return {name: _iso(value) for name, value in zip(FIELDS, row, strict=False)}


def _respond(
    start_response: Any, status: str, body: Any = None, headers: list | None = None
) -> list[bytes]:
    payload = b"" if body is None else json.dumps(body).encode()
    content_type = "application/problem+json" if status[0] == "4" else "application/json"
    base = [("Content-Type", content_type)] if body is not None else []
    start_response(status, base + (headers or []) + [("Content-Length", str(len(payload)))])
    return [payload]


TITLES = {
    "student-not-found": "Student not found",
    "course-not-found": "Course not found",
    "already-enrolled": "Already enrolled",
    "course-full": "Course is full",
    "hold-active": "Hold active",
    "prerequisite-missing": "Prerequisite missing",
    "corequisite-missing": "Corequisite missing",
    "time-conflict": "Time conflict",
    "credit-limit-exceeded": "Credit limit exceeded",
    "not-enrolled": "Not enrolled",
    "validation-error": "Invalid request",
}
REASONS = {404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity"}


def _problem(
    start_response: Any, status: int, slug: str, detail: str, errors: list | None = None
) -> list[bytes]:
    body = {"type": f"/problems/{slug}", "title": TITLES[slug], "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return _respond(start_response, f"{status} {REASONS[status]}", body)


def list_courses(
    cursor: Any, student_id: int, limit: int, offset: int, start_response: Any
) -> list[bytes]:
    cursor.execute(
        "SELECT (SELECT count(*) FROM student_courses WHERE student_id = s.id) "
        "FROM students s WHERE s.id = %s",
        (student_id,),
    )
    row = cursor.fetchone()
    if row is None:
        return _problem(
            start_response, 404, "student-not-found", f"Student {student_id} does not exist."
        )
    cursor.execute(
        f"SELECT {COURSE_COLUMNS}, sc.enrolled_at FROM student_courses sc "
        "JOIN courses c ON c.id = sc.course_id WHERE sc.student_id = %s "
        "ORDER BY sc.enrolled_at, sc.course_id LIMIT %s OFFSET %s",
        (student_id, limit, offset),
    )
    items = []
    for record in cursor.fetchall():
        item = _course(record)
        item["enrolled_at"] = _iso(record[len(FIELDS)])
        item["status"] = "enrolled"
        items.append(item)
    return _respond(start_response, "200 OK", items, [("X-Total-Count", str(row[0]))])


# The registration rules, as the service checks them (src/services/rules.py): what
# each finds for the student, read by the database's registration_findings() after
# the course's and the student's rows are locked, and the enrollment they admit, in
# one statement.
FINDINGS = (
    "SELECT f.*, f.enrolled_credits + f.credits AS total FROM registration_findings(%(s)s, %(c)s) f"
)
ENROLL = (
    f"WITH checked AS ({FINDINGS}), "
    "changed AS (INSERT INTO student_courses (student_id, course_id) "
    "SELECT %(s)s, %(c)s FROM checked WHERE NOT %(full)s AND enrolled_at IS NULL "
    "AND NOT waiting AND NOT hold_active AND missing_prerequisites IS NULL "
    "AND missing_corequisites IS NULL AND conflict_course_id IS NULL "
    "AND (max_credits IS NULL OR total <= max_credits) RETURNING *), "
    f"recorded AS ({record('enrolled')}) "
    "SELECT checked.*, (SELECT enrolled_at FROM changed) FROM checked"
)


def _broken(found: tuple, course_id: int, capacity: int | None, full: bool) -> list[dict]:
    """The rules a refusal breaks, as the service lists them."""
    _, _, hold, prerequisites, corequisites, conflict, _, _, limit, total = found[:10]
    errors: list[dict[str, Any]] = []
    if hold:
        detail = "The student has an active hold that blocks registration."
        errors.append({"type": "/problems/hold-active", "detail": detail})
    for slug, codes, when in (
        ("prerequisite-missing", prerequisites, "Prerequisites not taken in an earlier term"),
        ("corequisite-missing", corequisites, "Corequisites not taken in the same term"),
    ):
        if codes:
            listed = codes.split(" ")
            detail = f"{when}: {', '.join(listed)}."
            errors.append({"type": f"/problems/{slug}", "detail": detail, "codes": listed})
    if conflict is not None:
        detail = f"A meeting overlaps a meeting of course {conflict}, which the student takes."
        errors.append({"type": "/problems/time-conflict", "detail": detail, "course_id": conflict})
    if limit is not None and total > limit:
        detail = f"{total} credits in the term would exceed the limit of {limit}."
        errors.append(
            {
                "type": "/problems/credit-limit-exceeded",
                "detail": detail,
                "credits": total,
                "max_credits": limit,
            }
        )
    if full:
        detail = f"Course {course_id} is full: its capacity is {capacity}."
        errors.append({"type": "/problems/course-full", "detail": detail})
    return errors


def enroll(cursor: Any, student_id: int, body: bytes, start_response: Any) -> list[bytes]:
    try:
        course_id = json.loads(body)["course_id"]
    except (ValueError, KeyError, TypeError):
        course_id = None
    if not isinstance(course_id, int) or isinstance(course_id, bool):
        return _problem(start_response, 422, "validation-error", "course_id must be an integer.")
    # The course's row, then the student's, locked as the service locks them.
    cursor.execute(
        f"SELECT {OWN_COLUMNS} FROM courses c, students s WHERE c.id = %s AND s.id = %s "
        "FOR NO KEY UPDATE OF c, s",
        (course_id, student_id),
    )
    row = cursor.fetchone()
    if row is None:
        cursor.execute("SELECT 1 FROM students WHERE id = %s", (student_id,))
        if cursor.fetchone() is None:
            return _problem(
                start_response, 404, "student-not-found", f"Student {student_id} does not exist."
            )
        return _problem(
            start_response, 404, "course-not-found", f"Course {course_id} does not exist."
        )
    capacity, count = row[6], row[11]
    full = capacity is not None and count >= capacity
    params = {"s": student_id, "c": course_id, "full": full}
    cursor.execute(ENROLL, params)
    found = cursor.fetchone()
    if found[0] is not None:
        return _problem(start_response, 409, "already-enrolled", "Already enrolled.")
    if found[-1] is None:
        errors = _broken(found, course_id, capacity, full)
        first = errors[0]["type"].rsplit("/", 1)[1]
        detail = (
            errors[0]["detail"]
            if len(errors) == 1
            else (f"The request breaks {len(errors)} registration rules; see errors.")
        )
        return _problem(start_response, 409, first, detail, errors)
    seats = None if capacity is None else capacity - count - 1
    item = _course((*row[:11], count + 1, seats, *row[12:14]))
    item["enrolled_at"] = _iso(found[-1])
    item["status"] = "enrolled"
    location = f"/students/{student_id}/courses/{course_id}"
    return _respond(start_response, "201 Created", item, [("Location", location)])


def unenroll(cursor: Any, student_id: int, course_id: int, start_response: Any) -> list[bytes]:
    cursor.execute(
        "WITH changed AS (DELETE FROM student_courses WHERE student_id = %s AND course_id = %s "
        f"RETURNING *), recorded AS ({record('dropped')}) SELECT 1 FROM changed",
        (student_id, course_id),
    )
    if cursor.fetchone() is None:
        return _problem(start_response, 404, "not-enrolled", "Not enrolled.")
    return _respond(start_response, "204 No Content")


def courses(
    cursor: Any, query: dict[str, list[str]], limit: int, offset: int, start_response: Any
) -> list[bytes]:
    where, params = "", []
    if "term_id" in query:  # ?term_id=…&has_seats=true: the same filters as the service's
        where = f"WHERE c.term_id = %s AND (c.capacity IS NULL OR c.capacity > {ENROLLED})"
        params = [int(query["term_id"][0])]
    cursor.execute(
        f"SELECT {COURSE_COLUMNS} FROM courses c {where} ORDER BY c.id LIMIT %s OFFSET %s",
        (*params, limit, offset),
    )
    items = [_course(record) for record in cursor.fetchall()]
    cursor.execute(f"SELECT count(*) FROM courses c {where}", params)
    total = cursor.fetchone()[0]
    return _respond(start_response, "200 OK", items, [("X-Total-Count", str(total))])


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Route the benchmark's requests; one transaction each."""
    path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    limit = int(query.get("limit", ["20"])[0])
    offset = int(query.get("offset", ["0"])[0])
    db = connection()
    try:
        with db.cursor() as cursor:
            if path == "/courses" and method == "GET":
                result = courses(cursor, query, limit, offset, start_response)
            elif (match := ENROLLMENTS.match(path)) and method == "GET":
                result = list_courses(cursor, int(match[1]), limit, offset, start_response)
            elif match and method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                result = enroll(
                    cursor, int(match[1]), environ["wsgi.input"].read(length), start_response
                )
            elif (match := ENROLLMENT.match(path)) and method == "DELETE":
                result = unenroll(cursor, int(match[1]), int(match[2]), start_response)
            else:
                start_response("404 Not Found", [("Content-Length", "0")])
                result = [b""]
        db.commit()
    except Exception:
        db.rollback()
        raise
    return result
