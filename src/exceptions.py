"""Domain errors, raised below the HTTP layer.

``src.error_handling`` maps each class to a status and a problem type; nothing here
knows about HTTP.
"""


class DomainError(Exception):
    """Base of every rule the registrar's data enforces."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StudentNotFound(DomainError):
    """No student has the given id."""

    def __init__(self, student_id: int) -> None:
        super().__init__(f"Student {student_id} does not exist.")


class CourseNotFound(DomainError):
    """No course has the given id."""

    def __init__(self, course_id: int) -> None:
        super().__init__(f"Course {course_id} does not exist.")


class EmailTaken(DomainError):
    """Another student already has this email address (compared without regard to case)."""

    def __init__(self) -> None:
        super().__init__("Another student already has this email address.")


class CourseCodeTaken(DomainError):
    """Another course already has this code (compared without regard to case)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"Another course already has the code {code!r}.")
