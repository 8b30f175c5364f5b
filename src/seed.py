"""Bulk demo and benchmark data, written in a few statements, in one transaction.

Rows go in with executemany batches (SQLAlchemy's "insertmanyvalues"), not one
request or statement per row, so 200,000 enrollments load in seconds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from src.database import Statement, transaction
from src.models import Course, EnrollmentEvent, Student, StudentCourse
from src.models.student import email_key
from src.services import events

FIRST_NAMES = [
    "Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances", "Grace", "Hedy",
    "Ivan", "Jean", "Ken", "Leslie", "Margaret", "Niklaus", "Radia", "Shafi", "Tim",
]  # fmt: skip
LAST_NAMES = [
    "Allen", "Backus", "Codd", "Dijkstra", "Engelbart", "Floyd", "Goldberg", "Hamilton",
    "Hopper", "Knuth", "Lamport", "Liskov", "Lovelace", "Perlman", "Ritchie", "Turing",
]  # fmt: skip
SUBJECTS = {
    "CS": "Computing", "MATH": "Mathematics", "PHYS": "Physics", "CHEM": "Chemistry",
    "BIO": "Biology", "HIST": "History", "LIT": "Literature", "ECON": "Economics",
}  # fmt: skip


@dataclass(frozen=True)
class SeedResult:
    """How many rows a seeding run added."""

    students: int
    courses: int
    enrollments: int


_courses, _students = Course.__table__, Student.__table__
_INSERT_COURSES = Statement(insert(_courses).returning(_courses.c.id, sort_by_parameter_order=True))
_INSERT_STUDENTS = Statement(
    insert(_students).returning(_students.c.id, sort_by_parameter_order=True)
)
# Many rows a statement: each statement's trigger updates the count of every course it
# touches once, and a course's row updated again and again in one transaction leaves a
# chain of versions every later update walks (1,000 rows a statement, SQLAlchemy's
# default, made seeding 1,800,000 enrollments run for over 12 minutes; 50,000: 131 s,
# of which 45 s are the triggers).
_INSERT_ENROLLMENTS = Statement(
    insert(StudentCourse.__table__).execution_options(insertmanyvalues_page_size=50_000)
)
_INSERT_EVENTS = Statement(insert(EnrollmentEvent.__table__))


def seed(
    students: int, courses: int, per_student: int, *, rng: random.Random | None = None
) -> SeedResult:
    """Add ``students`` students, ``courses`` courses and ``per_student`` enrollments each.

    Emails and codes carry a tag drawn from ``rng``, so seeding twice never collides
    unless with the same seed, which gives the same data. About one
    course in five has no capacity; the others have room for their share and half as
    much again, and no course is filled past its capacity.
    """
    if per_student > courses:
        raise ValueError("--per-student cannot exceed --courses")
    rng = rng or random.Random()  # noqa: S311 - demo data, not secrets
    # From the generator, so that one seed gives the same data: a seeded run repeated
    # into the same database collides (409s) by design; an unseeded one never does.
    tag = f"{rng.getrandbits(24):06x}"
    now = datetime.now(UTC)

    seats = math.ceil(students * per_student / max(courses, 1) * 1.5) if courses else 0
    subject_codes = list(SUBJECTS)
    course_rows = []
    for n in range(courses):
        subject = subject_codes[n % len(subject_codes)]
        course_rows.append(
            {
                "code": f"{subject}{n + 1:04d}-{tag}",
                "title": f"{SUBJECTS[subject]} {n + 1}",
                "description": f"Seeded {SUBJECTS[subject].lower()} course.",
                "credits": rng.choice((1, 2, 3, 3, 4, 5)),
                "capacity": None if rng.random() < 0.2 else max(seats, 1),
            }
        )
    with transaction():
        course_ids = _ids(_INSERT_COURSES, course_rows)

        student_rows = []
        for n in range(students):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            student_rows.append(
                {
                    "first_name": first,
                    "last_name": last,
                    "email": (email := f"{first}.{last}.{tag}.{n}@example.edu".lower()),
                    "email_key": email_key(email),
                }
            )
        student_ids = _ids(_INSERT_STUDENTS, student_rows)

        capacity = {cid: row["capacity"] for cid, row in zip(course_ids, course_rows, strict=True)}
        taken = dict.fromkeys(course_ids, 0)
        open_courses = list(course_ids)
        enrollment_rows = []
        for student_id in student_ids:
            if len(open_courses) < per_student:
                break
            for course_id in rng.sample(open_courses, per_student):
                enrollment_rows.append(
                    {
                        "student_id": student_id,
                        "course_id": course_id,
                        "enrolled_at": now - timedelta(seconds=rng.randrange(120 * 24 * 3600)),
                    }
                )
                taken[course_id] += 1
                if capacity[course_id] is not None and taken[course_id] >= capacity[course_id]:
                    open_courses.remove(course_id)
        if enrollment_rows:
            _INSERT_ENROLLMENTS.run_many(enrollment_rows)
            # Seeded enrollments are changes like any other: the feed and histories show them.
            actor = events.CLI.columns()
            event_rows = [
                {"type": "enrolled", "student_id": r["student_id"], "course_id": r["course_id"]}
                | actor
                for r in enrollment_rows
            ]
            _INSERT_EVENTS.run_many(event_rows)
    return SeedResult(len(student_ids), len(course_ids), len(enrollment_rows))


def _ids(statement: Statement, rows: list[dict]) -> list[int]:
    return [row[0] for row in statement.run_many(rows)] if rows else []
