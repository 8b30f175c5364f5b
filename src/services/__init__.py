"""Domain operations: the rules that belong to the data, below the HTTP layer.

One module per resource. Each operation is a function that runs statements of the
data layer (``src.database``), defined right above it and named for it, and raises
``src.exceptions`` errors; an operation that writes runs in a ``transaction()``
of its own, which an operation calling it joins. Nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from src.models import Course

#: The columns of a course, a term, a student and an instructor that responses show, in
#: the schemas' order.
COURSE_COLUMNS = (
    "id", "term_id", "code", "title", "description", "credits", "capacity",
    "waitlist_capacity", "meetings", "prerequisites", "corequisites", "enrolled_count",
    "seats_available", "created_at", "updated_at",
)  # fmt: skip
TERM_COLUMNS = (
    "id", "code", "name", "starts_on", "ends_on", "registration_opens_at", "add_deadline",
    "drop_deadline", "withdraw_deadline", "max_credits", "is_default", "created_at",
    "updated_at",
)  # fmt: skip
STUDENT_COLUMNS = ("id", "first_name", "last_name", "email", "created_at", "updated_at")
INSTRUCTOR_COLUMNS = STUDENT_COLUMNS

_courses = Course.__table__
#: Students enrolled in the course of the row, kept by triggers (see the Course model).
enrolled_count = _courses.c.enrolled_count


def course_columns() -> list[Any]:
    """A course's columns as every response shows it: its own (``enrolled_count``
    among them), then ``seats_available`` (null without a capacity)."""
    return [*_courses.c, (_courses.c.capacity - enrolled_count).label("seats_available")]


#: Checks a resource's current state before a change (an ``If-Match``); raises to
#: refuse the change.
Precondition = Callable[[Any], None]
