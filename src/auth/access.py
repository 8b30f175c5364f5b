"""Authorization that denies by default: the marks views carry, and the hooks.

Every request to a view not marked :func:`public` needs ``Authorization: Bearer <key>``,
but views that authenticate their callers themselves (:func:`authenticates_itself`: the
OAuth token endpoint, where clients present their id and secret, and the OneRoster
paths, which take OAuth bearer tokens); the rate limit counts those per OAuth client
when a valid token is sent, else per address.
Each view method states who besides an admin may call it (``Blueprint.allow``);
a view that states nothing is for admins only. The hooks run in this order:
:func:`identify` (who is calling; nothing refused yet, so the rate limiter can count
by key), the rate limit, then :func:`enforce`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import bindparam, exists, select
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from src.auth import oauth
from src.auth.caches import FailedLookups, VerifiedKeys
from src.auth.keys import Principal, authenticate, key_hash
from src.database import Statement
from src.endpoints import current_handler
from src.models import CourseInstructor

#: flask-smorest's own endpoints for the document and the docs page, which carry no
#: mark of ours; every other public view is marked with :func:`public`.
FRAMEWORK_PUBLIC_ENDPOINTS = frozenset({"api-docs.openapi_json", "api-docs.openapi_swagger_ui"})


#: A grant decides whether a non-admin principal may call a view with these arguments.
Grant = Callable[[Principal, Mapping[str, Any]], bool]


def reader(principal: Principal, _args: Mapping[str, Any]) -> bool:
    """Reader keys (read-only access to everything)."""
    return principal.role == "reader"


def any_student(principal: Principal, _args: Mapping[str, Any]) -> bool:
    """Any student key."""
    return principal.role == "student"


def own_student(principal: Principal, args: Mapping[str, Any]) -> bool:
    """A student key, on its own student's resources only."""
    return principal.role == "student" and args.get("student_id") == principal.student_id


def any_instructor(principal: Principal, _args: Mapping[str, Any]) -> bool:
    """Any instructor key."""
    return principal.role == "instructor"


def own_instructor(principal: Principal, args: Mapping[str, Any]) -> bool:
    """An instructor key, on its own instructor's resources only."""
    return principal.role == "instructor" and args.get("instructor_id") == principal.instructor_id


_assignments = CourseInstructor.__table__
_TEACHES = Statement(
    select(
        exists().where(
            _assignments.c.instructor_id == bindparam("instructor_id"),
            _assignments.c.course_id == bindparam("course_id"),
        )
    )
)


def assigned_instructor(principal: Principal, args: Mapping[str, Any]) -> bool:
    """An instructor key, on the courses its instructor teaches (one lookup, only for
    instructor keys)."""
    if principal.role != "instructor":
        return False
    params = {"instructor_id": principal.instructor_id, "course_id": args["course_id"]}
    return bool(_TEACHES.scalar(params))


def forget_instructor_keys(instructor_id: int) -> None:
    """After an instructor's deletion commits: stop trusting their keys in this process
    (other processes stop within ``caches.KEY_CACHE_SECONDS``)."""
    current_app.extensions["registrar.verified_keys"].forget_instructor(instructor_id)


def forget_student_keys(student_id: int) -> None:
    """After a student's deletion commits: stop trusting their keys in this process
    (other processes stop within ``caches.KEY_CACHE_SECONDS``)."""
    current_app.extensions["registrar.verified_keys"].forget_student(student_id)


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def is_public() -> bool:
    """Whether the current request needs no key: a view marked :func:`public`, or a CORS
    preflight (browsers send those without credentials; they read nothing)."""
    # Asked by three hooks per request: identify finds the view once and keeps the answer.
    known = g.get("is_public")
    return _public_request() if known is None else known


def _public_request() -> bool:
    req = request._get_current_object()  # type: ignore[attr-defined]
    return (
        req.method == "OPTIONS"
        or req.endpoint in FRAMEWORK_PUBLIC_ENDPOINTS
        or bool(getattr(current_handler(), "public", False))
    )


