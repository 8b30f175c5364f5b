"""Authentication with API keys, and authorization that denies by default.

Every request to a view not marked :func:`public` needs ``Authorization: Bearer <key>``.
Each view method states who besides an admin may call it (``Blueprint.allow``);
a view that states nothing is for admins only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, g, request
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from src.exceptions import StudentNotFound
from src.extensions import db
from src.models import ApiKey, Student
from src.services import execute

KEY_PREFIX = "reg"
#: flask-smorest's own endpoints for the document and the docs page, which carry no
#: mark of ours; every other public view is marked with :func:`public`.
FRAMEWORK_PUBLIC_ENDPOINTS = frozenset({"api-docs.openapi_json", "api-docs.openapi_swagger_ui"})
#: ``last_used_at`` is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """The caller a valid key identifies."""

    key_id: int
    prefix: str
    role: str
    student_id: int | None


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


_keys = ApiKey.__table__
# Built once: this runs on every request (see src.services).
_KEY_BY_PREFIX = select(
    _keys.c.id, _keys.c.key_hash, _keys.c.role, _keys.c.student_id, _keys.c.last_used_at
).where(_keys.c.prefix == bindparam("prefix"), _keys.c.revoked_at.is_(None))
_TOUCH = (
    update(_keys).where(_keys.c.id == bindparam("key_id")).values(last_used_at=bindparam("now"))
)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    """A key just created: the plaintext is only ever available here."""

    key: str
    record: ApiKey


def create_api_key(role: str, *, student_id: int | None = None, name: str | None = None) -> NewKey:
    """Create a key and flush it; the caller commits and shows ``key`` once.

    Keys are ``reg_<prefix>_<secret>``: an 8-character lookup prefix and 32 random
    bytes; only a SHA-256 hash is stored (the secret is random, so a slow hash adds
    nothing but latency).
    """
    if role not in ("admin", "reader", "student"):
        raise ValueError(f"unknown role {role!r}")
    if (role == "student") != (student_id is not None):
        raise ValueError("a student key needs a student id, and only a student key has one")
    if student_id is not None and db.session.get(Student, student_id) is None:
        raise StudentNotFound(student_id)
    for _ in range(5):
        prefix = secrets.token_hex(4)
        key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        record = ApiKey(
            prefix=prefix, key_hash=_hash(key), role=role, student_id=student_id, name=name
        )
        db.session.add(record)
        try:
            with db.session.begin_nested():
                db.session.flush()
        except IntegrityError:  # a prefix collision, about one in four billion
            continue
        return NewKey(key, record)
    raise RuntimeError("could not find a free key prefix")


def authenticate(key: str, digest: str | None = None) -> Principal | None:
    """The principal of a valid, unrevoked key, or ``None``. Compared in constant time;
    ``digest`` is the key's hash when the caller has it already."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or len(parts[1]) > 16:
        return None
    record = execute(_KEY_BY_PREFIX, {"prefix": parts[1]}).first()
    if record is None or not hmac.compare_digest(record.key_hash, digest or _hash(key)):
        return None
    now = datetime.now(UTC)
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        execute(_TOUCH, {"key_id": record.id, "now": now})
        db.session.commit()
    return Principal(record.id, parts[1], record.role, record.student_id)


#: How long a process trusts a key it verified without asking the database again
#: (seconds): a revoked key, or a deleted student's, is refused by every worker of every
#: instance at most this long after the change commits.
KEY_CACHE_SECONDS = 1.0


class VerifiedKeys:
    """The keys this process verified in the last :data:`KEY_CACHE_SECONDS`, by hash.

    A key lookup is a statement per request; a client sends many requests a second
    with one key. Entries expire instead of being told of revocations: that bounds how
    long a revoked key works with no channel from the database to every worker.
    """

    def __init__(self, ttl: float = KEY_CACHE_SECONDS, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, digest: str) -> Principal | None:
        """The principal of a key verified lately, or ``None``."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(digest, None)
            return None
        return entry[1]

    def put(self, digest: str, principal: Principal) -> None:
        """Remember a key just verified."""
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self.ttl, principal)

    def forget_student(self, student_id: int) -> None:
        """Drop a deleted student's keys: this process refuses them at once."""
        for digest, (_, principal) in list(self._entries.items()):
            if principal.student_id == student_id:
                self._entries.pop(digest, None)


