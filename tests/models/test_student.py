"""The Student model against the migrated schema."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy.exc import IntegrityError

from src.database import db
from src.models import Student


def test_timestamps_are_set_by_the_database_in_utc(app):
    student = Student(first_name="Ada", last_name="Lovelace", email="ada@example.edu")
    db.session.add(student)
    db.session.commit()

    assert student.created_at.tzinfo is not None
    assert student.created_at.utcoffset() == UTC.utcoffset(None)
    assert student.updated_at >= student.created_at


def test_email_is_unique_without_regard_to_case(app):
    db.session.add(Student(first_name="A", last_name="B", email="Ada@Example.edu"))
    db.session.commit()
    db.session.add(Student(first_name="C", last_name="D", email="ada@example.EDU"))

    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
