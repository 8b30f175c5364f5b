"""``/terms``: the terms courses are offered in, and which one is the default."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from src.api import LIST_HEADERS, LOCATION_HEADER, link
from src.api.fast import RowShape, page_response
from src.api.framework import Blueprint
from src.auth.access import any_instructor, any_student, reader
from src.schemas import PaginationSchema, TermSchema, term_schema, term_update_schema
from src.services import TERM_COLUMNS, terms

blp = Blueprint("terms", __name__, description="Terms: when courses are offered.")
TERM_ROW = RowShape(TermSchema(), TERM_COLUMNS)

NEW_TERM_ID = "$response.body#/id"
#: What a created term leads to: itself, and the courses offered in it.
TERM_LINKS = {
    "GetTerm": link("getTerm", term_id=NEW_TERM_ID),
    "UpdateTerm": link("updateTerm", term_id=NEW_TERM_ID),
    "DeleteTerm": link("deleteTerm", term_id=NEW_TERM_ID),
    "CreateCourseInTerm": link("createCourse", requestBody={"term_id": NEW_TERM_ID}),
}


@blp.route("/terms")
class Terms(MethodView):
    """The collection of terms."""

    @blp.doc(operationId="listTerms")
    @blp.allow(reader, any_student, any_instructor)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(200, TermSchema(many=True), headers=LIST_HEADERS)
    def get(self, args: dict[str, Any]) -> Any:
        """List terms.

        Earliest start first (then by id), a page at a time. Every key may read them."""
        return page_response(terms.list_terms(args["limit"], args["offset"]), TERM_ROW)

    @blp.doc(operationId="createTerm")
    @blp.admins_only
    @blp.arguments(term_schema)
    @blp.response(201, TermSchema, headers=LOCATION_HEADER)
    @blp.doc(responses={201: {"links": TERM_LINKS}})
    @blp.problem(409, "term-code-taken")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a term.

        The code must be unused in any case (`409 term-code-taken`); `starts_on <= ends_on`, and
        the registration instants given must come in order (`422` naming the field). Admins
        only."""
        term = terms.create_term(data)
        return term, {"Location": url_for("terms.Term", term_id=term["id"])}


@blp.route("/terms/<id:term_id>")
@blp.etag
class Term(MethodView):
    """One term."""

    @blp.doc(operationId="getTerm")
    @blp.allow(reader, any_student, any_instructor)
    @blp.response(200, TermSchema)
    @blp.problem(404, "term-not-found")
    def get(self, term_id: int) -> Any:
        """Read a term.

        Carries an `ETag`; `If-None-Match` with it answers `304` without a body. Every key may
        read a term."""
        return terms.get_term(term_id)

    @blp.doc(operationId="updateTerm")
    @blp.admins_only
    @blp.arguments(term_update_schema)
    @blp.response(200, TermSchema)
    @blp.problem(404, "term-not-found")
    @blp.problem(409, "term-code-taken")
    @blp.problem(412, "precondition-failed")
    def patch(self, changes: dict[str, Any], term_id: int) -> Any:
        """Change some of a term's fields, or make it the default.

        The dates are checked as they will be, with the stored ones (`422` naming the field).
        `is_default: true` moves the default mark here in one step. With `If-Match`, only if the
        term still has that ETag. Admins only."""
        return terms.update_term(term_id, changes, blp.precondition(TermSchema))

    @blp.doc(operationId="deleteTerm")
    @blp.admins_only
    @blp.response(204)
    @blp.problem(404, "term-not-found")
    @blp.problem(409, "term-has-courses", "term-is-default")
    @blp.problem(412, "precondition-failed")
    def delete(self, term_id: int) -> None:
        """Delete a term.

        Only a term without courses (`409 term-has-courses`) that is not the default (`409
        term-is-default`). With `If-Match`, only if the term still has that ETag. Admins only."""
        terms.delete_term(term_id, blp.precondition(TermSchema))
