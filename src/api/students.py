"""``/students``: create, list, read, update and delete students."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request, url_for
from flask.views import MethodView
from werkzeug.exceptions import Forbidden

from src import error_handling
from src.api import LIST_HEADERS, LOCATION_HEADER, calendars, link
from src.api.fast import RowShape, json_response, page_response
from src.api.framework import Blueprint
from src.api.pagination import pagination_headers
from src.auth.access import forget_student_keys, own_student, reader
from src.schemas import (
    EnrolledCourseSchema,
    EnrollmentCheckRequestSchema,
    EnrollmentCheckSchema,
    EnrollmentRequestSchema,
    EventSchema,
    OverrideSchema,
    PaginationSchema,
    RegistrationProblemSchema,
    ScheduleSchema,
    StudentCoursesQuerySchema,
    StudentQuerySchema,
    StudentSchema,
    TermQuerySchema,
    student_schema,
    student_update_schema,
)
from src.services import COURSE_COLUMNS, STUDENT_COLUMNS, enrollments, events, rules, students

blp = Blueprint("students", __name__, description="Students and their enrollments.")
#: Rows the hot paths serialise without marshmallow (src/api/fast.py).
STUDENT_ROW = RowShape(StudentSchema(), STUDENT_COLUMNS)
ENROLLED_COURSE_ROW = RowShape(
    EnrolledCourseSchema(), (*COURSE_COLUMNS, "enrolled_at"), {"status": "enrolled"}
)

NEW_STUDENT_ID = "$response.body#/id"
#: What a created student leads to, for clients and stateful testing.
STUDENT_LINKS = {
    "GetStudent": link("getStudent", student_id=NEW_STUDENT_ID),
    "UpdateStudent": link("updateStudent", student_id=NEW_STUDENT_ID),
    "DeleteStudent": link("deleteStudent", student_id=NEW_STUDENT_ID),
    "ListStudentCourses": link("listStudentCourses", student_id=NEW_STUDENT_ID),
    "GetSchedule": link("getSchedule", student_id=NEW_STUDENT_ID),
    # No link to POST .../courses from here: its course comes from the body, and a
    # link that fills only the path would say a 404 for an unknown course means the
    # new student is missing. Enrolling is linked from a created course instead.
}
#: What an enrollment leads to: the same enrollment, and the course's roster.
ENROLLMENT_LINKS = {
    "GetEnrollment": link(
        "getEnrollment", student_id="$request.path.student_id", course_id="$response.body#/id"
    ),
    "UnenrollStudent": link(
        "unenrollStudent", student_id="$request.path.student_id", course_id="$response.body#/id"
    ),
    "EnrollAgain": link(
        "ensureEnrollment", student_id="$request.path.student_id", course_id="$response.body#/id"
    ),
    "GetRoster": link("getRoster", course_id="$response.body#/id"),
}


@blp.route("/students")
class Students(MethodView):
    """The collection of students."""

    @blp.doc(operationId="listStudents")
    @blp.allow(reader)
    @blp.arguments(StudentQuerySchema, location="query")
    @blp.response(200, StudentSchema(many=True), headers=LIST_HEADERS)
    def get(self, args: dict[str, Any]) -> Any:
        """List students.

        A page at a time, in id order or by `sort`. `email` finds one student by address, `q`
        those with the text in a name or the email (any case for both). Admins and readers."""
        limit, offset, sort = args.pop("limit"), args.pop("offset"), args.pop("sort", None)
        page = students.list_students(limit, offset, args, sort)
        return page_response(page, STUDENT_ROW)

    @blp.doc(operationId="createStudent")
    @blp.admins_only
    @blp.arguments(student_schema)
    @blp.response(201, StudentSchema, headers=LOCATION_HEADER)
    @blp.doc(responses={201: {"links": STUDENT_LINKS}})
    @blp.problem(409, "email-taken")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a student.

        The email must be unused in any case (`409 email-taken`); unknown or read-only fields are
        `422`. Admins only."""
        student = students.create_student(data)
        return student, {"Location": url_for("students.Student", student_id=student["id"])}


