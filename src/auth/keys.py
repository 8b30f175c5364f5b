"""API keys: issuing them, and verifying the one a request presents.

Keys are ``reg_<prefix>_<secret>``: an 8-character lookup prefix and 32 random bytes.
Only a SHA-256 hash is stored (the secret is random, so a slow hash adds nothing but
latency), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from src.database import Statement, savepoint, transaction
from src.exceptions import InstructorNotFound, StudentNotFound
from src.models import ApiKey, Instructor, Student
from src.models.api_key import ROLES

KEY_PREFIX = "reg"
#: ``last_used_at`` is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_keys = ApiKey.__table__


@dataclass(frozen=True)
class Principal:
    """The caller a valid key identifies."""

    key_id: int
    prefix: str
    role: str
    student_id: int | None
    instructor_id: int | None = None


def key_hash(key: str) -> str:
    """The hash a key is stored and looked up by."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    """A key just created: the plaintext is only ever available here."""

    key: str
    prefix: str
    role: str
    student_id: int | None
    instructor_id: int | None = None


_STUDENT_EXISTS = Statement(
    select(exists().where(Student.__table__.c.id == bindparam("student_id")))
)
_INSTRUCTOR_EXISTS = Statement(
    select(exists().where(Instructor.__table__.c.id == bindparam("instructor_id")))
)
_INSERT = Statement(
    insert(_keys).values(
        prefix=bindparam("prefix"),
        key_hash=bindparam("key_hash"),
        role=bindparam("role"),
        student_id=bindparam("student_id"),
        instructor_id=bindparam("instructor_id"),
        name=bindparam("name"),
    )
)


def create_api_key(
    role: str,
    *,
    student_id: int | None = None,
    instructor_id: int | None = None,
    name: str | None = None,
) -> NewKey:
    """Create a key, committed; the caller shows ``key`` once.

    A ``student`` key needs the ``student_id`` it acts as (:class:`StudentNotFound`
    if there is none such), an ``instructor`` key the ``instructor_id``
    (:class:`InstructorNotFound`); no other role has either.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if (role == "student") != (student_id is not None):
        raise ValueError("a student key needs a student id, and only a student key has one")
    if (role == "instructor") != (instructor_id is not None):
        raise ValueError(
            "an instructor key needs an instructor id, and only an instructor key has one"
        )
    with transaction():
        if student_id is not None and not _STUDENT_EXISTS.scalar({"student_id": student_id}):
            raise StudentNotFound(student_id)
        if instructor_id is not None and not _INSTRUCTOR_EXISTS.scalar(
            {"instructor_id": instructor_id}
        ):
            raise InstructorNotFound(instructor_id)
        for _ in range(5):
            prefix = secrets.token_hex(4)
            key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
            values = {"prefix": prefix, "key_hash": key_hash(key), "role": role}
            try:
                with savepoint():
                    _INSERT.run(
                        values
                        | {"student_id": student_id, "instructor_id": instructor_id, "name": name}
                    )
            except IntegrityError as error:
                if _is_foreign_key(error):  # the student or instructor was deleted meanwhile
                    if instructor_id is not None:
                        raise InstructorNotFound(instructor_id) from error
                    raise StudentNotFound(student_id) from error  # type: ignore[arg-type]
                continue  # a prefix collision, about one in four billion
            return NewKey(key, prefix, role, student_id, instructor_id)
    raise RuntimeError("could not find a free key prefix")


def _is_foreign_key(error: IntegrityError) -> bool:
    return getattr(error.orig, "pgcode", None) == "23503" or "FOREIGN KEY" in str(error.orig)


_BY_PREFIX = Statement(
    select(
        _keys.c.id,
        _keys.c.key_hash,
        _keys.c.role,
        _keys.c.student_id,
        _keys.c.instructor_id,
        _keys.c.last_used_at,
    ).where(_keys.c.prefix == bindparam("prefix"), _keys.c.revoked_at.is_(None))
)
_TOUCH = Statement(
    update(_keys).where(_keys.c.id == bindparam("key_id")).values(last_used_at=bindparam("now"))
)


def authenticate(key: str, digest: str | None = None) -> Principal | None:
    """The principal of a valid, unrevoked key, or ``None``. Compared in constant time;
    ``digest`` is the key's hash when the caller has it already.

    Records when the key was last used, to the minute, in a statement of its own: a
    transaction apart from anything the request does.
    """
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or len(parts[1]) > 16:
        return None
    record = _BY_PREFIX.first({"prefix": parts[1]})
    if record is None or not hmac.compare_digest(record["key_hash"], digest or key_hash(key)):
        return None
    now = datetime.now(UTC)
    last_used = record["last_used_at"]
    if last_used is None or now - last_used > LAST_USED_RESOLUTION:
        _TOUCH.run({"key_id": record["id"], "now": now})
    return Principal(
        record["id"], parts[1], record["role"], record["student_id"], record["instructor_id"]
    )


_LIST = Statement(select(_keys).order_by(_keys.c.id))


def list_keys() -> list[dict[str, Any]]:
    """Every key's record, oldest first (never a key: only its prefix)."""
    return _LIST.mappings()


_REVOKE = Statement(
    update(_keys)
    .where(_keys.c.prefix == bindparam("key_prefix"), _keys.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)


def revoke_key(prefix: str) -> bool:
    """Revoke the active key with ``prefix``; whether there was one."""
    return _REVOKE.run({"key_prefix": prefix, "now": datetime.now(UTC)}) > 0


_AN_ADMIN_KEY = Statement(
    select(exists().where(_keys.c.role == "admin", _keys.c.revoked_at.is_(None)))
)


def has_admin_key() -> bool:
    """Whether any admin key works."""
    return bool(_AN_ADMIN_KEY.scalar())
