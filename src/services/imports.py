"""Importing enrollments from a CSV file, through the same code as the batch endpoint."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import bindparam, func, select

from src.database import Statement, transaction
from src.exceptions import BatchRejected
from src.models import Course, Student
from src.models.student import email_key
from src.services.batches import MAX_PAIRS, enroll_batch
from src.services.enrollments import lock_courses

HEADER = ["student_email", "course_code"]

_STUDENTS_BY_EMAIL = Statement(
    select(Student.email_key, Student.id).where(
        Student.email_key.in_(bindparam("keys", expanding=True))
    )
)
_COURSES_BY_CODE = Statement(
    select(func.lower(Course.code), Course.id).where(
        func.lower(Course.code).in_(bindparam("keys", expanding=True))
    )
)


class ImportRejected(Exception):
    """The file has bad lines: ``problems`` are ``(line number, reason)``, in order."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        super().__init__(f"{len(problems)} bad lines")
        self.problems = problems


@dataclass(frozen=True)
class ImportResult:
    """What an import did (or, in a dry run, would do)."""

    created: int
    existing: int


def _chunks(items: list[Any], size: int = MAX_PAIRS) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _resolve(statement: Statement, keys: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(keys)):
        found.update((key, id_) for key, id_ in statement.rows({"keys": chunk}))
    return found


def _read(csv_file: TextIO) -> list[tuple[int, str, str]]:
    """The file's lines as ``(line number, email, code)``, compared as the API does."""
    reader = csv.reader(csv_file)
    header = next(reader, None)
    if header is None or [name.strip().lower() for name in header] != HEADER:
        raise ImportRejected([(1, f"the header must be {','.join(HEADER)}")])
    rows, problems = [], []
    for line, fields in enumerate(reader, start=2):
        if not any(field.strip() for field in fields):
            continue  # a blank line
        if len(fields) != 2 or not all(field.strip() for field in fields):
            problems.append((line, "expected an email and a course code"))
            continue
        rows.append((line, email_key(fields[0].strip()), fields[1].strip().lower()))
    if problems:
        raise ImportRejected(problems)
    return rows


def import_csv(
    csv_file: TextIO,
    *,
    dry_run: bool = False,
    progress: Callable[[int], AbstractContextManager[Any]] | None = None,
) -> ImportResult:
    """Enroll every pair of the file in one transaction, all or nothing.

    Raises :class:`ImportRejected` with every bad line, and writes nothing. A dry run
    is this, rolled back.
    """
    with transaction() as block:
        result = _import(csv_file, progress)
        if dry_run:
            block.rollback()
    return result


def _import(
    csv_file: TextIO, progress: Callable[[int], AbstractContextManager[Any]] | None
) -> ImportResult:
    rows = _read(csv_file)
    students = _resolve(_STUDENTS_BY_EMAIL, {email for _, email, _ in rows})
    courses = _resolve(_COURSES_BY_CODE, {code for _, _, code in rows})
    problems: list[tuple[int, str]] = []
    pairs: list[tuple[int, int]] = []
    lines: list[int] = []
    first_line: dict[tuple[int, int], int] = {}
    for line, email, code in rows:
        reasons = []
        if email not in students:
            reasons.append(f"no student has the email {email!r}")
        if code not in courses:
            reasons.append(f"no course has the code {code!r}")
        if reasons:
            problems.append((line, "; ".join(reasons)))
            continue
        pair = (students[email], courses[code])
        if pair in first_line:
            problems.append((line, f"the same pair as line {first_line[pair]}"))
            continue
        first_line[pair] = line
        pairs.append(pair)
        lines.append(line)
    if problems:
        raise ImportRejected(problems)

    # Every course of the file, locked in id order up front: the chunks below lock
    # subsets again, which a transaction holding them all does not wait for.
    lock_courses([course_id for _, course_id in pairs])
    created = existing = 0
    with progress(len(pairs)) if progress else nullcontext() as bar:
        for start in range(0, len(pairs), MAX_PAIRS):
            chunk = pairs[start : start + MAX_PAIRS]
            try:
                enrolled = enroll_batch(chunk)
            except BatchRejected as error:
                problems += [(lines[start + e.index], e.detail) for e in error.errors]
            else:
                created += sum(item["created"] for item in enrolled)
                existing += sum(not item["created"] for item in enrolled)
            if bar is not None:
                bar.update(len(chunk))
    if problems:
        raise ImportRejected(problems)
    return ImportResult(created, existing)
