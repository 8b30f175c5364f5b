"""Benchmark peer: Flask + Flask-SQLAlchemy ORM + marshmallow, as their docs recommend.

The benchmark's requests (but the filtered course list) with the floor's JSON and status codes, without
authentication, rate limits, logging or metrics (like the floor). Served by
gunicorn with as many sync workers as the service: ``bench.peer_flask:app``.
"""

from __future__ import annotations

import os
from datetime import UTC
from typing import Any

from flask import Flask, request
from flask_sqlalchemy import SQLAlchemy
from marshmallow import Schema, ValidationError, fields
from sqlalchemy import func, select

from bench.peer_models import Base, Course, Enrollment, Event, Student, problem


class Timestamp(fields.AwareDateTime):
    """A timestamp as the service shows it: UTC, to the millisecond."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.astimezone(UTC).isoformat(timespec="milliseconds")


db = SQLAlchemy(model_class=Base)


class CourseSchema(Schema):
    """A course as the service shows it."""

    id = fields.Integer()
    term_id = fields.Integer()
    code = fields.String()
    title = fields.String()
    description = fields.String(allow_none=True)
    credits = fields.Integer()
    capacity = fields.Integer(allow_none=True)
    waitlist_capacity = fields.Integer(allow_none=True)
    meetings = fields.List(fields.Dict())
    prerequisites = fields.List(fields.String())
    corequisites = fields.List(fields.String())
    enrolled_count = fields.Integer()
    seats_available = fields.Integer(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()


class EnrolledCourseSchema(CourseSchema):
    """A course a student is enrolled in."""

    enrolled_at = Timestamp()
    status = fields.Constant("enrolled")


class EnrollmentRequestSchema(Schema):
    """The body of an enrollment."""

    course_id = fields.Integer(required=True, strict=True)


courses_schema = CourseSchema(many=True)
enrolled_schema = EnrolledCourseSchema()
enrolled_many = EnrolledCourseSchema(many=True)
request_schema = EnrollmentRequestSchema()


def _enrolled(course: Course, enrolled_at: Any) -> dict[str, Any]:
    data = enrolled_schema.dump(course)
    data["enrolled_at"] = enrolled_schema.fields["enrolled_at"].serialize(
        "enrolled_at", {"enrolled_at": enrolled_at}
    )
    return data


def _problem(slug: str, status: int, detail: str) -> Any:
    return problem(slug, status, detail), status, {"Content-Type": "application/problem+json"}


def _page() -> tuple[int, int]:
    return request.args.get("limit", 20, type=int), request.args.get("offset", 0, type=int)


def create_app() -> Flask:
    """The peer app."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["FLOOR_DATABASE_URL"].replace(
        "postgresql://", "postgresql+psycopg2://", 1
    )
    app.json.sort_keys = False
    db.init_app(app)

    @app.get("/courses")
    def list_courses() -> Any:
        limit, offset = _page()
        page = db.session.scalars(select(Course).order_by(Course.id).limit(limit).offset(offset))
        total = db.session.scalar(select(func.count()).select_from(Course))
        return courses_schema.dump(page.all()), {"X-Total-Count": str(total)}

    @app.get("/students/<int:student_id>/courses")
    def student_courses(student_id: int) -> Any:
        if db.session.get(Student, student_id) is None:
            return _problem("student-not-found", 404, f"Student {student_id} does not exist.")
        limit, offset = _page()
        total = db.session.scalar(
            select(func.count()).select_from(Enrollment).where(Enrollment.student_id == student_id)
        )
        rows = db.session.execute(
            select(Course, Enrollment.enrolled_at)
            .join(Enrollment, Enrollment.course_id == Course.id)
            .where(Enrollment.student_id == student_id)
            .order_by(Enrollment.enrolled_at, Enrollment.course_id)
            .limit(limit)
            .offset(offset)
        ).all()
        return [_enrolled(course, at) for course, at in rows], {"X-Total-Count": str(total)}

    @app.post("/students/<int:student_id>/courses")
    def enroll(student_id: int) -> Any:
        try:
            course_id = request_schema.load(request.get_json(silent=True) or {})["course_id"]
        except ValidationError:
            return _problem("validation-error", 422, "course_id must be an integer.")
        course = db.session.get(Course, course_id, with_for_update={"key_share": True})
        if course is None:
            return _problem("course-not-found", 404, f"Course {course_id} does not exist.")
        if db.session.get(Student, student_id) is None:
            return _problem("student-not-found", 404, f"Student {student_id} does not exist.")
        if db.session.get(Enrollment, (student_id, course_id)) is not None:
            return _problem("already-enrolled", 409, "Already enrolled.")
        if course.capacity is not None:
            taken = db.session.scalar(
                select(func.count())
                .select_from(Enrollment)
                .where(Enrollment.course_id == course_id)
            )
            if taken >= course.capacity:
                return _problem("course-full", 409, f"Course {course_id} is full.")
        enrollment = Enrollment(student_id=student_id, course_id=course_id)
        db.session.add(enrollment)
        db.session.add(
            Event(
                type="enrolled",
                student_id=student_id,
                course_id=course_id,
                term_id=course.term_id,
                actor_kind="system",
            )
        )
        db.session.flush()  # enrolled_at comes back with the INSERT (RETURNING)
        db.session.refresh(course, ["enrolled_count"])  # counting the new enrollment
        body = _enrolled(course, enrollment.enrolled_at)
        db.session.commit()
        return body, 201, {"Location": f"/students/{student_id}/courses/{course_id}"}

    @app.delete("/students/<int:student_id>/courses/<int:course_id>")
    def unenroll(student_id: int, course_id: int) -> Any:
        enrollment = db.session.get(Enrollment, (student_id, course_id))
        if enrollment is None:
            return _problem("not-enrolled", 404, "Not enrolled.")
        db.session.delete(enrollment)
        term_id = db.session.scalar(select(Course.term_id).where(Course.id == course_id))
        db.session.add(
            Event(
                type="dropped",
                student_id=student_id,
                course_id=course_id,
                term_id=term_id,
                actor_kind="system",
            )
        )
        db.session.commit()
        return "", 204

    return app


app = create_app()
