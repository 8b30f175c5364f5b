"""The models; importing this package registers every table on the metadata."""

from src.models.api_key import ApiKey
from src.models.base import Base
from src.models.course import Course
from src.models.enrollment_event import EnrollmentEvent
from src.models.feed_horizon import FeedHorizon
from src.models.hold import CreditLimit, Hold
from src.models.instructor import CourseInstructor, Instructor
from src.models.oauth_client import OAuthClient, OAuthToken
from src.models.student import Student
from src.models.student_course import StudentCourse
from src.models.term import DefaultTerm, Term
from src.models.waitlist_entry import WaitlistEntry
from src.models.withdrawal import Withdrawal

__all__ = [
    "ApiKey",
    "Base",
    "Course",
    "CourseInstructor",
    "CreditLimit",
    "DefaultTerm",
    "EnrollmentEvent",
    "FeedHorizon",
    "Hold",
    "Instructor",
    "OAuthClient",
    "OAuthToken",
    "Student",
    "StudentCourse",
    "Term",
    "WaitlistEntry",
    "Withdrawal",
]
