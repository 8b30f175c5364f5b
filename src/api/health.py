"""Health checks for load balancers, orchestrators and deployment pipelines.

``/health/live`` says the process answers (it touches nothing else);
``/health/ready`` says whether this process can serve: the database answers and its
schema is the one this code expects. Bodies follow draft-inadarei-api-health-check.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, json
from flask.views import MethodView
from marshmallow import Schema, fields

from src.api.framework import Blueprint
from src.fields import format_timestamp
from src.health import SchemaStatus, check_schema

HEALTH_CONTENT_TYPE = "application/health+json"

blp = Blueprint("health", __name__, description="Service health.")


#: What an output says: a sentence of the service's.
OUTPUT = {"maxLength": 500, "pattern": r"^[^\x00]*$"}


class HealthCheckSchema(Schema):
    """One observation of a component."""

    # Field names as the draft spells them.
    componentType = fields.String(metadata={"enum": ["datastore"]})
    observedValue = fields.Raw()
    observedUnit = fields.String(metadata={"enum": ["ms"]})
    status = fields.String(metadata={"enum": ["pass", "warn", "fail"]})
    time = fields.String(metadata={"format": "date-time", "maxLength": 29})
    output = fields.String(metadata=OUTPUT)


class HealthSchema(Schema):
    """draft-inadarei-api-health-check status."""

    status = fields.String(required=True, metadata={"enum": ["pass", "warn", "fail"]})
    output = fields.String(metadata=OUTPUT)
    checks = fields.Dict(
        keys=fields.String(metadata={"maxLength": 50, "pattern": r"^[a-z]+:[a-zA-Z]+$"}),
        values=fields.List(fields.Nested(HealthCheckSchema), metadata={"maxItems": 5}),
        metadata={"maxProperties": 10},
    )


#: /health/ready is public: whoever calls it, it asks the database at most this often
#: per process (seconds).
READY_CACHE_SECONDS = 1.0


def _recent_schema_status() -> SchemaStatus:
    cache = current_app.extensions.setdefault("registrar.ready_cache", {})
    now = time.monotonic()
    if cache.get("until", 0) <= now:
        cache["status"] = check_schema()
        cache["until"] = now + READY_CACHE_SECONDS
    return cache["status"]


def redis_status() -> str | None:
    """``pass`` or ``warn`` for the rate limits' Redis, ``None`` without one."""
    limiter = current_app.extensions["registrar.limiter"]
    if not current_app.config["RATELIMIT_STORAGE_URI"].startswith("redis"):
        return None
    return "pass" if limiter.storage.check() else "warn"


def health_response(body: dict[str, Any], status: int = 200) -> Response:
    """A health body, never cached."""
    return Response(
        json.dumps(body),
        status=status,
        mimetype=HEALTH_CONTENT_TYPE,
        headers={"Cache-Control": "no-store"},
    )


@blp.route("/health/live")
class Live(MethodView):
    """Liveness: the process answers."""

    @blp.doc(operationId="getLiveness")
    @blp.public
    @blp.response(200, HealthSchema, content_type=HEALTH_CONTENT_TYPE)
    def get(self) -> Any:
        """Check that the process serves requests.

        Answers `200 pass` while the process serves requests; it touches no database and no
        Redis, so their outages never make an orchestrator restart healthy processes."""
        return health_response({"status": "pass"})


@blp.route("/health")
class Health(MethodView):
    """``/health``: the same as ``/health/live``, where tools look first."""

    @blp.doc(operationId="getHealth")
    @blp.public
    @blp.response(200, HealthSchema, content_type=HEALTH_CONTENT_TYPE)
    def get(self) -> Any:
        """Check that the process serves requests (alias of /health/live).

        The same answer as `GET /health/live`."""
        return health_response({"status": "pass"})


@blp.route("/health/ready")
class Ready(MethodView):
    """Readiness: the database answers and is at this code's migration."""

    @blp.doc(operationId="getReadiness")
    @blp.public
    @blp.response(200, HealthSchema, content_type=HEALTH_CONTENT_TYPE, description="pass or warn")
    @blp.alt_response(
        503,
        schema=HealthSchema,
        content_type=HEALTH_CONTENT_TYPE,
        description="fail: the database is unreachable or behind this code",
    )
    def get(self) -> Any:
        """Check that the database (and Redis) can serve requests.

        `pass` (200) when the database answers at this code's migration; `warn` (200) when it
        is at a newer migration, or Redis cannot be reached (rate limits then count in each
        process's memory); `fail` (503) when the database is unreachable or behind."""
        result = _recent_schema_status()
        now = format_timestamp(datetime.now(UTC))
        checks: dict[str, list[dict[str, Any]]] = {
            "database:connection": [
                {
                    "componentType": "datastore",
                    "status": "fail" if result.response_time_ms is None else "pass",
                    "time": now,
                }
            ],
            "database:migration": [
                {
                    "componentType": "datastore",
                    "observedValue": result.revision,
                    "status": result.status,
                    "time": now,
                }
            ],
        }
        if result.response_time_ms is not None:
            checks["database:responseTime"] = [
                {
                    "componentType": "datastore",
                    "observedValue": result.response_time_ms,
                    "observedUnit": "ms",
                    "status": "pass",
                    "time": now,
                }
            ]
        status = result.status
        redis = redis_status()
        if redis is not None:
            checks["redis:connection"] = [
                {"componentType": "datastore", "status": redis, "time": now}
            ]
            # An instance without Redis still serves (limits fall back to memory): a
            # warn, so that operators see it without the load balancer pulling every
            # instance at once.
            if redis == "warn" and status == "pass":
                status = "warn"
        body: dict[str, Any] = {"status": status, "checks": checks}
        if result.output:
            body["output"] = result.output
        return health_response(body, 503 if status == "fail" else 200)
