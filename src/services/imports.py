"""Importing enrollments from a CSV file, through the same code as the batch endpoint."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select

from src.database import Statement, transaction
from src.exceptions import BatchRejected
from src.models import Course, Student
from src.models.student import email_key
from src.services.batches import MAX_PAIRS, enroll_batch, existing_pairs, shortfalls
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


def _decode(data: bytes) -> str:
    """The file's text: UTF-8, with or without a byte order mark; anything else says
    where it stops being UTF-8 (an Excel "CSV" export is Windows-1252)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportRejected([(0, "the file is UTF-16: save it as CSV UTF-8 and import that")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        byte = data[error.start]
        raise ImportRejected(
            [(line, f"not UTF-8 (byte 0x{byte:02x}): save the file as CSV UTF-8 and import that")]
        ) from None


def _read(text: str) -> list[tuple[int, str, str, str]]:
    """The file's lines as ``(line number, email, code, code as written)``, emails and
    codes compared as the API compares them."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
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
            code = fields[1].strip()
            rows.append((line, email_key(fields[0].strip()), code.lower(), code))
    except csv.Error as error:
        raise ImportRejected([(reader.line_num, f"not CSV: {error}")]) from None
    if problems:
        raise ImportRejected(problems)
    return rows


def import_csv(
    data: bytes,
    *,
    dry_run: bool = False,
    progress: Callable[[int], AbstractContextManager[Any]] | None = None,
) -> ImportResult:
    """Enroll every pair of a CSV file (its bytes) in one transaction, all or nothing.

    Raises :class:`ImportRejected` with every bad line, and writes nothing: an unknown
    student or course, a pair given twice, and every course without room for all the
    file's new pairs, once, by the code the file gives, with its lines. A dry run is
    this, rolled back.
    """
    rows = _read(_decode(data))
    with transaction() as block:
        result = _import(rows, progress)
        if dry_run:
            block.rollback()
    return result


def _import(
    rows: list[tuple[int, str, str, str]],
    progress: Callable[[int], AbstractContextManager[Any]] | None,
) -> ImportResult:
    students = _resolve(_STUDENTS_BY_EMAIL, {email for _, email, _, _ in rows})
    courses = _resolve(_COURSES_BY_CODE, {code for _, _, code, _ in rows})
    problems: list[tuple[int, str]] = []
    pairs: list[tuple[int, int]] = []
    lines: list[int] = []
    first_line: dict[tuple[int, int], int] = {}
    written: dict[int, str] = {}
    for line, email, code, as_written in rows:
        reasons = []
        if email not in students:
            reasons.append(f"no student has the email {email!r}")
        if code not in courses:
            reasons.append(f"no course has the code {as_written!r}")
        if reasons:
            problems.append((line, "; ".join(reasons)))
            continue
        pair = (students[email], courses[code])
        if pair in first_line:
            problems.append((line, f"the same pair as line {first_line[pair]}"))
            continue
        first_line[pair] = line
        written.setdefault(pair[1], as_written)
        pairs.append(pair)
        lines.append(line)
    if problems:
        raise ImportRejected(problems)

    # Every course of the file, locked in id order up front: the batches below lock
    # subsets again, which a transaction holding them all does not wait for; and with
    # them held, whether each course has room for the whole file is known now.
    capacities = {c["id"]: c["capacity"] for c in lock_courses([c for _, c in pairs])}
    existing = existing_pairs(pairs)
    new_lines: dict[int, list[int]] = {}
    for pair, line in zip(pairs, lines, strict=True):
        if pair not in existing:
            new_lines.setdefault(pair[1], []).append(line)
    for short in shortfalls([p for p in pairs if p not in existing], capacities):
        course_lines = new_lines[short.course_id]
        shown = ", ".join(map(str, course_lines[:10])) + (", …" if len(course_lines) > 10 else "")
        problems.append(
            (
                0,
                f"course {written[short.course_id]!r} (lines {shown}): {short.free} free "
                f"seat{'s' if short.free != 1 else ''} of {short.capacity}, fewer than the "
                f"file's {short.wanted} new pairs",
            )
        )
    if problems:
        raise ImportRejected(problems)

    created = existing_count = 0
    with progress(len(pairs)) if progress else nullcontext() as bar:
        for start in range(0, len(pairs), MAX_PAIRS):
            chunk = pairs[start : start + MAX_PAIRS]
            try:
                enrolled = enroll_batch(chunk)
            except BatchRejected as error:
                problems += [(lines[start + e.index], e.detail) for e in error.errors]
            else:
                created += sum(item["created"] for item in enrolled)
                existing_count += sum(not item["created"] for item in enrolled)
            if bar is not None:
                bar.update(len(chunk))
    if problems:
        raise ImportRejected(problems)
    return ImportResult(created, existing_count)
