"""CPU per request in process: the WSGI app called in a loop, no server, no network.

``python -m bench.inprocess DATABASE_URL`` (a database ``make bench`` seeded, or any
with students and courses) prints, for the benchmark's three requests, the Python CPU
time per request (``time.process_time``), best of five rounds. The app runs with the
production settings the benchmark uses: Redis rate limits, the JSON request log (to
/dev/null) and multiprocess Prometheus metrics. PostgreSQL's own CPU is not counted.
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
import sys
import tempfile
import time
from typing import Any

from werkzeug.test import EnvironBuilder

ROUNDS = int(os.environ.get("INPROCESS_ROUNDS", "5"))
REQUESTS = int(os.environ.get("INPROCESS_REQUESTS", "1000"))


def _app(database_url: str) -> Any:
    os.environ.update(
        DATABASE_URL=database_url,
        APP_ENV="production",
        REDIS_URL="redis://127.0.0.1:6379/14",
        SECRET_KEY="registrar-bench-" + "k" * 32,
        RATE_LIMIT="1000000/second",
        PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(prefix="registrar-inprocess-"),
    )
    from src import create_app
    from src.observability import configure_logging

    configure_logging("INFO")
    logging.getLogger().handlers[0].stream = open(os.devnull, "w")  # noqa: SIM115
    return create_app()


def _call(app: Any, method: str, path: str, key: str, body: Any = None) -> int:
    builder = EnvironBuilder(
        path=path,
        method=method,
        headers={"Authorization": f"Bearer {key}"},
        json=body,
    )
    environ = builder.get_environ()
    builder.close()
    status: list[str] = []

    def start_response(line: str, headers: Any, exc_info: Any = None) -> None:
        status.append(line)

    chunks = app(environ, start_response)
    b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return int(status[0].split()[0])


def steps(app: Any, key: str, students: int, cycle: tuple[int, int]) -> dict[str, Any]:
    """The benchmark's three requests, each a step to call with a running count: a
    student's courses, enroll then unenroll (alternately), and the list of courses."""
    rng = random.Random(1)  # noqa: S311 - benchmark ids, not secrets
    pending: list[tuple[int, int]] = []

    def read(_n: int) -> None:
        assert _call(app, "GET", f"/students/{rng.randint(1, students)}/courses", key) == 200  # noqa: S101

    def courses(_n: int) -> None:
        assert _call(app, "GET", "/courses", key) == 200  # noqa: S101

    def cycle_step(n: int) -> None:
        if n % 2 and pending:
            student, course = pending.pop(0)
            _call(app, "DELETE", f"/students/{student}/courses/{course}", key)
            return
        student, course = rng.randint(1, students), rng.randint(*cycle)
        pending.append((student, course))
        _call(app, "POST", f"/students/{student}/courses", key, {"course_id": course})

    return {"read": read, "cycle": cycle_step, "courses": courses}


def measure(app: Any, key: str, students: int, cycle: tuple[int, int]) -> dict[str, float]:
    """Best-of-five CPU milliseconds per request for each benchmark request."""
    named = steps(app, key, students, cycle)
    results = {}
    for name, step in (
        ("GET /students/<id>/courses", named["read"]),
        ("enroll + unenroll (per request)", named["cycle"]),
        ("GET /courses", named["courses"]),
    ):
        for n in range(200):  # warm caches and the pool
            step(n)
        best = float("inf")
        for _ in range(ROUNDS):
            started = time.process_time()
            for n in range(REQUESTS):
                step(n)
            best = min(best, (time.process_time() - started) / REQUESTS * 1000)
        results[name] = round(best, 3)
    return results


def setup(database_url: str, key_name: str) -> tuple[Any, str, int, tuple[int, int]]:
    """The app on a database ``make bench`` seeded, a new admin key, the number of
    students, and the first and last of the courses enroll + unenroll cycles through."""
    app = _app(database_url)
    with app.app_context():
        from src.auth.keys import create_api_key
        from src.database import db

        key = create_api_key("admin", name=key_name).key
        students = db.session.execute(db.text("SELECT max(id) FROM students")).scalar()
        first, last = db.session.execute(
            db.text("SELECT min(id), max(id) FROM courses WHERE code LIKE 'BENCH-%'")
        ).one()
        db.session.remove()
    return app, key, students, (first, last)


def main() -> None:
    """Print CPU milliseconds per request as JSON."""
    app, key, students, cycle = setup(sys.argv[1], "inprocess")
    print(json.dumps(measure(app, key, students, cycle), indent=1))


if __name__ == "__main__":
    sys.stdout = io.TextIOWrapper(sys.stdout.buffer, line_buffering=True)
    main()
