"""Domain operations: the rules that belong to the data, below the HTTP layer.

One module per resource. Each operation is a function that runs statements of the
data layer (``src.database``), defined right above it and named for it, and raises
``src.exceptions`` errors; an operation that writes runs in a ``transaction()``
of its own, which an operation calling it joins. Nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: The columns of a course and of a student that responses show, in the schemas' order.
COURSE_COLUMNS = (
    "id", "code", "title", "description", "credits", "capacity", "waitlist_capacity",
    "created_at", "updated_at",
)  # fmt: skip
STUDENT_COLUMNS = ("id", "first_name", "last_name", "email", "created_at", "updated_at")

#: Checks a resource's current state before a change (an ``If-Match``); raises to
#: refuse the change.
Precondition = Callable[[Any], None]