@blp.route("/students/<id:student_id>")
@blp.etag
class Student(MethodView):
    """One student."""

    @blp.doc(operationId="getStudent")
    @blp.allow(reader, own_student)
    @blp.response(200, StudentSchema)
    @blp.problem(404, "student-not-found")
    def get(self, student_id: int) -> Any:
        """Read a student.

        Carries an `ETag`; `If-None-Match` with it answers `304` without a body. Admins, readers
        and the student's own key."""
        return students.get_student(student_id)

    @blp.doc(operationId="updateStudent")
    @blp.admins_only
    @blp.arguments(student_update_schema)
    @blp.response(200, StudentSchema)
    @blp.problem(404, "student-not-found")
    @blp.problem(409, "email-taken")
    @blp.problem(412, "precondition-failed")
    def patch(self, changes: dict[str, Any], student_id: int) -> Any:
        """Change some of a student's fields.

        With `If-Match`, only if the student still has that ETag (else `412`, nothing changed).
        The email must stay unique in any case. Admins only."""
        return students.update_student(student_id, changes, blp.precondition(StudentSchema))

    @blp.doc(operationId="deleteStudent")
    @blp.admins_only
    @blp.response(204)
    @blp.problem(404, "student-not-found")
    @blp.problem(409, "student-busy")
    @blp.problem(412, "precondition-failed")
    def delete(self, student_id: int) -> None:
        """Delete a student.

        Their seats go to the first in line, and each enrollment and place in line is recorded as
        left (reason `student-deleted`). With `If-Match`, only if the student still has that
        ETag. Admins only."""
        students.delete_student(student_id, blp.precondition(StudentSchema))
        forget_student_keys(student_id)


def _enrollment_request(data: dict[str, Any], **how: bool) -> enrollments.Request:
    """The enrollment this caller asks for: the registration window binds the student's
    own key, and only admins may override rules (``403`` for anyone else)."""
    role = g.principal.role
    if "override" in data and role != "admin":
        raise Forbidden("Only admin keys may override registration rules.")
    overrides = tuple(data.get("override", ()))
    return enrollments.Request(
        window=role == "student", overrides=overrides, reason=data.get("reason"), **how
    )


def _enrollment_location(student_id: int, course_id: int) -> dict[str, str]:
    url = url_for("students.StudentCourse", student_id=student_id, course_id=course_id)
    return {"Location": url}


@blp.route("/students/<id:student_id>/courses")
class StudentCourses(MethodView):
    """The courses a student is enrolled in."""

    @blp.doc(operationId="listStudentCourses")
    @blp.allow(reader, own_student)
    @blp.arguments(StudentCoursesQuerySchema, location="query")
    @blp.response(200, EnrolledCourseSchema(many=True), headers=LIST_HEADERS)
    @blp.problem(404, "student-not-found")
    def get(self, args: dict[str, Any], student_id: int) -> Any:
        """List a student's courses.

        `status=enrolled` (default): the courses the student is enrolled in, with `enrolled_at`,
        oldest first; `waitlisted`: the courses they wait for, with `waitlist_position`, in
        joining order; `withdrawn`: the courses they withdrew from after the drop deadline, with
        `withdrawn_at`, oldest withdrawal first; `all`: every one, in that order. `term_id` keeps
        the courses of one term.
        Admins, readers and the student's own key."""
        page = enrollments.student_courses(
            student_id, args["status"], args["limit"], args["offset"], args.get("term_id")
        )
        if args["status"] == "enrolled":
            return page_response(page, ENROLLED_COURSE_ROW)
        return page.mappings(), pagination_headers(page)

    @blp.doc(operationId="enrollStudent")
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
    @blp.problem(403, "forbidden")
    @blp.problem(404, "student-not-found", "course-not-found")
    @blp.problem(
        409,
        *rules.RULES,
        "waitlist-full",
        "already-enrolled",
        "already-waitlisted",
        schema=RegistrationProblemSchema,
    )
    def post(self, data: dict[str, Any], student_id: int) -> Any:
        """Enroll a student in a course.

        `201` when the registration rules allow it and the course has a free seat. When it is
        full: `409 course-full`, or with `waitlist: true` a place in its line (`202`,
        `waitlist_position`), unless it has no waitlist (`409 course-full`) or its line is full
        (`409 waitlist-full`). A refusal lists every rule broken in `errors` (the window, holds,
        prerequisites, corequisites, time conflicts, the credit limit, capacity); admins may
        `override` some, with a `reason`. `409 already-enrolled` or `already-waitlisted` for a
        student already in. Admins and the student's own key."""
        course_id = data["course_id"]
        request_ = _enrollment_request(data, waitlist=data["waitlist"])
        enrollment, outcome = enrollments.enroll(student_id, course_id, request_)
        location = _enrollment_location(student_id, course_id)
        if outcome == enrollments.CREATED:
            return json_response(ENROLLED_COURSE_ROW.from_mapping(enrollment), 201, location)
        return enrollment, 202, location


