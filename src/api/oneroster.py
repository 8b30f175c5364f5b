"""The OneRoster 1.2 Rostering service, read-only, under ``/ims/oneroster/rostering/v1p2``.

1EdTech's OpenAPI document is the contract (``tests/contract/oneroster/``): its
envelopes, field names and scopes, and its ``imsx_StatusInfo`` shape for every error.
These views are therefore plain Flask views, not in the native OpenAPI document. Only
OAuth 2.0 bearer tokens open them (``src.auth.oauth``); API keys do not.

Served so far: the school (``orgs``, ``schools``), the terms (``academicSessions``,
``terms``, ``gradingPeriods`` which are none), the classes and courses, and the nested
paths among them (``schools/{id}/terms|classes|courses``, ``terms/{id}/classes``,
``courses/{id}/classes``), with ``limit``, ``offset``, ``X-Total-Count`` and ``Link``.
``sort``, ``filter`` and ``fields`` are refused (``400``) rather than ignored until
they are built.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, g, json, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from src.api.pagination import link_header
from src.auth import access, oauth
from src.error_handling import imsx, imsx_http_error
from src.fields import MAX_INT32
from src.services import oneroster

PREFIX = "/ims/oneroster/rostering/v1p2"
#: Collections and single records accept either scope; nested paths the broader one.
CORE = [oauth.ROSTER_CORE_SCOPE, oauth.ROSTER_SCOPE]
NESTED = [oauth.ROSTER_SCOPE]
DEFAULT_LIMIT = 100
#: Larger limits are clamped to this, as the specification allows.
MAX_LIMIT = 10_000
#: Query parameters not served yet, and the imsx code minor a request using one gets.
NOT_YET = {"filter": "invalid_filter_field", "fields": "invalid_selection_field"}

blp = Blueprint("oneroster", __name__, url_prefix=PREFIX)


class ImsxError(Exception):
    """An error answered in OneRoster's ``imsx_StatusInfo`` shape, with ``headers``
    (an RFC 6750 challenge, an ``Allow``)."""

    def __init__(
        self,
        status: int,
        code_minor: str,
        description: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.code_minor = code_minor
        self.description = description
        self.headers = headers or {}


@blp.errorhandler(ImsxError)
def _imsx_error(error: ImsxError) -> Response:
    response = imsx(error.status, error.code_minor, error.description)
    response.headers.update(error.headers)
    return response


blp.register_error_handler(HTTPException, imsx_http_error)


@blp.errorhandler(OperationalError)
@blp.errorhandler(PoolTimeout)
def _database_unavailable(error: Exception) -> Response:
    current_app.logger.warning("database unavailable: %s", str(error).splitlines()[0])
    response = imsx(503, "server_busy", "The database is unavailable; try again shortly.")
    response.headers["Retry-After"] = "1"
    return response


@blp.errorhandler(Exception)
def _unexpected_error(error: Exception) -> Response:
    current_app.logger.error("unhandled exception", exc_info=error)
    return imsx(500, "internal_server_error", "The server could not complete the request.")


def requires(scopes: list[str]) -> Callable[[Any], Any]:
    """Let the view run for a valid token (found by ``access.identify``) holding one of
    ``scopes``: else ``401`` (no token, or an unknown, expired or revoked one) or ``403``
    (none of the scopes), in imsx terms."""

    def decorator(view: Any) -> Any:
        @functools.wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            token = g.get("oauth_token")
            if token is None:
                # RFC 6750 §3: an error code only when a token was sent.
                sent = request.headers.get("Authorization", "").lower().startswith("bearer ")
                challenge = 'Bearer realm="oneroster"' + (', error="invalid_token"' if sent else "")
                raise ImsxError(
                    401,
                    "unauthorisedrequest",
                    "A valid OAuth 2.0 bearer token is required.",
                    {"WWW-Authenticate": challenge},
                )
            if not oauth.has_scope(token, scopes):
                raise ImsxError(
                    403,
                    "forbidden",
                    "The token lacks the scope this needs.",
                    {
                        "WWW-Authenticate": 'Bearer realm="oneroster", '
                        f'error="insufficient_scope", scope="{" ".join(scopes)}"'
                    },
                )
            return view(*args, **kwargs)

        return access.authenticates_itself(run)

    return decorator


def _int_param(name: str, default: int, minimum: int, maximum: int = MAX_INT32) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or not minimum <= int(value) <= maximum:
        raise ImsxError(
            400, "invaliddata", f"{name} must be an integer from {minimum} to {maximum}."
        )
    return int(value)


def _page_params() -> tuple[int, int]:
    for name, code_minor in NOT_YET.items():
        if name in request.args:
            raise ImsxError(400, code_minor, f"{name} is not supported by this provider yet.")
    if "sort" in request.args or "orderBy" in request.args:
        raise ImsxError(400, "invaliddata", "sort is not supported by this provider yet.")
    # A limit above the largest is clamped, as the specification allows; an offset is
    # an int32, as the official document types it.
    limit = min(_int_param("limit", DEFAULT_LIMIT, 1, maximum=10**18), MAX_LIMIT)
    return limit, _int_param("offset", 0, 0)


def _collection(
    envelope: str, items: list[dict[str, Any]], total: int, limit: int, offset: int
) -> Response:
    response = Response(json.dumps({envelope: items}), 200, mimetype="application/json")
    response.headers["X-Total-Count"] = str(total)
    response.headers["Link"] = link_header(total, limit, offset)
    return response


def _single(envelope: str, item: dict[str, Any] | None, what: str) -> Response:
    if item is None:
        raise ImsxError(404, "unknownobject", f"No {what} has this sourcedId.")
    return Response(json.dumps({envelope: item}), 200, mimetype="application/json")


def _school_page() -> Response:
    limit, offset = _page_params()
    schools = [oneroster.school()]
    return _collection("orgs", schools[offset : offset + limit], len(schools), limit, offset)


def _school(sourced_id: str) -> Response:
    found = oneroster.school() if sourced_id == oneroster.school_sourced_id() else None
    return _single("org", found, "org")


@blp.get("/orgs")
@requires(CORE)
def get_all_orgs() -> Response:
    """The orgs: the school."""
    return _school_page()


@blp.get("/orgs/<sourced_id>")
@requires(CORE)
def get_org(sourced_id: str) -> Response:
    """One org."""
    return _school(sourced_id)


@blp.get("/schools")
@requires(CORE)
def get_all_schools() -> Response:
    """The schools: ours."""
    return _school_page()


@blp.get("/schools/<sourced_id>")
@requires(CORE)
def get_school(sourced_id: str) -> Response:
    """One school."""
    return _school(sourced_id)


def _terms_page() -> Response:
    limit, offset = _page_params()
    items, total = oneroster.terms_page(limit, offset)
    return _collection("academicSessions", items, total, limit, offset)


@blp.get("/academicSessions")
@requires(CORE)
def get_all_academic_sessions() -> Response:
    """Every academic session: the terms."""
    return _terms_page()


@blp.get("/academicSessions/<sourced_id>")
@requires(CORE)
def get_academic_session(sourced_id: str) -> Response:
    """One academic session."""
    return _single("academicSession", oneroster.term(sourced_id), "academic session")


@blp.get("/terms")
@requires(CORE)
def get_all_terms() -> Response:
    """The terms."""
    return _terms_page()


@blp.get("/terms/<sourced_id>")
@requires(CORE)
def get_term(sourced_id: str) -> Response:
    """One term."""
    return _single("academicSession", oneroster.term(sourced_id), "term")


@blp.get("/gradingPeriods")
@requires(CORE)
def get_all_grading_periods() -> Response:
    """The grading periods: none (the registrar keeps no grades)."""
    limit, offset = _page_params()
    return _collection("academicSessions", [], 0, limit, offset)


@blp.get("/gradingPeriods/<sourced_id>")
@requires(CORE)
def get_grading_period(sourced_id: str) -> Response:
    """One grading period: there are none."""
    return _single("academicSession", None, "grading period")


@blp.get("/schools/<school_id>/terms")
@requires(NESTED)
def get_terms_for_school(school_id: str) -> Response:
    """The school's terms: every term."""
    _the_school(school_id)
    return _terms_page()


