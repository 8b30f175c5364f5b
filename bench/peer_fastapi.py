"""Benchmark peer: FastAPI + SQLAlchemy 2 ORM + pydantic, as their docs recommend.

The benchmark's requests (but the filtered course list) with the floor's JSON and status codes, without
authentication, rate limits, logging or metrics (like the floor): a session per
request from a dependency, ``def`` endpoints (FastAPI runs them in its thread pool,
as it advises for blocking drivers), pydantic response models. Served by uvicorn
with as many worker processes as the service has: ``uvicorn bench.peer_fastapi:app``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, PlainSerializer, StrictInt
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.peer_models import Course, Enrollment, Event, Student, problem, utc

engine = create_engine(
    os.environ["FLOOR_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1)
)
SessionLocal = sessionmaker(engine, expire_on_commit=False)
app = FastAPI()

# The service writes UTC offsets as +00:00 (pydantic would write Z).
Timestamp = Annotated[
    datetime, PlainSerializer(lambda v: utc(v).isoformat(timespec="milliseconds"))
]


class CourseOut(BaseModel):
    """A course as the service shows it."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    term_id: int
    code: str
    title: str
    description: str | None
    credits: int
    capacity: int | None
    waitlist_capacity: int | None
    meetings: list[dict[str, Any]]
    prerequisites: list[str]
    corequisites: list[str]
    enrolled_count: int
    seats_available: int | None
    created_at: Timestamp
    updated_at: Timestamp


class EnrolledCourseOut(CourseOut):
    """A course a student is enrolled in."""

    enrolled_at: Timestamp
    status: str = "enrolled"


class EnrollmentIn(BaseModel):
    """The body of an enrollment."""

    course_id: StrictInt


def session() -> Iterator[Session]:
    """A session per request."""
    with SessionLocal() as db:
        yield db


DB = Annotated[Session, Depends(session)]


def _problem(slug: str, status: int, detail: str) -> JSONResponse:
    return JSONResponse(
        problem(slug, status, detail), status, media_type="application/problem+json"
    )


@app.exception_handler(RequestValidationError)
def _invalid(_request: Request, _error: RequestValidationError) -> JSONResponse:
    return _problem("validation-error", 422, "course_id must be an integer.")


def _enrolled(course: Course, enrolled_at: datetime) -> EnrolledCourseOut:
    return EnrolledCourseOut.model_validate(
        {**CourseOut.model_validate(course).__dict__, "enrolled_at": enrolled_at}
    )


@app.get("/courses", response_model=list[CourseOut])
def list_courses(db: DB, response: Response, limit: int = 20, offset: int = 0) -> Any:
    """A page of courses."""
    page = db.scalars(select(Course).order_by(Course.id).limit(limit).offset(offset)).all()
    response.headers["X-Total-Count"] = str(db.scalar(select(func.count()).select_from(Course)))
    return page


@app.get("/students/{student_id}/courses", response_model=list[EnrolledCourseOut])
def student_courses(
    student_id: int, db: DB, response: Response, limit: int = 20, offset: int = 0
) -> Any:
    """A page of a student's courses."""
    if db.get(Student, student_id) is None:
        return _problem("student-not-found", 404, f"Student {student_id} does not exist.")
    total = db.scalar(
        select(func.count()).select_from(Enrollment).where(Enrollment.student_id == student_id)
    )
    rows = db.execute(
        select(Course, Enrollment.enrolled_at)
        .join(Enrollment, Enrollment.course_id == Course.id)
        .where(Enrollment.student_id == student_id)
        .order_by(Enrollment.enrolled_at, Enrollment.course_id)
        .limit(limit)
        .offset(offset)
    ).all()
    response.headers["X-Total-Count"] = str(total)
    return [_enrolled(course, at) for course, at in rows]


@app.post("/students/{student_id}/courses", status_code=201, response_model=EnrolledCourseOut)
def enroll(student_id: int, body: EnrollmentIn, db: DB, response: Response) -> Any:
    """Enroll under the course's lock."""
    course_id = body.course_id
    course = db.get(Course, course_id, with_for_update={"key_share": True})
    if course is None:
        return _problem("course-not-found", 404, f"Course {course_id} does not exist.")
    if db.get(Student, student_id) is None:
        return _problem("student-not-found", 404, f"Student {student_id} does not exist.")
    if db.get(Enrollment, (student_id, course_id)) is not None:
        return _problem("already-enrolled", 409, "Already enrolled.")
    if course.capacity is not None:
        taken = db.scalar(
            select(func.count()).select_from(Enrollment).where(Enrollment.course_id == course_id)
        )
        if taken >= course.capacity:
            return _problem("course-full", 409, f"Course {course_id} is full.")
    enrollment = Enrollment(student_id=student_id, course_id=course_id)
    db.add(enrollment)
    db.add(
        Event(
            type="enrolled",
            student_id=student_id,
            course_id=course_id,
            term_id=course.term_id,
            actor_kind="system",
        )
    )
    db.flush()  # enrolled_at comes back with the INSERT (RETURNING)
    db.refresh(course, ["enrolled_count"])  # counting the new enrollment
    db.commit()
    response.headers["Location"] = f"/students/{student_id}/courses/{course_id}"
    return _enrolled(course, enrollment.enrolled_at)


@app.delete("/students/{student_id}/courses/{course_id}", status_code=204)
def unenroll(student_id: int, course_id: int, db: DB) -> Response:
    """Drop an enrollment."""
    enrollment = db.get(Enrollment, (student_id, course_id))
    if enrollment is None:
        return _problem("not-enrolled", 404, "Not enrolled.")
    db.delete(enrollment)
    term_id = db.scalar(select(Course.term_id).where(Course.id == course_id))
    db.add(
        Event(
            type="dropped",
            student_id=student_id,
            course_id=course_id,
            term_id=term_id,
            actor_kind="system",
        )
    )
    db.commit()
    return Response(status_code=204)
