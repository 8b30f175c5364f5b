"""``/students``: create, list, read, update and delete students."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from src.api import LIST_HEADERS, LOCATION_HEADER, Blueprint, link
from src.api.pagination import paginate
from src.auth import own_student, reader
from src.extensions import db
from src.schemas import (
    EnrolledCourseSchema,
    EnrollmentRequestSchema,
    EventSchema,
    PaginationSchema,
    StudentCoursesQuerySchema,
    StudentQuerySchema,
    StudentSchema,
    student_schema,
    student_update_schema,
)
from src.services import enrollments, events, students

blp = Blueprint("students", __name__, description="Students and their enrollments.")

STUDENT = "/students/{student_id}"
ENROLLMENTS = "/students/{student_id}/courses"
ENROLLMENT = "/students/{student_id}/courses/{course_id}"
NEW_STUDENT_ID = "$response.body#/id"
#: What a created student leads to, for clients and stateful testing.
STUDENT_LINKS = {
    "GetStudent": link(STUDENT, "get", student_id=NEW_STUDENT_ID),
    "UpdateStudent": link(STUDENT, "patch", student_id=NEW_STUDENT_ID),
    "DeleteStudent": link(STUDENT, "delete", student_id=NEW_STUDENT_ID),
    "ListStudentCourses": link(ENROLLMENTS, "get", student_id=NEW_STUDENT_ID),
    # No link to POST .../courses from here: its course comes from the body, and a
    # link that fills only the path would say a 404 for an unknown course means the
    # new student is missing. Enrolling is linked from a created course instead.
}
#: What an enrollment leads to: the same enrollment, and the course's roster.
ENROLLMENT_LINKS = {
    "GetEnrollment": link(
        ENROLLMENT, "get", student_id="$request.path.student_id", course_id="$response.body#/id"
    ),
    "UnenrollStudent": link(
        ENROLLMENT, "delete", student_id="$request.path.student_id", course_id="$response.body#/id"
    ),
    "EnrollAgain": link(
        ENROLLMENT, "put", student_id="$request.path.student_id", course_id="$response.body#/id"
    ),
    "GetRoster": link("/courses/{course_id}/students", "get", course_id="$response.body#/id"),
}


@blp.route("/students")
class Students(MethodView):
    """The collection of students."""

    @blp.allow(reader)
    @blp.arguments(StudentQuerySchema, location="query")
    @blp.response(200, StudentSchema(many=True), headers=LIST_HEADERS)
    def get(self, args: dict[str, Any]) -> Any:
        """List students in id order, optionally filtered by email (any case)."""
        query, params = students.STUDENTS.query(args)
        return paginate(query, args, params)

    @blp.allow()
    @blp.arguments(student_schema)
    @blp.response(201, StudentSchema, headers=LOCATION_HEADER)
    @blp.doc(responses={201: {"links": STUDENT_LINKS}})
    @blp.problem(409, "email-taken")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a student. The email must be unused in any case."""
        student = students.create_student(data)
        db.session.commit()
        return student, {"Location": url_for("students.Student", student_id=student.id)}


@blp.route("/students/<id:student_id>")
@blp.etag
class Student(MethodView):
    """One student."""

    @blp.allow(reader, own_student)
    @blp.response(200, StudentSchema)
    @blp.problem(404, "student-not-found")
    def get(self, student_id: int) -> Any:
        """Read a student; ``If-None-Match`` with its ETag answers 304."""
        return students.get_student(student_id)

    @blp.allow()
    @blp.arguments(student_update_schema)
    @blp.response(200, StudentSchema)
    @blp.problem(404, "student-not-found")
    @blp.problem(409, "email-taken")
    @blp.problem(412, "precondition-failed")
    def patch(self, changes: dict[str, Any], student_id: int) -> Any:
        """Change some of a student's fields; with ``If-Match``, only if it still has that ETag."""
        student = students.update_student(student_id, changes, blp.precondition(StudentSchema))
        db.session.commit()
        return student

    @blp.allow()
    @blp.response(204)
    @blp.problem(404, "student-not-found")
    @blp.problem(409, "student-busy")
    @blp.problem(412, "precondition-failed")
    def delete(self, student_id: int) -> None:
        """Delete a student: their seats go to the first in line, and each enrollment and
        place in line is recorded as left. With ``If-Match``, only if it has that ETag."""
        students.delete_student(student_id, blp.precondition(StudentSchema))
        db.session.commit()


