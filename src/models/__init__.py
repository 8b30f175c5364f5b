"""The models; importing this package registers every table on the metadata."""

from src.models.base import Base
from src.models.course import Course
from src.models.student import Student
from src.models.student_course import StudentCourse

__all__ = ["Base", "Course", "Student", "StudentCourse"]
