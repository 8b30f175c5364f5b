"""Configuration read from the environment, in one place.

Every setting the service reads is documented in the README's "Configuration" section.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from limits import parse_many
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

#: The project root; the embedded SQLite database lives in its ``instance`` folder.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_PATH = PROJECT_ROOT / "instance"
DEFAULT_SQLITE_PATH = INSTANCE_PATH / "registrar.sqlite3"


class ConfigurationError(RuntimeError):
    """Raised when the environment asks for an unsafe or impossible configuration."""


def normalize_database_url(url: str) -> str:
    """Return ``url`` with the database driver this project ships selected.

    Hosting platforms hand out ``postgres://`` (which SQLAlchemy rejects) or a plain
    ``postgresql://`` (which SQLAlchemy 2.1 maps to psycopg 3, a driver we do not ship);
    both become ``postgresql+psycopg2://``. Any other URL is returned unchanged.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def database_url(environ: Mapping[str, str] | None = None) -> str:
    """Return the database URL: ``DATABASE_URL``, or the embedded SQLite file.

    Shared by the application and Alembic's ``env.py`` so both always talk to the
    same database.
    """
    environ = os.environ if environ is None else environ
    url = environ.get("DATABASE_URL", "").strip()
    if url:
        return _checked_database_url(normalize_database_url(url))
    if environ.get("APP_ENV", "development") == "production":
        raise ConfigurationError(
            "APP_ENV=production requires DATABASE_URL; refusing to use the embedded SQLite file."
        )
    # The embedded database is created on first use; its folder must exist first.
    INSTANCE_PATH.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def _checked_database_url(url: str) -> str:
    """``url`` if it names a database this service can use; else why not (never with
    its password)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            "DATABASE_URL is not a database URL: expected postgresql://user@host:5432/name "
            "or sqlite:////absolute/path.db."
        ) from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if (backend, driver) not in {("postgresql", "psycopg2"), ("sqlite", "pysqlite")}:
        raise ConfigurationError(
            f"DATABASE_URL names {parsed.drivername}://…, which this service cannot use: "
            "it runs on PostgreSQL (postgresql://…) or SQLite (sqlite:///…)."
        )
    return url


def secret_key(environ: Mapping[str, str], app_env: str) -> str:
    """``SECRET_KEY``: what the feed's cursors are signed with. Production needs one of
    its own; elsewhere a random key is made once and kept in the instance folder, so
    every worker of a development server signs alike."""
    key = environ.get("SECRET_KEY", "").strip()
    if key:
        if len(key) < 32:
            raise ConfigurationError("SECRET_KEY must be at least 32 characters long.")
        return key
    if app_env == "production":
        raise ConfigurationError(
            "APP_ENV=production requires SECRET_KEY (it signs the change feed's cursors): "
            "a long random string, e.g. from `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`."
        )
    path = INSTANCE_PATH / "secret_key"
    if not path.exists():
        INSTANCE_PATH.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another worker made it first
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _month(environ: Mapping[str, str], name: str, default: int) -> int:
    month = _number(environ, name, default, 1)
    if month > 12 or month != int(month):
        raise ConfigurationError(f"{name} must be a month, 1 to 12, not {environ[name]!r}.")
    return int(month)


def _number(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}.") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, not {raw!r}.")
    return value


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def _rate_limit(environ: Mapping[str, str]) -> str:
    # Checked here: a typo ("100/sec") would otherwise fail every request, health
    # checks included, and an orchestrator would restart healthy processes in a loop.
    value = environ.get("RATE_LIMIT", "").strip() or "100/second"
    try:
        parse_many(value)
    except ValueError:
        raise ConfigurationError(
            f"RATE_LIMIT must be limits like 100/second or 20/second;1000/minute, not {value!r}."
        ) from None
    return value


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = environ.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value


def cors_origins(environ: Mapping[str, str]) -> list[str]:
    """``CORS_ORIGINS``: the browser origins allowed to call the API, comma-separated.

    Exact origins only (``https://app.example.edu``): a wildcard would let any site a
    registrar visits read students' data with the keys it holds.
    """
    origins = [o.strip().rstrip("/") for o in environ.get("CORS_ORIGINS", "").split(",")]
    origins = [o for o in origins if o]
    for origin in origins:
        if not _ORIGIN.match(origin):
            raise ConfigurationError(
                f"CORS_ORIGINS must list origins like https://app.example.edu, not {origin!r}."
            )
    return origins


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask configuration from environment variables."""
    environ = os.environ if environ is None else environ
    app_env = environ.get("APP_ENV", "development")
    if app_env not in {"development", "production", "testing"}:
        raise ConfigurationError(
            f"APP_ENV must be development, production or testing, not {app_env!r}."
        )
    redis_url = environ.get("REDIS_URL", "").strip()
    if app_env == "production" and not redis_url:
        raise ConfigurationError(
            "APP_ENV=production requires REDIS_URL: in-memory rate limits are per process, "
            "so several workers would each allow the full rate."
        )
    return {
        "APP_ENV": app_env,
        # Requests per API key (or per client address without one), in the limits library's
        # notation; counted in Redis when REDIS_URL is set, else in each process's memory.
        "RATE_LIMIT": _rate_limit(environ),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        # Browser origins allowed to call the API (CORS); none by default.
        "CORS_ORIGINS": cors_origins(environ),
        # How many proxies in front of the app set X-Forwarded-For (0: trust none).
        "PROXY_FIX_X_FOR": int(_number(environ, "PROXY_FIX_X_FOR", 0, 0)),
        # How many proxies in front of the app set X-Forwarded-Proto (0: trust none); the
        # OAuth token endpoint answers only over https (RFC 6749 §3.2) or on loopback.
        "PROXY_FIX_X_PROTO": int(_number(environ, "PROXY_FIX_X_PROTO", 0, 0)),
        "SQLALCHEMY_DATABASE_URI": database_url(environ),
        # Signs the feed's cursors; the old keys, comma-separated, still verify them.
        "SECRET_KEY": secret_key(environ, app_env),
        "SECRET_KEY_FALLBACKS": [
            key.strip() for key in environ.get("SECRET_KEY_FALLBACKS", "").split(",") if key.strip()
        ],
        # Bounds on every database interaction, so a slow or unreachable database
        # turns into a quick 503 instead of hung workers (seconds).
        "DATABASE_CONNECT_TIMEOUT": int(_number(environ, "DATABASE_CONNECT_TIMEOUT", 3, 1)),
        "DATABASE_STATEMENT_TIMEOUT": _number(environ, "DATABASE_STATEMENT_TIMEOUT", 5, 0.001),
        "DATABASE_POOL_SIZE": int(_number(environ, "DATABASE_POOL_SIZE", 5, 1)),
        "DATABASE_MAX_OVERFLOW": int(_number(environ, "DATABASE_MAX_OVERFLOW", 5, 0)),
        "DATABASE_POOL_TIMEOUT": _number(environ, "DATABASE_POOL_TIMEOUT", 3, 0.1),
        # What stands between the service and PostgreSQL (see engine_options).
        "DATABASE_POOLER": _choice(environ, "DATABASE_POOLER", ("none", "pgbouncer")),
        # The school as the OneRoster service shows it (one org of type school): its
        # sourcedId (stable forever: set it once), name and identifier; and the month a
        # school year starts in (a term's schoolYear is the year its school year ends).
        "ONEROSTER_SCHOOL_SOURCED_ID": environ.get(
            "ONEROSTER_SCHOOL_SOURCED_ID", "6d1c3d1e-2f5b-4c51-9a0e-6f1c6e3b7a10"
        ),
        "ONEROSTER_SCHOOL_NAME": environ.get("ONEROSTER_SCHOOL_NAME", "Registrar school"),
        "ONEROSTER_SCHOOL_IDENTIFIER": environ.get("ONEROSTER_SCHOOL_IDENTIFIER", "SCHOOL"),
        "ONEROSTER_SCHOOL_YEAR_START_MONTH": _month(
            environ, "ONEROSTER_SCHOOL_YEAR_START_MONTH", 8
        ),
        # Request bodies of this API are small JSON objects; anything larger is abuse.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "API_TITLE": "Registrar API",
        "API_VERSION": "1.0.0",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        # Swagger UI's files come with the service (the swagger-ui-bundle package, served
        # by src/api/docs.py): the docs work on a network without the internet.
        "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
        # No call to Swagger's online validator; the key entered under "Authorize" is
        # sent to this origin only, and forgotten when the page closes.
        "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None, "persistAuthorization": False},
    }