@blp.route("/students/<id:student_id>/enrollment-checks")
class EnrollmentChecks(MethodView):
    """Dry runs of enrolling."""

    @blp.doc(operationId="checkEnrollment")
    @blp.allow(own_student)
    @blp.arguments(EnrollmentCheckRequestSchema)
    @blp.response(200, EnrollmentCheckSchema)
    @blp.problem(403, "forbidden")
    @blp.problem(404, "student-not-found", "course-not-found")
    def post(self, data: dict[str, Any], student_id: int) -> Any:
        """Check an enrollment without making it.

        Whether enrolling in `course_id` would succeed now (`eligible`), every rule it would break
        (`errors`, as a refusal lists them; `already-enrolled` or `already-waitlisted` for a
        student already in), and whether only a place in the course's line is left (`waitlist`).
        Writes nothing; `override` as when enrolling. Admins and the student's own key."""
        result = enrollments.check(student_id, data["course_id"], _enrollment_request(data))
        return result | {"errors": error_handling.rule_errors(result["errors"])}


@blp.route("/students/<id:student_id>/schedule")
class StudentSchedule(MethodView):
    """A student's week in a term."""

    @blp.doc(operationId="getSchedule")
    @blp.allow(reader, own_student)
    @blp.arguments(TermQuerySchema, location="query")
    @blp.response(200, ScheduleSchema)
    @blp.doc(
        responses={
            200: {
                "content": {
                    calendars.CONTENT_TYPE: {
                        "schema": {
                            "type": "string",
                            "maxLength": 10_000_000,
                            "pattern": "^BEGIN:VCALENDAR",
                        },
                    }
                }
            }
        }
    )
    @blp.problem(404, "student-not-found", "term-not-found")
    def get(self, args: dict[str, Any], student_id: int) -> Any:
        """Read a student's schedule.

        The courses the student is enrolled in in the term `term_id` (the default term without
        it), each with its meetings. With `Accept: text/calendar`, an iCalendar file: one weekly
        event per meeting, from the term's first matching day to its last. Admins, readers and
        the student's own key."""
        schedule = enrollments.schedule(student_id, args.get("term_id"))
        wanted = request.accept_mimetypes.best_match(["application/json", calendars.CONTENT_TYPE])
        if wanted != calendars.CONTENT_TYPE:
            return schedule
        filename = f"schedule-{schedule['term']['code']}.ics"
        return Response(
            calendars.schedule_calendar(student_id, schedule),
            mimetype=calendars.CONTENT_TYPE,
            headers={"Content-Disposition": f'inline; filename="{filename}"'},
        )


