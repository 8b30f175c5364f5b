"""``/courses``: create, list, read, update and delete courses."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from src.api import LIST_HEADERS, LOCATION_HEADER, Blueprint, link
from src.api.pagination import paginate
from src.auth import any_student, reader
from src.extensions import db
from src.schemas import (
    CourseQuerySchema,
    CourseSchema,
    EnrolledStudentSchema,
    PaginationSchema,
    WaitingStudentSchema,
    course_schema,
    course_update_schema,
)
from src.services import courses, enrollments, waitlists

blp = Blueprint("courses", __name__, description="Courses and their rosters.")

COURSE = "/courses/{course_id}"
NEW_COURSE_ID = "$response.body#/id"
#: What a created course leads to: itself, its roster, and enrolling in it.
COURSE_LINKS = {
    "GetCourse": link(COURSE, "get", course_id=NEW_COURSE_ID),
    "UpdateCourse": link(COURSE, "patch", course_id=NEW_COURSE_ID),
    "DeleteCourse": link(COURSE, "delete", course_id=NEW_COURSE_ID),
    "GetRoster": link("/courses/{course_id}/students", "get", course_id=NEW_COURSE_ID),
    "EnrollInCourse": link(
        "/students/{student_id}/courses", "post", requestBody={"course_id": NEW_COURSE_ID}
    ),
}


@blp.route("/courses")
class Courses(MethodView):
    """The collection of courses."""

    @blp.allow(reader, any_student)
    @blp.arguments(CourseQuerySchema, location="query")
    @blp.response(200, CourseSchema(many=True), headers=LIST_HEADERS)
    def get(self, args: dict[str, Any]) -> Any:
        """List courses in id order, optionally filtered by code (any case)."""
        query, params = courses.COURSES.query(args)
        return paginate(query, args, params)

    @blp.allow()
    @blp.arguments(course_schema)
    @blp.response(201, CourseSchema, headers=LOCATION_HEADER)
    @blp.doc(responses={201: {"links": COURSE_LINKS}})
    @blp.problem(409, "course-code-taken")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a course. The code must be unused in any case."""
        course = courses.create_course(data)
        db.session.commit()
        return course, {"Location": url_for("courses.Course", course_id=course.id)}


@blp.route("/courses/<id:course_id>")
@blp.etag
class Course(MethodView):
    """One course."""

    @blp.allow(reader, any_student)
    @blp.response(200, CourseSchema)
    @blp.problem(404, "course-not-found")
    def get(self, course_id: int) -> Any:
        """Read a course; ``If-None-Match`` with its ETag answers 304."""
        return courses.get_course(course_id)

    @blp.allow()
    @blp.arguments(course_update_schema)
    @blp.response(200, CourseSchema)
    @blp.problem(404, "course-not-found")
    @blp.problem(409, "course-code-taken", "capacity-below-enrollment", "capacity-below-waitlist")
    @blp.problem(412, "precondition-failed")
    def patch(self, changes: dict[str, Any], course_id: int) -> Any:
        """Change some of a course's fields; new seats go to the first in line at once.
        With ``If-Match``, only if the course still has that ETag."""
        course = courses.update_course(course_id, changes, blp.precondition(CourseSchema))
        db.session.commit()
        return course

    @blp.allow()
    @blp.response(204)
    @blp.problem(404, "course-not-found")
    @blp.problem(409, "course-has-enrollments")
    @blp.problem(412, "precondition-failed")
    def delete(self, course_id: int) -> None:
        """Delete a course nobody is enrolled in or waiting for; with ``If-Match``, only if
        it still has that ETag."""
        courses.delete_course(course_id, blp.precondition(CourseSchema))
        db.session.commit()


@blp.route("/courses/<id:course_id>/students")
class CourseStudents(MethodView):
    """A course's roster."""

    @blp.allow(reader)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(200, EnrolledStudentSchema(many=True), headers=LIST_HEADERS)
    @blp.problem(404, "course-not-found")
    def get(self, args: dict[str, Any], course_id: int) -> Any:
        """List the students enrolled in the course, each with ``enrolled_at``, oldest first."""
        total = enrollments.count_course_enrollments(course_id)
        return paginate(enrollments.COURSE_STUDENTS, args, {"course_id": course_id}, total=total)


@blp.route("/courses/<id:course_id>/waitlist")
class CourseWaitlist(MethodView):
    """A course's waiting line."""

    @blp.allow(reader)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(200, WaitingStudentSchema(many=True), headers=LIST_HEADERS)
    @blp.problem(404, "course-not-found")
    def get(self, args: dict[str, Any], course_id: int) -> Any:
        """List the students waiting for a seat, first in line first, each with
        ``waitlist_position`` and ``waitlisted_at``."""
        total = waitlists.count_line(course_id)
        return paginate(waitlists.COURSE_LINE, args, {"course_id": course_id}, total=total)
