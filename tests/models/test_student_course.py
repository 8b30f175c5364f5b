"""The StudentCourse association object and the relationships through it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from src.database import db
from src.models import Course, Student, StudentCourse


@pytest.fixture
def student(app):
    student = Student(first_name="Ada", last_name="Lovelace", email="ada@example.edu")
    db.session.add(student)
    db.session.commit()
    return student


@pytest.fixture
def course(app):
    course = Course(code="CS101", title="Computing")
    db.session.add(course)
    db.session.commit()
    return course


def enrollment_count() -> int:
    return db.session.scalar(select(func.count()).select_from(StudentCourse))


def test_enrollment_links_both_sides(student, course):
    db.session.add(StudentCourse(student=student, course=course))
    db.session.commit()
    db.session.expunge_all()

    # Relationships load explicitly: the suite makes lazy loads raise.
    student = db.session.get(
        Student,
        student.id,
        options=[
            selectinload(Student.courses),
            selectinload(Student.enrollments).joinedload(StudentCourse.course),
        ],
    )
    assert [c.code for c in student.courses] == ["CS101"]
    assert student.enrollments[0].course.code == "CS101"
    db.session.expunge_all()
    course = db.session.get(
        Course,
        course.id,
        options=[
            selectinload(Course.students),
            selectinload(Course.enrollments).joinedload(StudentCourse.student),
        ],
    )
    assert [s.email for s in course.students] == ["ada@example.edu"]
    assert course.enrollments[0].student.email == "ada@example.edu"


def test_enrolled_at_is_set_by_the_database(student, course):
    before = datetime.now(UTC) - timedelta(seconds=2)
    enrollment = StudentCourse(student_id=student.id, course_id=course.id)
    db.session.add(enrollment)
    db.session.commit()

    assert enrollment.enrolled_at.tzinfo is not None
    assert before <= enrollment.enrolled_at <= datetime.now(UTC) + timedelta(seconds=2)


def test_a_pair_is_enrolled_once(student, course):
    student_id, course_id = student.id, course.id
    db.session.add(StudentCourse(student_id=student_id, course_id=course_id))
    db.session.commit()
    db.session.expunge_all()
    db.session.add(StudentCourse(student_id=student_id, course_id=course_id))

    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert enrollment_count() == 1


def test_deleting_a_student_deletes_their_enrollments(student, course):
    db.session.add(StudentCourse(student_id=student.id, course_id=course.id))
    db.session.commit()

    db.session.delete(student)
    db.session.commit()

    assert enrollment_count() == 0
    assert db.session.get(Course, course.id) is not None


def test_a_course_with_enrollments_cannot_be_deleted(student, course):
    db.session.add(StudentCourse(student_id=student.id, course_id=course.id))
    db.session.commit()
    db.session.expire_all()

    db.session.delete(db.session.get(Course, course.id))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert enrollment_count() == 1


def test_view_only_relationships_do_not_write(student, course):
    student_id = student.id
    db.session.expunge_all()
    student = db.session.get(Student, student_id, options=[selectinload(Student.courses)])
    student.courses.append(db.session.get(Course, course.id))
    db.session.commit()

    assert enrollment_count() == 0


def _write_then_enroll_a_missing_student(add_course):
    from src.database import Statement, current_connection, transaction
    from src.services import enrollments

    with transaction():
        add_course.run()
        course_id = Statement(select(Course.__table__.c.id)).scalar()
        try:
            enrollments.enroll(999, course_id)
        except Exception:
            # The caller's transaction is still under way, its write in it: what
            # becomes of both is the caller's choice (here: discard them).
            assert current_connection().in_transaction()
            raise


def test_a_broken_constraint_leaves_the_callers_transaction_to_the_caller(app, monkeypatch):
    """A service raises the domain error and rolls nothing back: earlier writes of the
    same unit of work are the caller's to keep (up to a savepoint) or discard."""
    from sqlalchemy import insert

    from src.database import Statement
    from src.exceptions import StudentNotFound
    from src.services import enrollments

    add_course = Statement(insert(Course.__table__).values(code="KEEP", title="Kept"))
    with app.app_context():
        # As if the student had been deleted between the lock and the insert.
        monkeypatch.setattr(
            enrollments,
            "_course_for_enrolling",
            lambda course_id, student_id: {
                "id": course_id,
                "term_id": 1,
                "capacity": None,
                "waitlist_capacity": 0,
                "enrolled_count": 0,
            },
        )
        with pytest.raises(StudentNotFound):
            _write_then_enroll_a_missing_student(add_course)
        assert db.session.scalar(select(func.count()).select_from(Course)) == 0
