"""Domain errors, raised below the HTTP layer.

``src.error_handling`` maps each class to a status and a problem type; nothing here
knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
    """Another student (or instructor) already has this email address (compared without
    regard to case)."""

    def __init__(self, who: str = "student") -> None:
        super().__init__(f"Another {who} already has this email address.")


class InstructorNotFound(DomainError):
    """No instructor has the given id."""

    def __init__(self, instructor_id: int) -> None:
        super().__init__(f"Instructor {instructor_id} does not exist.")


class CourseHasPrimaryInstructor(DomainError):
    """A course has one primary instructor at most."""

    def __init__(self, course_id: int) -> None:
        super().__init__(
            f"Course {course_id} already has a primary instructor; make them secondary first."
        )


class NotAssigned(DomainError):
    """The instructor does not teach the course."""

    def __init__(self, course_id: int, instructor_id: int) -> None:
        super().__init__(f"Instructor {instructor_id} is not assigned to course {course_id}.")


class CourseCodeTaken(DomainError):
    """Another course of the term already has this code (compared without regard to case)."""

    def __init__(self, code: str, term_code: str) -> None:
        super().__init__(f"Another course of term {term_code} already has the code {code!r}.")


class TermNotFound(DomainError):
    """No term has the given id."""

    def __init__(self, term_id: int) -> None:
        super().__init__(f"Term {term_id} does not exist.")


class TermCodeTaken(DomainError):
    """Another term already has this code (compared without regard to case)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"Another term already has the code {code!r}.")


class TermHasCourses(DomainError):
    """A term cannot be deleted while courses are offered in it."""

    def __init__(self, term_id: int) -> None:
        super().__init__(f"Term {term_id} has courses; delete or move them first.")


class TermIsDefault(DomainError):
    """The default term cannot be deleted: make another term the default first."""

    def __init__(self, term_id: int) -> None:
        super().__init__(
            f"Term {term_id} is the default term; make another term the default first."
        )


class InvalidChange(DomainError):
    """Values that are each valid but do not fit together, or with what is stored
    (a term ending before it starts): answered as a validation error, by field."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("The request has invalid fields; see errors.")
        self.errors = errors


class AlreadyEnrolled(DomainError):
    """The student is already enrolled in the course."""

    def __init__(self, student_id: int, course_id: int) -> None:
        super().__init__(f"Student {student_id} is already enrolled in course {course_id}.")


class CourseFull(DomainError):
    """The course has as many students as its capacity allows."""

    def __init__(self, course_id: int, capacity: int) -> None:
        super().__init__(f"Course {course_id} is full: its capacity is {capacity}.")


class NotEnrolled(DomainError):
    """The student is neither enrolled in the course nor waiting for it."""

    def __init__(self, student_id: int, course_id: int) -> None:
        super().__init__(f"Student {student_id} is not enrolled in course {course_id}.")


class WithdrawDeadlinePassed(DomainError):
    """A student's own key cannot leave a course after its term's withdraw deadline."""

    def __init__(self, course_id: int, deadline: datetime) -> None:
        super().__init__(
            f"The withdraw deadline of course {course_id}'s term passed at "
            f"{deadline.isoformat()}; only the registrar can withdraw the student now."
        )


class CourseHasEnrollments(DomainError):
    """A course cannot be deleted, or moved to another term, while students are
    enrolled in it, wait for it or withdrew from it."""

    def __init__(self, course_id: int, *, moving: bool = False) -> None:
        what = "moving it to another term" if moving else "deleting it"
        super().__init__(
            f"Course {course_id} has enrollments, a waitlist or withdrawals; unenroll its "
            f"students and empty its line before {what} (a course a student withdrew from "
            "stays on their record, in its term)."
        )


class CapacityBelowEnrollment(DomainError):
    """A course's capacity cannot go below the number of students already enrolled."""

    def __init__(self, capacity: int, enrolled: int) -> None:
        super().__init__(
            f"A capacity of {capacity} is below the {enrolled} students already enrolled."
        )


class AlreadyWaitlisted(DomainError):
    """The student already waits in the course's line."""

    def __init__(self, student_id: int, course_id: int) -> None:
        super().__init__(f"Student {student_id} is already on course {course_id}'s waitlist.")


class WaitlistFull(DomainError):
    """The course's line is as long as its waitlist capacity allows."""

    def __init__(self, course_id: int, waitlist_capacity: int) -> None:
        super().__init__(
            f"Course {course_id}'s waitlist is full: its waitlist capacity is {waitlist_capacity}."
        )


class CapacityBelowWaitlist(DomainError):
    """A waitlist capacity cannot go below the number of students already waiting."""

    def __init__(self, waitlist_capacity: int, waiting: int) -> None:
        super().__init__(
            f"A waitlist capacity of {waitlist_capacity} is below the {waiting} students "
            "already waiting."
        )


class CursorExpired(DomainError):
    """The feed was pruned past where the cursor had read: events it had not seen are
    gone. Resync from the lists, or read the feed again from the start, which holds
    every event that explains the current enrollments and waitlists."""

    def __init__(self) -> None:
        super().__init__(
            "The feed was pruned past this cursor: events it had not read are gone. "
            "Resync from the lists (or read the feed again from the start, without `after`)."
        )


class StudentBusy(DomainError):
    """The student's enrollments kept changing while they were being deleted."""

    def __init__(self, student_id: int) -> None:
        super().__init__(
            f"Student {student_id}'s enrollments kept changing during the delete; try again."
        )


@dataclass(frozen=True)
class PairError:
    """Why one pair of a batch failed."""

    index: int
    status: int
    type: str
    detail: str


class BatchRejected(DomainError):
    """Some pairs of a batch cannot be enrolled; nothing was written.

    ``status`` is the most severe kind among them: 404 before 409.
    """

    def __init__(self, errors: list[PairError]) -> None:
        self.errors = errors
        self.status = min(error.status for error in errors)
        failing = len(errors)
        super().__init__(
            f"{failing} of the batch's pairs cannot be enrolled; nothing was written (see errors)."
        )


class HoldNotFound(DomainError):
    """The student has no hold with this id (``active``: none that is still active)."""

    def __init__(self, student_id: int, hold_id: int, *, active: bool = False) -> None:
        which = "active hold" if active else "hold"
        super().__init__(f"Student {student_id} has no {which} {hold_id}.")


class CreditLimitNotFound(DomainError):
    """The student has no credit limit of their own in this term."""

    def __init__(self, student_id: int, term_id: int) -> None:
        super().__init__(
            f"Student {student_id} has no credit limit of their own in term {term_id}."
        )


@dataclass(frozen=True)
class RuleFailure:
    """One registration rule a request breaks (``src.services.rules``): its problem
    slug, a sentence, and the rule's own fields (``codes``, ``course_id``, ``credits``
    and ``max_credits``)."""

    slug: str
    detail: str
    fields: dict[str, object] = field(default_factory=dict)


class RegistrationRefused(DomainError):
    """An enrollment (or a place in line) breaks registration rules; nothing was
    written. ``failures`` lists every rule broken, in the rules' order: the first is
    the answer's type."""

    def __init__(self, failures: list[RuleFailure]) -> None:
        self.failures = failures
        if len(failures) == 1:
            detail = failures[0].detail
        else:
            detail = f"The request breaks {len(failures)} registration rules; see errors."
        super().__init__(detail)
