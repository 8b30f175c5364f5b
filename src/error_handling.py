"""Every error the service answers with, in one JSON shape: RFC 9457 problem details.

HTTP errors (404, 405, 413, 415, malformed JSON), validation errors (422), domain
errors from ``src.exceptions`` and database errors all end here, and nothing internal
(tracebacks, SQL, class names) reaches the client. A failed request changes nothing:
the operation's transaction rolled back as the error left it (``src.database``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, json
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError

from src import exceptions as exc
from src.database.connections import pooler_hint
from src.endpoints import current_handler
from src.ratelimit import seconds_until_reset

PROBLEM_CONTENT_TYPE = "application/problem+json"
#: Problem ``type`` URIs are this prefix followed by the slug.
PROBLEM_TYPE_PREFIX = "/problems/"


@dataclass(frozen=True)
class ProblemKind:
    """How one kind of error is answered."""

    status: int
    slug: str
    title: str


#: The domain errors and how they are answered; the README's error table mirrors it.
DOMAIN_ERRORS: dict[type[exc.DomainError], ProblemKind] = {
    exc.StudentNotFound: ProblemKind(404, "student-not-found", "Student not found"),
    exc.CourseNotFound: ProblemKind(404, "course-not-found", "Course not found"),
    exc.EmailTaken: ProblemKind(409, "email-taken", "Email address already in use"),
    exc.CourseCodeTaken: ProblemKind(409, "course-code-taken", "Course code already in use"),
    exc.AlreadyEnrolled: ProblemKind(409, "already-enrolled", "Already enrolled"),
    exc.CourseFull: ProblemKind(409, "course-full", "Course is full"),
    exc.NotEnrolled: ProblemKind(404, "not-enrolled", "Not enrolled"),
    exc.WithdrawDeadlinePassed: ProblemKind(
        409, "withdraw-deadline-passed", "Withdraw deadline passed"
    ),
    exc.CourseHasEnrollments: ProblemKind(409, "course-has-enrollments", "Course has enrollments"),
    exc.CapacityBelowEnrollment: ProblemKind(
        409, "capacity-below-enrollment", "Capacity below enrollment"
    ),
    exc.AlreadyWaitlisted: ProblemKind(409, "already-waitlisted", "Already on the waitlist"),
    exc.WaitlistFull: ProblemKind(409, "waitlist-full", "Waitlist is full"),
    exc.StudentBusy: ProblemKind(409, "student-busy", "Student busy"),
    exc.CapacityBelowWaitlist: ProblemKind(
        409, "capacity-below-waitlist", "Waitlist capacity below the waiting students"
    ),
    exc.CursorExpired: ProblemKind(410, "cursor-expired", "Cursor expired"),
    exc.TermNotFound: ProblemKind(404, "term-not-found", "Term not found"),
    exc.HoldNotFound: ProblemKind(404, "hold-not-found", "Hold not found"),
    exc.CreditLimitNotFound: ProblemKind(404, "credit-limit-not-found", "Credit limit not found"),
    exc.TermCodeTaken: ProblemKind(409, "term-code-taken", "Term code already in use"),
    exc.TermHasCourses: ProblemKind(409, "term-has-courses", "Term has courses"),
    exc.TermIsDefault: ProblemKind(409, "term-is-default", "Term is the default"),
    exc.InstructorNotFound: ProblemKind(404, "instructor-not-found", "Instructor not found"),
    exc.NotAssigned: ProblemKind(404, "not-assigned", "Not assigned"),
    exc.CourseHasPrimaryInstructor: ProblemKind(
        409, "course-has-primary-instructor", "Course has a primary instructor"
    ),
}

#: The registration rules' problems (``src.services.rules``), by slug, in the rules' order.
RULE_PROBLEMS: dict[str, ProblemKind] = {
    kind.slug: kind
    for kind in (
        ProblemKind(409, "registration-closed", "Registration closed"),
        ProblemKind(409, "hold-active", "Hold active"),
        ProblemKind(409, "prerequisite-missing", "Prerequisite missing"),
        ProblemKind(409, "corequisite-missing", "Corequisite missing"),
        ProblemKind(409, "time-conflict", "Time conflict"),
        ProblemKind(409, "credit-limit-exceeded", "Credit limit exceeded"),
        DOMAIN_ERRORS[exc.CourseFull],
        DOMAIN_ERRORS[exc.WaitlistFull],
    )
}

VALIDATION_ERROR = ProblemKind(422, "validation-error", "Invalid request")
#: A list's items are invalid: ``errors`` lists them (``POST /enrollments/batch``), where a
#: validation-error's ``errors`` is an object of field → messages.
INVALID_ITEMS = ProblemKind(422, "invalid-items", "Invalid items")
BATCH_REJECTED_404 = ProblemKind(404, "batch-rejected", "Batch rejected")
BATCH_REJECTED_409 = ProblemKind(409, "batch-rejected", "Batch rejected")
MALFORMED_JSON = ProblemKind(400, "malformed-json", "Malformed JSON")
DATABASE_UNAVAILABLE = ProblemKind(503, "database-unavailable", "Database unavailable")
INTERNAL_ERROR = ProblemKind(500, "internal-error", "Internal server error")


def problem(
    kind: ProblemKind,
    detail: str,
    *,
    errors: dict[str, list[str]] | list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build a problem response of ``kind``."""
    body: dict[str, object] = {
        "type": PROBLEM_TYPE_PREFIX + kind.slug,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return Response(
        json.dumps(body), status=kind.status, headers=headers, mimetype=PROBLEM_CONTENT_TYPE
    )


def flatten_validation_messages(messages: object) -> dict[str, list[str]]:
    """Turn webargs' ``{location: {field: [msg]}}`` into ``{field: [msg]}``.

    Nested messages (an item of a list, a field of an object) are joined into a dotted
    path; schema-level messages (a body that is not an object) are keyed ``_schema``.
    """
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            flat.setdefault(prefix or "_schema", []).extend(value)
        else:
            flat.setdefault(prefix or "_schema", []).append(str(value))

    if isinstance(messages, dict):
        # The first level is the location (json, query, ...), which clients do not need.
        for location_messages in messages.values():
            walk("", location_messages)
    else:
        walk("", messages)
    return flat


def _itemized_field() -> str | None:
    """The list field whose items this view reports errors for one by one, if any
    (``Blueprint.itemized``)."""
    return getattr(current_handler(), "itemized_errors", None)


def itemize_validation_messages(messages: object, field: str) -> list[dict[str, Any]]:
    """Turn webargs' messages for a list ``field`` into one error per bad item:
    ``{"index", "type": "validation-error", "detail"}``; an error of the whole body
    or list has ``index`` null."""
    items: list[dict[str, Any]] = []
    kind = PROBLEM_TYPE_PREFIX + VALIDATION_ERROR.slug
    for name, texts in flatten_validation_messages(messages).items():
        index: int | None = None
        detail_field = name
        parts = name.split(".")
        if len(parts) >= 2 and parts[0] == field and parts[1].isdigit():
            index = int(parts[1])
            detail_field = ".".join(parts[2:])
        for text in texts:
            detail = f"{detail_field}: {text}" if detail_field else text
            items.append({"index": index, "type": kind, "detail": detail})
    return sorted(items, key=lambda item: (item["index"] is not None, item["index"] or 0))


def handle_batch_rejected(error: exc.BatchRejected) -> Response:
    """Answer a rejected batch: the most severe status, and every failing pair."""
    kind = BATCH_REJECTED_404 if error.status == 404 else BATCH_REJECTED_409
    items = [
        {"index": e.index, "type": PROBLEM_TYPE_PREFIX + e.type, "detail": e.detail}
        for e in error.errors
    ]
    return problem(kind, error.detail, errors=items)


def rule_errors(failures: list[exc.RuleFailure]) -> list[dict[str, Any]]:
    """Broken registration rules as a refusal (and a dry run) lists them."""
    return [
        {"type": PROBLEM_TYPE_PREFIX + f.slug, "detail": f.detail, **f.fields} for f in failures
    ]


def handle_registration_refused(error: exc.RegistrationRefused) -> Response:
    """Answer a refused enrollment: the first broken rule's problem, and every rule."""
    kind = RULE_PROBLEMS[error.failures[0].slug]
    return problem(kind, error.detail, errors=rule_errors(error.failures))


#: HTTP errors in this service's words, by status: slug, title, and the detail given
#: when the error carries none of ours (werkzeug's stock texts never reach a client).
HTTP_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("bad-request", "Bad request", "The request could not be read."),
    401: ("unauthorized", "Unauthorized", "A valid API key is required."),
    403: ("forbidden", "Forbidden", "This API key may not do that."),
    404: (
        "not-found",
        "Not found",
        "Nothing is at this URL (ids are integers from 1 to 2147483647, without leading zeros).",
    ),
    405: (
        "method-not-allowed",
        "Method not allowed",
        "This URL does not take this method; the Allow header lists those it takes.",
    ),
    406: ("not-acceptable", "Not acceptable", "This URL answers in application/json only."),
    408: ("request-timeout", "Request timeout", "The request did not arrive in time."),
    409: ("conflict", "Conflict", "The request conflicts with the resource's state."),
    410: ("gone", "Gone", "What this URL named is gone."),
    411: ("length-required", "Length required", "The request body needs a Content-Length."),
    412: (
        "precondition-failed",
        "Precondition failed",
        "The resource no longer has the ETag given in If-Match; nothing was changed.",
    ),
    413: ("request-entity-too-large", "Request body too large", "The request body is over 1 MiB."),
    414: ("request-uri-too-long", "URL too long", "The URL is over 4096 bytes."),
    415: (
        "unsupported-media-type",
        "Unsupported media type",
        "The request body must be JSON (Content-Type: application/json).",
    ),
    416: ("requested-range-not-satisfiable", "Range not satisfiable", "Ranges are not served."),
    417: ("expectation-failed", "Expectation failed", "The Expect header cannot be met."),
    422: ("unprocessable-entity", "Unprocessable request", "The request has invalid values."),
    428: ("precondition-required", "Precondition required", "This request needs If-Match."),
    429: (
        "too-many-requests",
        "Too many requests",
        "Over the rate limit; retry after Retry-After seconds.",
    ),
    431: (
        "request-header-fields-too-large",
        "Header fields too large",
        "The request has over 100 header fields, or one over 8 KiB.",
    ),
    501: ("not-implemented", "Not implemented", "This server does not do that."),
    503: ("service-unavailable", "Service unavailable", "Try again shortly."),
}