@blp.route("/students/<id:student_id>/courses/<id:course_id>")
class StudentCourse(MethodView):
    """One enrollment: a student in a course."""

    @blp.doc(operationId="getEnrollment")
    @blp.allow(reader, own_student)
    @blp.response(200, EnrolledCourseSchema)
    @blp.problem(404, "student-not-found", "course-not-found", "not-enrolled")
    def get(self, student_id: int, course_id: int) -> Any:
        """Read one enrollment.

        The course with `status`: `enrolled` (with `enrolled_at`) or `waitlisted` (with
        `waitlist_position` and `waitlisted_at`); `404 not-enrolled` when neither. Admins,
        readers and the student's own key."""
        return enrollments.get_enrollment(student_id, course_id)

    @blp.doc(operationId="ensureEnrollment")
    @blp.allow(own_student)
    @blp.arguments(OverrideSchema, required=False)
    @blp.response(201, EnrolledCourseSchema, headers=LOCATION_HEADER)
    @blp.doc(responses={201: {"links": ENROLLMENT_LINKS}})
    @blp.alt_response(
        200, schema=EnrolledCourseSchema, success=True, description="Already enrolled"
    )
    @blp.problem(403, "forbidden")
    @blp.problem(404, "student-not-found", "course-not-found")
    @blp.problem(409, *rules.RULES, "already-waitlisted", schema=RegistrationProblemSchema)
    def put(self, data: dict[str, Any], student_id: int, course_id: int) -> Any:
        """Enroll idempotently.

        `201` when this enrolls the student, `200` with the same body when they already are; safe
        to retry. The registration rules apply as to `POST` (with the same `override` and
        `reason`, in an optional body). Never joins a waitlist: `409 course-full` when full, `409
        already-waitlisted` for a student in the line. Admins and the student's own key."""
        request_ = _enrollment_request(data, idempotent=True)
        enrollment, outcome = enrollments.enroll(student_id, course_id, request_)
        if outcome == enrollments.CREATED:
            return enrollment, _enrollment_location(student_id, course_id)
        return enrollment, 200

    @blp.doc(operationId="unenrollStudent")
    @blp.allow(own_student)
    @blp.response(204)
    @blp.problem(404, "student-not-found", "course-not-found", "not-enrolled")
    @blp.problem(409, "hold-active", "withdraw-deadline-passed", schema=RegistrationProblemSchema)
    def delete(self, student_id: int, course_id: int) -> None:
        """Drop or withdraw from a course, or leave its waitlist.

        Before the term's `drop_deadline` (or without one) the enrollment is dropped (event
        `dropped`); after it, withdrawn (event `withdrawn`): the course stays in
        `?status=withdrawn` with `withdrawn_at`. After `withdraw_deadline` the student's own key
        gets `409 withdraw-deadline-passed`; admins withdraw at any time. The seat goes to the
        first in line who passes the registration rules, in the same transaction; leaving the
        line (never bound by the deadlines) moves everyone behind up. `404 not-enrolled` when the
        student is neither enrolled nor waiting; `409 hold-active` for the student's own key
        while a hold blocks drops. Admins and the student's own key."""
        enrollments.unenroll(student_id, course_id, by_student=g.principal.role == "student")


@blp.route("/students/<id:student_id>/courses/<id:course_id>/history")
class EnrollmentHistory(MethodView):
    """Every change of one enrollment."""

    @blp.doc(operationId="getEnrollmentHistory")
    @blp.allow(reader, own_student)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(200, EventSchema(many=True), headers=LIST_HEADERS)
    @blp.problem(404, "student-not-found", "course-not-found")
    def get(self, args: dict[str, Any], student_id: int, course_id: int) -> Any:
        """List one enrollment's history.

        Every event of the pair, oldest first, paginated; it keeps answering after the student
        dropped the course, and is empty for a pair that never had an event. Admins, readers and
        the student's own key."""
        page = events.history(student_id, course_id, args["limit"], args["offset"])
        return [events.as_event(row) for row in page.mappings()], pagination_headers(page)
