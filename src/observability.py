"""Request ids, one structured log line per request, and Prometheus metrics.

Logs carry ids, routes and timings, never names, emails or query strings: the
query string can hold an email (``GET /students?email=``).
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics
from pythonjsonlogger.orjson import OrjsonFormatter

from src.auth.access import allow, reader
from src.database import db

REQUEST_ID_HEADER = "X-Request-ID"
#: A client's request id is kept only if it is short and made of safe characters;
#: anything else could forge log lines or bloat them, and is replaced.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_logger = logging.getLogger("registrar.request")


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to every log record made while serving it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


def configure_logging(level: str | None = None) -> None:
    """Send every log record to standard error as one JSON object per line.

    Called by the process's entry point (``wsgi.py``), not by ``create_app``: logging
    is the process's to configure, and tests read records through pytest's caplog.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(
        OrjsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("LOG_LEVEL", "INFO").upper())
    # Alembic narrates loading its plugins at INFO; the migrations' own CLI has its
    # logging set in alembic.ini.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _start_request() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    ctx = g._get_current_object()
    ctx.request_id = incoming if VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    ctx.request_started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    ctx = g._get_current_object()
    req = request._get_current_object()  # type: ignore[attr-defined]
    request_id = ctx.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id
    started = ctx.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
    rule = req.url_rule
    request_logger.log(
        logging.WARNING if response.status_code >= 500 else logging.INFO,
        "request",
        extra={
            "request_id": request_id,
            "method": req.method,
            "route": rule.rule if rule else None,
            # A matched path holds only ids; an unmatched one could hold anything.
            "path": req.path if rule else None,
            "status": response.status_code,
            "duration_ms": duration_ms,
        },
    )
    return response


def init_request_logging(app: Flask) -> None:
    """Give every request an id (``X-Request-ID``) and log one line when it ends."""
    app.before_request(_start_request)
    app.after_request(_finish_request)


def init_metrics(app: Flask) -> PrometheusMetrics:
    """Serve ``GET /metrics``: request counts and latencies by route and status, the
    database pool's use, and whether rate limits reach Redis.

    Under gunicorn with ``PROMETHEUS_MULTIPROC_DIR`` set (``gunicorn.conf.py`` sets it),
    every worker writes its samples there and any worker serves the sum.
    """
    options: dict[str, Any] = {
        "group_by": "url_rule",
        "excluded_paths": ["^/metrics$"],
        # Scraping needs a key like everything else; reader keys may scrape.
        "metrics_decorator": allow(reader),
    }
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics: PrometheusMetrics = GunicornInternalPrometheusMetrics(app, **options)
        registry = None
    else:
        # One registry per app, so several apps (as in tests) never collide.
        registry = CollectorRegistry(auto_describe=True)
        metrics = PrometheusMetrics(app, registry=registry, **options)
    in_use = Gauge(
        "registrar_db_pool_connections_in_use",
        "Database connections checked out of this process's pool.",
        registry=registry,
        multiprocess_mode="livesum",
    )
    idle = Gauge(
        "registrar_db_pool_connections_idle",
        "Open database connections waiting in this process's pool.",
        registry=registry,
        multiprocess_mode="livesum",
    )

    storage_up = Gauge(
        "registrar_rate_limit_storage_up",
        "1 while rate limits are counted in the shared Redis, 0 while this process "
        "falls back to its own memory (Redis unreachable).",
        registry=registry,
        multiprocess_mode="livemin",
    )
    fallbacks = Counter(
        "registrar_rate_limit_storage_fallbacks",
        "Times this process lost Redis and fell back to counting in memory.",
        registry=registry,
    )
    limiter = app.extensions["registrar.limiter"]
    # What the gauges were last set to: in multiprocess mode each set writes to a
    # memory-mapped file, so only changes are written.
    last: dict[str, Any] = {"up": None, "pool": None}

    @app.after_request
    def _observe(response: Response) -> Response:
        pool = db.engine.pool
        if hasattr(pool, "checkedout"):
            counts = (pool.checkedout(), pool.checkedin())
            if counts != last["pool"]:
                in_use.set(counts[0])
                idle.set(counts[1])
                last["pool"] = counts
        # The limiter logs the switch both ways (a warning once per outage).
        up = not limiter.storage_dead
        if up != last["up"]:
            if last["up"] and not up:
                fallbacks.inc()
            storage_up.set(1 if up else 0)
            last["up"] = up
        return response

    return metrics
