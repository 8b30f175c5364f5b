"""What registration reads besides courses: a student's holds
(``/students/<id>/holds``) and own credit limits (``/students/<id>/credit-limits``), and
where they stand in a term (``/students/<id>/registration``)."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from src.api import LOCATION_HEADER
from src.api.framework import Blueprint
from src.auth.access import own_student, reader
from src.schemas import (
    CreditLimitSchema,
    HoldSchema,
    RegistrationSchema,
    TermQuerySchema,
)
from src.services import holds

blp = Blueprint(
    "registration", __name__, description="Holds and credit limits: what registration checks."
)


@blp.route("/students/<id:student_id>/holds")
class Holds(MethodView):
    """A student's holds."""

    @blp.doc(operationId="listHolds")
    @blp.allow(reader, own_student)
    @blp.response(200, HoldSchema(many=True))
    @blp.problem(404, "student-not-found")
    def get(self, student_id: int) -> Any:
        """List a student's holds.

        Active holds first (newest first), then released ones. Admins, readers and the student's
        own key."""
        return holds.list_holds(student_id)

    @blp.doc(operationId="placeHold")
    @blp.admins_only
    @blp.arguments(HoldSchema)
    @blp.response(201, HoldSchema, headers=LOCATION_HEADER)
    @blp.problem(404, "student-not-found")
    def post(self, data: dict[str, Any], student_id: int) -> Any:
        """Place a hold on a student.

        A hold blocking `registration` refuses the student's enrollments (and their promotion
        from a waitlist) with `409 hold-active` until it is released; one blocking `drop`
        refuses drops and withdrawals by the student's own key. Admins only."""
        hold = holds.place_hold(student_id, data)
        location = url_for("registration.Hold", student_id=student_id, hold_id=hold["id"])
        return hold, {"Location": location}


@blp.route("/students/<id:student_id>/holds/<id:hold_id>")
class Hold(MethodView):
    """One hold."""

    @blp.doc(operationId="getHold")
    @blp.allow(reader, own_student)
    @blp.response(200, HoldSchema)
    @blp.problem(404, "student-not-found", "hold-not-found")
    def get(self, student_id: int, hold_id: int) -> Any:
        """Read a hold.

        Active or released. Admins, readers and the student's own key."""
        return holds.get_hold(student_id, hold_id)

    @blp.doc(operationId="releaseHold")
    @blp.admins_only
    @blp.response(204)
    @blp.problem(404, "student-not-found", "hold-not-found")
    def delete(self, student_id: int, hold_id: int) -> None:
        """Release a hold.

        The hold is kept, with `released_at` and `released_by`; releasing it again is `404
        hold-not-found`. Admins only."""
        holds.release_hold(student_id, hold_id)


@blp.route("/students/<id:student_id>/credit-limits")
class CreditLimits(MethodView):
    """A student's own credit limits."""

    @blp.doc(operationId="listCreditLimits")
    @blp.allow(reader, own_student)
    @blp.response(200, CreditLimitSchema(many=True))
    @blp.problem(404, "student-not-found")
    def get(self, student_id: int) -> Any:
        """List a student's own credit limits.

        One per term that has one, in term id order. Admins, readers and the student's own
        key."""
        return holds.list_credit_limits(student_id)


@blp.route("/students/<id:student_id>/credit-limits/<id:term_id>")
class CreditLimit(MethodView):
    """A student's own credit limit in one term."""

    @blp.doc(operationId="setCreditLimit")
    @blp.admins_only
    @blp.arguments(CreditLimitSchema)
    @blp.response(201, CreditLimitSchema)
    @blp.alt_response(200, schema=CreditLimitSchema, success=True, description="Changed or kept")
    @blp.problem(404, "student-not-found", "term-not-found")
    def put(self, data: dict[str, Any], student_id: int, term_id: int) -> Any:
        """Set a student's credit limit in a term.

        In place of the term's `max_credits`, for this student: `201` when new, `200` when it
        changed or was already so. Admins only."""
        limit, created = holds.set_credit_limit(student_id, term_id, data["max_credits"])
        return limit, 201 if created else 200

    @blp.doc(operationId="deleteCreditLimit")
    @blp.admins_only
    @blp.response(204)
    @blp.problem(404, "student-not-found", "credit-limit-not-found")
    def delete(self, student_id: int, term_id: int) -> None:
        """Remove a student's credit limit in a term.

        The term's `max_credits` applies to them again. Admins only."""
        holds.delete_credit_limit(student_id, term_id)


@blp.route("/students/<id:student_id>/registration")
class Registration(MethodView):
    """Where a student stands for registration in a term."""

    @blp.doc(operationId="getRegistration")
    @blp.allow(reader, own_student)
    @blp.arguments(TermQuerySchema, location="query")
    @blp.response(200, RegistrationSchema)
    @blp.problem(404, "student-not-found", "term-not-found")
    def get(self, args: dict[str, Any], student_id: int) -> Any:
        """Read a student's registration standing.

        In the term `term_id` (the default term without it): the registration window and
        whether it is open now, the credits the student takes there and their limit (their own,
        else the term's), and their active holds. Admins, readers and the student's own key."""
        return holds.registration(student_id, args.get("term_id"))
