"""The registrar's REST API: students, courses and enrollments."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask_cors import CORS
from werkzeug.exceptions import RequestURITooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from src import api, cli, database, error_handling, observability
from src.api.framework import Registrar
from src.auth import access
from src.config import INSTANCE_PATH, load_config
from src.ratelimit import RateLimiter

#: Response headers scripts on an allowed origin may read.
CORS_EXPOSED_HEADERS = ["ETag", "Location", "Link", "X-Total-Count", "Retry-After", "X-Request-ID"]
#: A Redis that hangs must not hang requests: give up on it quickly and fall back.
REDIS_OPTIONS = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask app; ``config`` overrides the settings read from the environment."""
    app = Registrar(__name__, instance_path=str(INSTANCE_PATH), static_folder=None)
    app.config.from_mapping(load_config())
    if config:
        app.config.update(config)
    app.json.sort_keys = False  # keep fields in the order the schemas declare them

    if app.config["PROXY_FIX_X_FOR"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"])  # type: ignore[method-assign]

    database.init_app(app)
    # Hooks run in this order: request id, URL length, who is calling, rate limit, may they.
    observability.init_request_logging(app)
    access.init_app(app)
    app.before_request(_bound_url)
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
    error_handling.init_app(app)
    observability.init_metrics(app)
    cli.init_app(app)
    return app


#: Longest request target the API answers (path and query string, in bytes).
MAX_URL_LENGTH = 4096


def _bound_url() -> None:
    # Every URL of this API is short; a long one is abuse or a mistake. A 414 problem,
    # like every error, rather than whatever the server in front would say.
    target = request.environ.get("RAW_URI") or request.full_path
    if len(target) > MAX_URL_LENGTH:
        raise RequestURITooLarge(f"The URL is over {MAX_URL_LENGTH} bytes.")


def _security_headers(response: Response) -> Response:
    # Responses hold students' personal data: no shared or private cache may keep them.
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