def _the_school(school_id: str) -> None:
    if school_id != oneroster.school_sourced_id():
        raise ImsxError(404, "unknownobject", "No school has this sourcedId.")


def _base() -> str:
    # References are absolute URLs to this service's OneRoster paths.
    return request.host_url.rstrip("/") + PREFIX


def _classes(**scope: str) -> Response:
    limit, offset = _page_params()
    items, total = oneroster.classes_page(_base(), limit, offset, **scope)
    return _collection("classes", items, total, limit, offset)


@blp.get("/classes")
@requires(CORE)
def get_all_classes() -> Response:
    """Every class: each course offered in a term."""
    return _classes()


@blp.get("/classes/<sourced_id>")
@requires(CORE)
def get_class(sourced_id: str) -> Response:
    """One class."""
    return _single("class", oneroster.a_class_by_id(sourced_id, _base()), "class")


@blp.get("/courses")
@requires(CORE)
def get_all_courses() -> Response:
    """Every course: each course code, whatever the term."""
    return _courses_page()


def _courses_page() -> Response:
    limit, offset = _page_params()
    items, total = oneroster.courses_page(_base(), limit, offset)
    return _collection("courses", items, total, limit, offset)


@blp.get("/courses/<sourced_id>")
@requires(CORE)
def get_course(sourced_id: str) -> Response:
    """One course."""
    return _single("course", oneroster.course(sourced_id, _base()), "course")


@blp.get("/courses/<course_id>/classes")
@requires(NESTED)
def get_classes_for_course(course_id: str) -> Response:
    """A course's classes: its offerings in every term."""
    found = oneroster.course(course_id, _base())
    if found is None:
        raise ImsxError(404, "unknownobject", "No course has this sourcedId.")
    return _classes(code=found["courseCode"])


@blp.get("/terms/<term_id>/classes")
@requires(NESTED)
def get_classes_for_term(term_id: str) -> Response:
    """A term's classes."""
    if oneroster.term(term_id) is None:
        raise ImsxError(404, "unknownobject", "No term has this sourcedId.")
    return _classes(term=term_id)


@blp.get("/schools/<school_id>/classes")
@requires(NESTED)
def get_classes_for_school(school_id: str) -> Response:
    """The school's classes: every class."""
    _the_school(school_id)
    return _classes()


@blp.get("/schools/<school_id>/courses")
@requires(NESTED)
def get_courses_for_school(school_id: str) -> Response:
    """The school's courses: every course."""
    _the_school(school_id)
    return _courses_page()


@blp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@requires(CORE)
def unknown_path(unknown: str) -> Response:
    """Anything else under the service's prefix, answered in its terms (a token first):
    ``405`` for a method the read-only service has not, ``404`` for a path it has not."""
    if request.method not in ("GET", "HEAD"):
        raise ImsxError(
            405, "invaliddata", "The OneRoster service is read-only: GET only.", {"Allow": "GET"}
        )
    raise ImsxError(404, "unknownobject", "The OneRoster service has nothing at this path.")
