"""The registrar's REST API: students, courses and enrollments."""

from __future__ import annotations

from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, Response, request
from flask_cors import CORS
from sqlalchemy import event
from werkzeug.exceptions import RequestURITooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from src import auth, cli, error_handling, observability
from src.config import INSTANCE_PATH, engine_options, load_config, statement_timeout_sql
from src.database import watch_for_closed_connections
from src.extensions import db
from src.ratelimit import RateLimiter


def _schema_name(schema: Any) -> str:
    # Create and partial-update instances of one schema class get distinct names in the
    # OpenAPI document (StudentUpdate has no required fields).
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    return name + "Update" if getattr(schema, "partial", False) else name


#: The OpenAPI document's ``info``, beside its title and version.
API_INFO = {
    "description": (
        "A registrar's REST API: students, courses, enrollments with a race-free capacity "
        "rule, waitlists with automatic promotion, bulk enrollment, and an exactly-once "
        "change feed. Every error is an RFC 9457 problem (`application/problem+json`); every "
        "request but the health checks needs `Authorization: Bearer <API key>`."
    ),
    "contact": {"name": "Registrar API maintainers", "email": "registrar-api@example.edu"},
    "license": {"name": "Proprietary", "url": "https://registrar.example.edu/license"},
}
#: Response headers scripts on an allowed origin may read.
CORS_EXPOSED_HEADERS = ["ETag", "Location", "Link", "X-Total-Count", "Retry-After", "X-Request-ID"]
#: A Redis that hangs must not hang requests: give up on it quickly and fall back.
REDIS_OPTIONS = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}


class Registrar(Flask):
    """Flask, remembering which functions need no async adapter.

    Flask asks ``inspect`` whether each hook and view is a coroutine function on every
    request (flask-smorest asks again for each of its wrappers): some twenty questions a
    request whose answers never change.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synced: dict[Any, Any] = {}

    def ensure_sync(self, func: Any) -> Any:
        """Flask's ``ensure_sync``, its answer kept per function."""
        try:
            return self._synced[func]
        except KeyError:
            synced = super().ensure_sync(func)
            if len(self._synced) < 10_000:  # a bound on callables made per request
                self._synced[func] = synced
            return synced
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask app; ``config`` overrides the settings read from the environment."""
    app = Registrar(__name__, instance_path=str(INSTANCE_PATH), static_folder=None)
    app.config.from_mapping(load_config())
    if config:
        app.config.update(config)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config))
    app.json.sort_keys = False  # keep fields in the order the schemas declare them

    if app.config["PROXY_FIX_X_FOR"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"])  # type: ignore[method-assign]

    db.init_app(app)
    timeout_sql = statement_timeout_sql(app.config)
    # Reads that run alone, in autocommit (src/services: Prebuilt.read), send it themselves.
    app.extensions["registrar.statement_timeout_sql"] = timeout_sql
    with app.app_context():
        watch_for_closed_connections(db.engine)
        if timeout_sql is not None:
            event.listen(
                db.engine, "begin", lambda connection: connection.exec_driver_sql(timeout_sql)
            )
    # Hooks run in this order: request id, URL length, who is calling, rate limit, may they.
    observability.init_request_logging(app)
    app.extensions["registrar.failed_lookups"] = auth.FailedLookups()
    app.extensions["registrar.verified_keys"] = auth.VerifiedKeys()
    app.before_request(_bound_url)
    app.before_request(auth.identify)
    app.extensions["registrar.limiter"] = RateLimiter(
        app,
        key_func=auth.rate_limit_key,
        exempt_when=auth.is_public,
        # A Redis that hangs must not hang requests: give up on it quickly; while it
        # cannot be reached, each process counts in its own memory (src/ratelimit.py).
        storage_options=REDIS_OPTIONS
        if app.config["RATELIMIT_STORAGE_URI"].startswith("redis")
        else {},
    )
    app.before_request(auth.enforce)
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

    from src.api import Api, IdConverter, courses, docs, enrollments, events, health, students

    app.url_map.converters["id"] = IdConverter
    api = Api(
        app,
        spec_kwargs={
            "marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=_schema_name),
            "security": [{"bearerAuth": []}],
            "info": API_INFO,
            # Relative: the document is served by the API it describes, wherever it runs.
            "servers": [{"url": "/", "description": "This server"}],
        },
    )
    api.spec.components.security_scheme(
        "bearerAuth",
        {"type": "http", "scheme": "bearer", "description": "An API key: `reg_<prefix>_<secret>`."},
    )
    for module in (health, students, courses, enrollments, events):
        api.register_blueprint(module.blp)
    app.register_blueprint(docs.blp)
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
