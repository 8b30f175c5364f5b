"""Bulk seeding through the models."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from src.database import db
from src.models import Course, Student, StudentCourse
from src.seed import seed
from tests.conftest import empty_tables


def counts() -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Student, Course, StudentCourse)
    )


def test_seed_adds_realistic_rows_and_respects_capacity(app):
    result = seed(300, 20, 4, rng=random.Random(7))

    assert (result.students, result.courses, result.enrollments) == (300, 20, 1200)
    assert counts() == (300, 20, 1200)
    per_student = db.session.execute(
        select(func.count()).select_from(StudentCourse).group_by(StudentCourse.student_id)
    ).scalars()
    assert set(per_student) == {4}
    over = db.session.scalar(
        select(func.count())
        .select_from(Course)
        .where(
            Course.capacity.is_not(None),
            Course.capacity
            < select(func.count()).where(StudentCourse.course_id == Course.id).scalar_subquery(),
        )
    )
    assert over == 0


def test_seeding_twice_never_collides(app):
    seed(50, 5, 2)
    seed(50, 5, 2)

    assert counts() == (100, 10, 200)
    emails = db.session.scalars(select(func.lower(Student.email))).all()
    assert len(set(emails)) == 100


def _snapshot() -> tuple[list, list, list]:
    students = db.session.execute(
        select(Student.first_name, Student.last_name, Student.email).order_by(Student.id)
    ).all()
    courses = db.session.execute(
        select(Course.code, Course.title, Course.credits, Course.capacity).order_by(Course.id)
    ).all()
    pairs = db.session.execute(
        select(StudentCourse.student_id, StudentCourse.course_id).order_by(
            StudentCourse.student_id, StudentCourse.course_id
        )
    ).all()
    return students, courses, pairs


def test_the_same_random_seed_gives_the_same_data(app):
    seed(30, 6, 2, rng=random.Random(7))
    first = _snapshot()
    empty_tables()
    seed(30, 6, 2, rng=random.Random(7))
    again = _snapshot()
    empty_tables()
    seed(30, 6, 2, rng=random.Random(8))

    assert again == first
    assert _snapshot()[0] != first[0]


def test_seed_command(app):
    result = app.test_cli_runner().invoke(
        args=["seed", "--students", "40", "--courses", "8", "--per-student", "3"]
    )

    assert result.exit_code == 0, result.output
    assert "Seeded 40 students, 8 courses and 120 enrollments" in result.output


def test_more_enrollments_per_student_than_courses_is_refused(app):
    result = app.test_cli_runner().invoke(args=["seed", "--courses", "2", "--per-student", "3"])

    assert result.exit_code == 2
    with pytest.raises(ValueError, match="per-student"):
        seed(1, 1, 2)