def _enrollment_location(student_id: int, course_id: int) -> dict[str, str]:
    url = url_for("students.StudentCourse", student_id=student_id, course_id=course_id)
    return {"Location": url}


@blp.route("/students/<id:student_id>/courses")
class StudentCourses(MethodView):
    """The courses a student is enrolled in."""

    @blp.allow(reader, own_student)
    @blp.arguments(StudentCoursesQuerySchema, location="query")
    @blp.response(200, EnrolledCourseSchema(many=True), headers=LIST_HEADERS)
    @blp.problem(404, "student-not-found")
    def get(self, args: dict[str, Any], student_id: int) -> Any:
        """List the courses the student is enrolled in (``enrolled_at``, oldest first), waits
        for (``?status=waitlisted``: ``waitlist_position``, in joining order), or both."""
        query, total = enrollments.list_student_courses(student_id, args["status"])
        return paginate(query, args, {"student_id": student_id}, total=total)

    @blp.allow(own_student)
    @blp.arguments(EnrollmentRequestSchema)
    @blp.response(201, EnrolledCourseSchema, headers=LOCATION_HEADER)
    @blp.doc(responses={201: {"links": ENROLLMENT_LINKS}})
    @blp.alt_response(
        202,
        schema=EnrolledCourseSchema,
        success=True,
        headers=LOCATION_HEADER,
        description="The course is full: the student waits in its line (`waitlist: true`)",
    )
    @blp.problem(404, "student-not-found", "course-not-found")
    @blp.problem(409, "already-enrolled", "already-waitlisted", "course-full", "waitlist-full")
    def post(self, data: dict[str, Any], student_id: int) -> Any:
        """Enroll the student in a course, if it has room; with ``waitlist: true``, join the
        full course's waitlist instead of a 409 (202)."""
        course_id = data["course_id"]
        enrollment, outcome = enrollments.enroll(student_id, course_id, waitlist=data["waitlist"])
        db.session.commit()
        status = 202 if outcome == enrollments.WAITLISTED else 201
        return enrollment, status, _enrollment_location(student_id, course_id)


@blp.route("/students/<id:student_id>/courses/<id:course_id>")
class StudentCourse(MethodView):
    """One enrollment: a student in a course."""

    @blp.allow(reader, own_student)
    @blp.response(200, EnrolledCourseSchema)
    @blp.problem(404, "student-not-found", "course-not-found", "not-enrolled")
    def get(self, student_id: int, course_id: int) -> Any:
        """Read the course the student is enrolled in or waits for, with its ``status``."""
        return enrollments.get_enrollment(student_id, course_id)

    @blp.allow(own_student)
    @blp.response(201, EnrolledCourseSchema, headers=LOCATION_HEADER)
    @blp.doc(responses={201: {"links": ENROLLMENT_LINKS}})
    @blp.alt_response(
        200, schema=EnrolledCourseSchema, success=True, description="Already enrolled"
    )
    @blp.problem(404, "student-not-found", "course-not-found")
    @blp.problem(409, "course-full", "already-waitlisted")
    def put(self, student_id: int, course_id: int) -> Any:
        """Enroll idempotently: 201 when this enrolls the student, 200 when already enrolled.
        It never joins a waitlist."""
        enrollment, outcome = enrollments.enroll(student_id, course_id, idempotent=True)
        db.session.commit()
        if outcome == enrollments.CREATED:
            return enrollment, _enrollment_location(student_id, course_id)
        return enrollment, 200

    @blp.allow(own_student)
    @blp.response(204)
    @blp.problem(404, "student-not-found", "course-not-found", "not-enrolled")
    def delete(self, student_id: int, course_id: int) -> None:
        """Unenroll the student (the seat goes to the first in line), or take them out of
        the course's waitlist."""
        enrollments.unenroll(student_id, course_id)
        db.session.commit()


@blp.route("/students/<id:student_id>/courses/<id:course_id>/history")
class EnrollmentHistory(MethodView):
    """Every change of one enrollment."""

    @blp.allow(reader, own_student)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(200, EventSchema(many=True), headers=LIST_HEADERS)
    @blp.problem(404, "student-not-found", "course-not-found")
    def get(self, args: dict[str, Any], student_id: int, course_id: int) -> Any:
        """List the pair's events, oldest first; they outlive the enrollment itself."""
        total = events.count_history(student_id, course_id)
        params = {"student_id": student_id, "course_id": course_id}
        rows, headers = paginate(events.HISTORY, args, params, total=total)
        return [events.as_event(row) for row in rows], headers