def forget_student_keys(student_id: int) -> None:
    """After a student's deletion commits: stop trusting their keys in this process
    (other processes stop within :data:`KEY_CACHE_SECONDS`)."""
    current_app.extensions["registrar.verified_keys"].forget_student(student_id)


class FailedLookups:
    """What a process remembers of keys that failed, to bound the database work that
    callers without a valid key can cause (the rate limit counts them by address, but
    only after their key was looked up).

    - A key that failed is not looked up again for ``ttl`` seconds (by its hash).
    - An address whose lookups failed ``per_address`` times within ``ttl`` seconds gets
      no lookup of a key this process has not seen valid lately, until the window
      passes: such keys count as invalid (401, then 429 from the limiter by address)
      without touching the database. Keys seen valid in the last minute still work.

    Per app and in memory, on purpose: it must hold when Redis does not.
    """

    def __init__(self, ttl: float = 10.0, per_address: int = 10, size: int = 10_000) -> None:
        self.ttl = ttl
        self.per_address = per_address
        self.size = size
        self._failed: dict[str, float] = {}
        self._valid: dict[str, float] = {}
        self._addresses: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def should_skip(self, digest: str, address: str | None) -> bool:
        """Whether to treat the key with this hash as invalid without looking it up."""
        now = time.monotonic()
        with self._lock:
            if self._failed.get(digest, 0) > now:
                return True
            if self._valid.get(digest, 0) > now:
                return False
            recent = [t for t in self._addresses.get(address or "", ()) if t > now]
            return len(recent) >= self.per_address

    def record(self, digest: str, address: str | None, *, valid: bool) -> None:
        """Remember the outcome of a lookup of the key with this hash."""
        now = time.monotonic()
        with self._lock:
            if len(self._failed) + len(self._valid) + len(self._addresses) > self.size:
                self._failed, self._valid, self._addresses = {}, {}, {}
            if valid:
                self._valid[digest] = now + VALID_KEY_MEMORY
                return
            self._failed[digest] = now + self.ttl
            recent = [t for t in self._addresses.get(address or "", ()) if t > now]
            self._addresses[address or ""] = [*recent, now + self.ttl]


#: How long a key seen valid keeps being looked up whatever its address did (seconds).
VALID_KEY_MEMORY = 60.0


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _handler() -> Any:
    """The function that serves this request: the view, or its MethodView method."""
    req = request._get_current_object()  # type: ignore[attr-defined]
    view = current_app.view_functions.get(req.endpoint or "")
    view_class = getattr(view, "view_class", None)
    method = req.method.lower()
    if method == "head":
        method = "get"
    return getattr(view_class, method, None) if view_class else view


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
        or bool(getattr(_handler(), "public", False))
    )


def identify() -> None:
    """First hook: find out who is calling (``g.principal``), without refusing yet, so
    the rate limiter can count by key, or by address when there is none."""
    # The request's objects once: each use of the `g` and `request` proxies is a lookup.
    ctx = g._get_current_object()
    ctx.principal = None
    ctx.token_given = False
    ctx.is_public = _public_request()
    if ctx.is_public:
        return
    token = _bearer_token()
    if token is None:
        return
    ctx.token_given = True
    digest = _hash(token)  # once: the cache, the failed-lookup memory and the lookup share it
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
    return getattr(_handler(), "access_grants", ())


def enforce() -> None:
    """Last hook: 401 without a valid key, 403 unless the view grants this principal."""
    if is_public():
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
    """Rate limits count per API key, or per client address without a valid key."""
    principal: Principal | None = g.get("principal")
    if principal is not None:
        return f"key:{principal.prefix}"
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


def public(view: Any) -> Any:
    """Mark a view as callable without a key (health checks, the docs' files)."""
    view.public = True
    return view