def _http_error_kind(error: HTTPException, status: int) -> tuple[ProblemKind, str]:
    """The problem kind of an HTTP error, and its detail: the error's own when we gave
    it one, else ours."""
    slug, title, detail = HTTP_ERRORS.get(
        status, ("error", "Error", "The request could not be completed.")
    )
    own = error.description if error.description != type(error).description else None
    return ProblemKind(status, slug, title), own or detail


def handle_http_exception(error: HTTPException) -> Response:
    """Answer an HTTP error (abort, routing, webargs) with a problem response."""
    if isinstance(error, InternalServerError):
        return handle_unexpected_error(error.original_exception or error)
    if error.code == 304:
        # Not an error: no body, and the tag the client already has.
        response = Response(status=304)
        if getattr(error, "etag", None):
            response.set_etag(error.etag)  # type: ignore[attr-defined]
        return response
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    # Keep headers the error carries for the client (Allow on 405, WWW-Authenticate on 401).
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    if status == 429:
        headers["Retry-After"] = str(seconds_until_reset())
    messages = data.get("messages")
    itemized = _itemized_field()
    if status == 422 and messages is not None and itemized is not None:
        return problem(
            INVALID_ITEMS,
            "The request has invalid items; see errors.",
            errors=itemize_validation_messages(messages, itemized),
            headers=headers,
        )
    if status == 422 and messages is not None:
        return problem(
            VALIDATION_ERROR,
            "The request has invalid fields or parameters; see errors.",
            errors=flatten_validation_messages(messages),
            headers=headers,
        )
    if status == 400 and messages is not None:
        return problem(MALFORMED_JSON, "The request body is not valid JSON.", headers=headers)
    kind, detail = _http_error_kind(error, status)
    return problem(kind, detail, headers=headers)


