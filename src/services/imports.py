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
from src.models import Course, DefaultTerm, Student, Term
from src.models.student import email_key
from src.services.batches import (
    MAX_PAIRS,
    broken_rules,
    existing_pairs,
    insert_batch,
    shortfalls,
)
from src.services.enrollments import lock_courses

HEADER = ["student_email", "course_code"]
#: The optional third column: the term a line's course code is in (else the default term).
TERM_COLUMN = "term_code"

_STUDENTS_BY_EMAIL = Statement(
    select(Student.email_key, Student.id).where(
        Student.email_key.in_(bindparam("keys", expanding=True))
    )
)
# Every offering with one of the codes, in any term: keyed by (term, code) below.
_COURSES_BY_CODE = Statement(
    select(func.lower(Course.code), Course.term_id, Course.id).where(
        func.lower(Course.code).in_(bindparam("keys", expanding=True))
    )
)
_TERMS_BY_CODE = Statement(
    select(func.lower(Term.code), Term.id).where(
        func.lower(Term.code).in_(bindparam("keys", expanding=True))
    )
)
_DEFAULT_TERM = Statement(select(DefaultTerm.term_id).where(DefaultTerm.id == 1))


@dataclass(frozen=True)
class _Line:
    """One line of the file, its email and codes compared as the API compares them."""

    number: int
    email: str
    code: str
    code_as_written: str
    term: str | None
    term_as_written: str | None


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


def _resolve(statement: Statement, keys: set[str]) -> list[Any]:
    found: list[Any] = []
    for chunk in _chunks(sorted(keys)):
        found.extend(statement.rows({"keys": chunk}))
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


def _read(text: str) -> list[_Line]:
    """The file's lines: a header of ``student_email,course_code`` and, optionally,
    ``term_code``; then one enrollment per line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        names = [name.strip().lower() for name in header or []]
        if names not in (HEADER, [*HEADER, TERM_COLUMN]):
            raise ImportRejected(
                [(1, f"the header must be {','.join(HEADER)} (and, optionally, {TERM_COLUMN})")]
            )
        rows, problems = [], []
        for number, fields in enumerate(reader, start=2):
            if not any(field.strip() for field in fields):
                continue  # a blank line
            if len(fields) != len(names) or not all(field.strip() for field in fields[:2]):
                what = "an email, a course code and a term code (or nothing)"
                problems.append(
                    (
                        number,
                        f"expected {what if len(names) == 3 else 'an email and a course code'}",
                    )
                )
                continue
            email, code = fields[0].strip(), fields[1].strip()
            term = fields[2].strip() if len(fields) == 3 and fields[2].strip() else None
            rows.append(
                _Line(
                    number,
                    email_key(email),
                    code.lower(),
                    code,
                    term.lower() if term else None,
                    term,
                )
            )
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
    rows: list[_Line],
    progress: Callable[[int], AbstractContextManager[Any]] | None,
) -> ImportResult:
    students = dict(_resolve(_STUDENTS_BY_EMAIL, {row.email for row in rows}))
    terms = dict(_resolve(_TERMS_BY_CODE, {row.term for row in rows if row.term}))
    default_term = _DEFAULT_TERM.scalar()
    courses = {
        (term_id, code): course_id
        for code, term_id, course_id in _resolve(_COURSES_BY_CODE, {row.code for row in rows})
    }
    problems: list[tuple[int, str]] = []
    pairs: list[tuple[int, int]] = []
    lines: list[int] = []
    first_line: dict[tuple[int, int], int] = {}
    written: dict[int, str] = {}
    for row in rows:
        line, email, as_written = row.number, row.email, row.code_as_written
        term_id = default_term if row.term is None else terms.get(row.term)
        reasons = []
        if email not in students:
            reasons.append(f"no student has the email {email!r}")
        if term_id is None:
            reasons.append(f"no term has the code {row.term_as_written!r}")
        elif (term_id, row.code) not in courses:
            where = "the default term" if row.term is None else f"term {row.term_as_written!r}"
            reasons.append(f"no course of {where} has the code {as_written!r}")
        if reasons:
            problems.append((line, "; ".join(reasons)))
            continue
        pair = (students[email], courses[(term_id, row.code)])
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

    new_pairs: list[tuple[int, int]] = []
    existing_count = 0
    with progress(len(pairs)) if progress else nullcontext() as bar:
        for start in range(0, len(pairs), MAX_PAIRS):
            chunk = pairs[start : start + MAX_PAIRS]
            try:
                enrolled = insert_batch(chunk)
            except BatchRejected as error:
                problems += [(lines[start + e.index], e.detail) for e in error.errors]
            else:
                new_pairs += [(i["student_id"], i["course_id"]) for i in enrolled if i["created"]]
                existing_count += sum(not item["created"] for item in enrolled)
            if bar is not None:
                bar.update(len(chunk))
    if problems:
        raise ImportRejected(problems)
    # The rules, once every pair of the file is in: a corequisite anywhere in the file
    # counts, and so does every course of a student's in it for their credits.
    line_of = dict(zip(pairs, lines, strict=True))
    problems += [(line_of[new_pairs[i]], f.detail) for i, f in broken_rules(new_pairs)]
    if problems:
        raise ImportRejected(sorted(problems))
    return ImportResult(len(new_pairs), existing_count)
