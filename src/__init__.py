"""The registrar's REST API: students, courses and enrollments."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask_cors import CORS
from werkzeug.exceptions import RequestHeaderFieldsTooLarge, RequestURITooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from src import api, cli, database, error_handling, observability
from src.api.framework import Registrar
from src.auth import access, oauth
from src.config import INSTANCE_PATH, load_config
from src.ratelimit import RateLimiter

#: Response headers scripts on an allowed origin may read.
CORS_EXPOSED_HEADERS = [
    "ETag", "Location", "Link", "X-Total-Count", "Retry-After", "X-Request-ID",
    "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
]  # fmt: skip
#: A Redis that hangs must not hang requests: give up on it quickly and fall back.
REDIS_OPTIONS = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask app; ``config`` overrides the settings read from the environment."""
    app = Registrar(__name__, instance_path=str(INSTANCE_PATH), static_folder=None)
    app.config.from_mapping(load_config())
    if config:
        app.config.update(config)
    app.json.sort_keys = False  # keep fields in the order the schemas declare them

    if app.config["PROXY_FIX_X_FOR"] or app.config["PROXY_FIX_X_PROTO"]:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=app.config["PROXY_FIX_X_FOR"],
            x_proto=app.config["PROXY_FIX_X_PROTO"],
        )

    database.init_app(app)
    # Hooks run in this order: request id, OPTIONS, the request's size, who is calling,
    # rate limit, may they (and, in src.api, the query a view does not read).
    observability.init_request_logging(app)
    access.init_app(app)
    app.before_request(_answer_options)
    app.before_request(_bound_request)
    app.before_request(access.identify)
    app.extensions["registrar.limiter"] = RateLimiter(
        app,
        key_func=access.rate_limit_key,
        exempt_when=access.is_public,
        # A Redis that hangs must not hang requests: give up on it quickly; while it
        # cannot be reached, each process counts in its own memory (src/ratelimit.py).
        storage_options=REDIS_OPTIONS
        if app.config["RATELIMIT_STORAGE_URI"].startswith("redis")
        else {},
    )
    app.before_request(access.enforce)
    app.after_request(_security_headers)
    app.after_request(_no_body_type_without_a_body)
    if app.config["CORS_ORIGINS"]:
        CORS(
            app,
            origins=app.config["CORS_ORIGINS"],
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match"],
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )
    api.init_app(app)
    oauth.init_app(app)
    error_handling.init_app(app)
    observability.init_metrics(app)
    cli.init_app(app)
    return app


#: Longest request target the API answers (path and query string, in bytes).
MAX_URL_LENGTH = 4096
#: Most header fields a request may have, and the longest one (name and value, bytes).
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_BYTES = 8192


def _answer_options() -> Response | None:
    # The route's methods, from the route alone: the same answer for every id, with or
    # without a key, and nothing read from the database, so OPTIONS never tells whether
    # a resource exists. An unknown route is a 404 problem, as for any method. CORS
    # preflights get their headers from flask-cors, after.
    if request.method != "OPTIONS" or request.url_rule is None:
        return None
    methods = sorted(request.url_rule.methods or ())
    response = Response(status=200, headers={"Allow": ", ".join(methods)})
    response.headers.pop("Content-Type")
    return response


def _bound_request() -> None:
    # Every URL and header of this API is short; a long one is abuse or a mistake. A
    # problem, like every error, rather than whatever the server in front would say
    # (gunicorn.conf.py lets through more than these limits, so that the app answers).
    target = request.environ.get("RAW_URI") or request.full_path
    if len(target) > MAX_URL_LENGTH:
        raise RequestURITooLarge()
    # One pass over the WSGI environ, where the header fields are the HTTP_ keys and
    # the body's two (request.headers would build each field again, twice).
    fields = 0
    for key, value in request.environ.items():
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            fields += 1
            if len(key) + len(value) > MAX_HEADER_FIELD_BYTES:
                raise RequestHeaderFieldsTooLarge()
    if fields > MAX_HEADER_FIELDS:
        raise RequestHeaderFieldsTooLarge()


def _no_body_type_without_a_body(response: Response) -> Response:
    # A 204 or 304 has no body, so no body type either.
    if response.status_code in (204, 304):
        response.headers.pop("Content-Type", None)
        if not response.direct_passthrough:  # a file's 304 is empty already
            response.set_data(b"")
            response.headers.pop("Content-Length", None)
    return response


def _security_headers(response: Response) -> Response:
    # Responses hold students' personal data: no shared or private cache may keep them.
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
