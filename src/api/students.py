"""``/students``: create, list, read, update and delete students."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from src.api import LIST_HEADERS, LOCATION_HEADER, Blueprint
from src.api.pagination import paginate
from src.extensions import db
from src.schemas import (
    StudentQuerySchema,
    StudentSchema,
    student_schema,
    student_update_schema,
)
from src.services import students

blp = Blueprint("students", __name__, description="Students and their enrollments.")


@blp.route("/students")
class Students(MethodView):
    """The collection of students."""

    @blp.arguments(StudentQuerySchema, location="query")
    @blp.response(200, StudentSchema(many=True), headers=LIST_HEADERS)
    def get(self, args: dict[str, Any]) -> Any:
        """List students in id order, optionally filtered by email (any case)."""
        return paginate(students.list_students_query(args.get("email")), args)

    @blp.arguments(student_schema)
    @blp.response(201, StudentSchema, headers=LOCATION_HEADER)
    @blp.alt_response(409, response="CONFLICT", description="email-taken")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a student. The email must be unused in any case."""
        student = students.create_student(data)
        db.session.commit()
        return student, {"Location": url_for("students.Student", student_id=student.id)}


@blp.route("/students/<id:student_id>")
class Student(MethodView):
    """One student."""

    @blp.response(200, StudentSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, student_id: int) -> Any:
        """Read a student."""
        return students.get_student(student_id)

    @blp.arguments(student_update_schema)
    @blp.response(200, StudentSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def patch(self, changes: dict[str, Any], student_id: int) -> Any:
        """Change some of a student's fields."""
        student = students.update_student(student_id, changes)
        db.session.commit()
        return student

    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, student_id: int) -> None:
        """Delete a student and their enrollments."""
        students.delete_student(student_id)
        db.session.commit()