def identify() -> None:
    """First hook: find out who is calling (``g.principal``), without refusing yet, so
    the rate limiter can count by key, or by address when there is none."""
    # The request's objects once: each use of the `g` and `request` proxies is a lookup.
    ctx = g._get_current_object()
    ctx.principal = None
    ctx.oauth_token = None
    ctx.token_given = False
    ctx.is_public = _public_request()
    ctx.own_authentication = not ctx.is_public and bool(
        getattr(current_handler(), "authenticates_itself", False)
    )
    if ctx.own_authentication:
        # An OAuth client's bearer token (the OneRoster paths), looked up once: the
        # rate limit counts by its client, and the view checks its scopes.
        ctx.oauth_token = oauth.bearer_token()
        return
    if ctx.is_public:
        return
    token = _bearer_token()
    if token is None:
        return
    ctx.token_given = True
    digest = key_hash(token)  # once: the cache, the failed-lookup memory and the lookup share it
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    verified: VerifiedKeys = app.extensions["registrar.verified_keys"]
    ctx.principal = verified.get(digest)
    if ctx.principal is not None:
        return
    lookups: FailedLookups = app.extensions["registrar.failed_lookups"]
    address = request.remote_addr
    if lookups.should_skip(digest, address):
        return
    ctx.principal = authenticate(token, digest)
    lookups.record(digest, address, valid=ctx.principal is not None)
    if ctx.principal is not None:
        verified.put(digest, ctx.principal)


def _grants_for_request() -> tuple[Grant, ...]:
    return getattr(current_handler(), "access_grants", ())


def enforce() -> None:
    """Last hook: 401 without a valid key, 403 unless the view grants this principal."""
    if is_public() or g.get("own_authentication"):
        return
    principal: Principal | None = g.principal
    if principal is None:
        challenge = WWWAuthenticate("bearer", {"realm": "registrar"})
        if g.token_given:
            challenge["error"] = "invalid_token"
        raise Unauthorized(
            "A valid API key is required: Authorization: Bearer <key>.", www_authenticate=challenge
        )
    if request.routing_exception is not None:
        return  # an unknown route or method: 404 or 405, for authenticated callers only
    if principal.role == "admin":
        return
    args = request.view_args or {}
    if not any(grant(principal, args) for grant in _grants_for_request()):
        raise Forbidden("This API key may not do that.")


def rate_limit_key() -> str:
    """Rate limits count per API key or OAuth client, or per client address without a
    valid key or token."""
    principal: Principal | None = g.get("principal")
    if principal is not None:
        return f"key:{principal.prefix}"
    token = g.get("oauth_token")
    if token is not None:
        return f"client:{token.client_id}"
    return f"addr:{request.remote_addr}"


def allow(*grants: Grant) -> Callable[[Any], Any]:
    """Mark a view as callable by admins and by principals any of ``grants`` accepts."""
    if not grants:
        raise TypeError("allow() needs a grant; a view for admins alone is admins_only")

    def decorator(view: Any) -> Any:
        view.access_grants = grants
        return view

    return decorator


def admins_only(view: Any) -> Any:
    """Mark a view as callable by admins alone (what an unmarked view is, too)."""
    view.access_grants = ()
    return view


def authenticates_itself(view: Any) -> Any:
    """Mark a view that authenticates its callers itself, with no API key (the OAuth
    token endpoint; the OneRoster paths); it is rate limited all the same."""
    view.authenticates_itself = True
    return view


def public(view: Any) -> Any:
    """Mark a view as callable without a key (health checks, the docs' files)."""
    view.public = True
    return view


def init_app(app: Flask) -> None:
    """Give ``app`` its per-process key caches (see ``src.auth.caches``)."""
    app.extensions["registrar.failed_lookups"] = FailedLookups()
    app.extensions["registrar.verified_keys"] = VerifiedKeys()