def handle_invalid_change(error: exc.InvalidChange) -> Response:
    """Values that do not fit together (or with what is stored): a validation error,
    by field, like one the schema found."""
    return problem(VALIDATION_ERROR, error.detail, errors=error.errors)


def handle_domain_error(error: exc.DomainError) -> Response:
    """Answer a domain error with the status and slug it is mapped to."""
    for cls in type(error).__mro__:
        if cls in DOMAIN_ERRORS:
            return problem(DOMAIN_ERRORS[cls], error.detail)
    return handle_unexpected_error(error)


def handle_database_unavailable(error: OperationalError | PoolTimeout) -> Response:
    """The database could not be reached, gave up on the statement, or every pooled
    connection stayed busy: a 503, not a 500."""
    reason = next(iter(str(getattr(error, "orig", None) or error).splitlines()), "")
    current_app.logger.warning("database unavailable: %s", pooler_hint(reason))
    return problem(
        DATABASE_UNAVAILABLE,
        "The database is unavailable; try again shortly.",
        headers={"Retry-After": "1"},
    )


def handle_unexpected_error(error: BaseException) -> Response:
    """Log an unexpected exception and answer 500 without revealing anything about it."""
    current_app.logger.error("unhandled exception", exc_info=error)
    return problem(INTERNAL_ERROR, "The server could not complete the request.")


# -- OneRoster's error shape ---------------------------------------------------------------

#: HTTP errors (the rate limit's 429 among them) as OneRoster's code minors name them.
IMSX_CODE_MINORS = {
    401: "unauthorisedrequest",
    403: "forbidden",
    404: "unknownobject",
    429: "server_busy",
    500: "internal_server_error",
}


def imsx(status: int, code_minor: str, description: str) -> Response:
    """An error in OneRoster's ``imsx_StatusInfo`` shape (the OneRoster paths' errors)."""
    field = {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": code_minor}
    body = {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {"imsx_codeMinorField": [field]},
    }
    return Response(json.dumps(body), status, mimetype="application/json")


def imsx_http_error(error: HTTPException) -> Response:
    """An HTTP error (a 429, a 405...) on a OneRoster path, in its shape."""
    status = error.code or 500
    code_minor = IMSX_CODE_MINORS.get(status, "invaliddata")
    response = imsx(
        status, code_minor, error.description or HTTP_ERRORS.get(status, ("", "", ""))[2]
    )
    for name, value in error.get_headers():
        if name == "Allow":
            response.headers[name] = value
    if status == 429:
        response.headers["Retry-After"] = str(seconds_until_reset())
    return response


def init_app(app: Flask) -> None:
    """Register the handlers; they replace flask-smorest's JSON error handler."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(exc.BatchRejected, handle_batch_rejected)
    app.register_error_handler(exc.RegistrationRefused, handle_registration_refused)
    app.register_error_handler(exc.InvalidChange, handle_invalid_change)
    app.register_error_handler(exc.DomainError, handle_domain_error)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(PoolTimeout, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected_error)
