"""The Course model against the migrated schema."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from src.database import db
from src.models import Course


def test_credits_default_to_three(app):
    course = Course(code="CS1", title="Computing")
    db.session.add(course)
    db.session.commit()

    assert course.credits == 3
    assert course.capacity is None


def test_code_is_unique_without_regard_to_case(app):
    db.session.add(Course(code="CS1", title="A"))
    db.session.commit()
    db.session.add(Course(code="cs1", title="B"))

    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize("fields", [{"credits": 31}, {"credits": -1}, {"capacity": 0}])
def test_check_constraints_guard_the_ranges(app, fields):
    db.session.add(Course(code="CS2", title="A", **fields))

    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
