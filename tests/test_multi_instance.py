"""Two instances of the service, one PgBouncer in transaction mode (deploy/pgbouncer.ini),
one PostgreSQL, one Redis: the deployment docs/operations.md describes."""

from __future__ import annotations

import configparser
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, make_url, text

from src.config import normalize_database_url
from tests.conftest import ROOT, in_a_fresh_window, make_app, new_key, program
from tests.test_serving import _free_port, wait_until_live

pytestmark = pytest.mark.postgresql

STATEMENT_TIMEOUT = 1


def call(
    base: str, method: str, path: str, key: str | None = None, body: dict | None = None
) -> tuple[int, dict | None]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} | (
        {"Authorization": f"Bearer {key}"} if key else {}
    )
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class PgBouncer:
    """deploy/pgbouncer.ini with this test's port, database and folder, and trust
    authentication on loopback instead of the file of password hashes."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.folder = Path(tempfile.mkdtemp(prefix="registrar-pgbouncer-"))
        self.port = _free_port()
        config = configparser.ConfigParser(interpolation=None, delimiters=("=",))
        config.optionxform = str  # type: ignore[assignment,method-assign]
        config.read(ROOT / "deploy" / "pgbouncer.ini")
        assert config["pgbouncer"]["pool_mode"] == "transaction"
        # The server the suite runs on: a host, or a Unix socket's folder (?host=).
        host = url.host or url.query.get("host") or "/var/run/postgresql"
        port = url.port or url.query.get("port") or 5432
        user = url.username or "postgres"
        config["databases"] = {
            "registrar": f"host={host} port={port} dbname={url.database} user={user}"
        }
        settings = config["pgbouncer"]
        settings.update(
            {
                "listen_port": str(self.port),
                "auth_type": "trust",
                "auth_file": str(self.folder / "users.txt"),
                "logfile": str(self.folder / "pgbouncer.log"),
                "pidfile": str(self.folder / "pgbouncer.pid"),
            }
        )
        (self.folder / "users.txt").write_text(f'"{user}" ""\n')
        self.ini = self.folder / "pgbouncer.ini"
        with self.ini.open("w") as file:
            config.write(file)
        self.url = f"postgresql://{user}@127.0.0.1:{self.port}/registrar"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = program("pgbouncer", "pgbouncer")
        as_owner = ["-u", "postgres"] if os.geteuid() == 0 else []  # it refuses to run as root
        if as_owner:
            self.folder.chmod(0o777)
        self.process = subprocess.Popen(  # noqa: S603 - Debian's pgbouncer, on loopback
            [binary, *as_owner, str(self.ini)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(100):
            try:
                engine = create_engine(self.url.replace("postgresql:", "postgresql+psycopg2:"))
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                engine.dispose()
                return
            except Exception:
                time.sleep(0.1)
        raise AssertionError("pgbouncer did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=10)


@pytest.fixture
def pgbouncer(database_url: str) -> Iterator[PgBouncer]:
    bouncer = PgBouncer(database_url)
    bouncer.start()
    yield bouncer
    bouncer.stop()
    shutil.rmtree(bouncer.folder, ignore_errors=True)


@pytest.fixture
def instances(pgbouncer: PgBouncer, tmp_path: Path, redis_url: str) -> Iterator[list[str]]:
    bases, processes, logs = [], [], []
    for n in range(2):
        port = _free_port()
        metrics = tmp_path / f"metrics-{n}"
        metrics.mkdir()
        env = {
            **os.environ,
            "APP_ENV": "production",
            "DATABASE_URL": pgbouncer.url,
            "DATABASE_POOLER": "pgbouncer",
            "DATABASE_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT),
            "REDIS_URL": redis_url,
            # One key for both instances: a cursor either hands out, either reads.
            "SECRET_KEY": "multi-instance-test-" + "k" * 32,
            "RATE_LIMIT": "10/second",
            "WEB_CONCURRENCY": "2",
            "PORT": str(port),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        }
        log = (tmp_path / f"instance-{n}.log").open("w")
        logs.append(log)
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "wsgi:app"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
        )
        bases.append(f"http://127.0.0.1:{port}")
    for base in bases:
        wait_until_live(base)
    yield bases
    for process in processes:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    for log in logs:
        log.close()


def test_two_instances_behind_pgbouncer_share_seats_limits_keys_and_health(
    app, client, database_url, pgbouncer, instances, redis_url
):
    redis.Redis.from_url(redis_url).flushdb()
    admin = app.config["TEST_API_KEY"]
    one, two = instances
    # Set up in process (no rate limit there); everything below goes through the instances.
    course = client.post("/courses", json={"code": "POP", "title": "T", "capacity": 10}).get_json()
    students = []
    for n in range(60):
        body = {"first_name": "S", "last_name": str(n), "email": f"s{n}@x.edu"}
        students.append(client.post("/students", json=body).get_json()["id"])
    keys = {s: new_key(app, "student", s) for s in students}

    # 60 students race for 10 seats, their requests split across both instances.
    barrier = threading.Barrier(60)
    answers: dict[int, tuple[int, dict | None]] = {}

    def enroll(n: int, student: int) -> None:
        barrier.wait()
        base = instances[n % 2]
        answers[student] = call(
            base, "POST", f"/students/{student}/courses", keys[student], {"course_id": course["id"]}
        )

    threads = [threading.Thread(target=enroll, args=(n, s)) for n, s in enumerate(students)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = Counter(status for status, _ in answers.values())
    assert statuses == {201: 10, 409: 50}, statuses
    assert {body["type"] for status, body in answers.values() if status == 409} == {
        "/problems/course-full"
    }
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT count(*) FROM student_courses WHERE course_id = :c"), {"c": course["id"]}
        ).scalar()
    assert rows == 10

    # The rate limit (10/second) is shared: a burst split across both gets about ten.
    reader = new_key(app, "reader")
    in_a_fresh_window(1.0, needed=0.9)
    burst = [call(instances[n % 2], "GET", "/courses?limit=1", reader)[0] for n in range(20)]
    assert 9 <= burst.count(200) <= 11, burst
    assert burst.count(429) == 20 - burst.count(200)

    # A key revoked through one instance's command line is refused by both.
    victim = new_key(app, "reader")
    assert call(one, "GET", "/courses", victim)[0] == 200
    assert call(two, "GET", "/courses", victim)[0] == 200
    revoke = subprocess.run(  # noqa: S603 - this repository's command
        [sys.executable, "-m", "flask", "--app", "wsgi", "api-key", "revoke", victim.split("_")[1]],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": pgbouncer.url, "DATABASE_POOLER": "pgbouncer"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert revoke.returncode == 0, revoke.stderr
    time.sleep(1.1)  # past the rate-limit window of the requests above
    assert call(one, "GET", "/courses", victim)[0] == 401
    assert call(two, "GET", "/courses", victim)[0] == 401

    # A statement held behind a lock, through PgBouncer, is cut at the statement timeout.
    holder = engine.connect()
    holder.execute(text("SELECT id FROM courses WHERE id = :c FOR UPDATE"), {"c": course["id"]})
    started = time.monotonic()
    status, body = call(one, "PATCH", f"/courses/{course['id']}", admin, {"title": "Held"})
    waited = time.monotonic() - started
    holder.rollback()
    holder.close()
    assert status == 503, body
    assert body["type"] == "/problems/database-unavailable"
    assert STATEMENT_TIMEOUT * 0.9 <= waited < STATEMENT_TIMEOUT + 3

    # Readiness follows PgBouncer down and back up, without restarting the instances.
    for base in instances:
        assert call(base, "GET", "/health/ready")[0] == 200
    pgbouncer.stop()
    time.sleep(1.1)  # past the readiness answer each process keeps for a second
    for base in instances:
        status, body = call(base, "GET", "/health/ready")
        assert (status, body["status"]) == (503, "fail")
    pgbouncer.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if all(call(base, "GET", "/health/ready")[0] == 200 for base in instances):
            break
        time.sleep(0.5)
    # Each worker keeps its last answer for a second: one that answered "fail" while
    # PgBouncer was starting may still say so; past that, every worker must pass.
    time.sleep(1.1)
    for base in instances:
        for _ in range(4):  # new connections: the workers take turns
            status, body = call(base, "GET", "/health/ready")
            assert (status, body["status"]) == (200, "pass"), body
    engine.dispose()


def test_pgbouncer_without_the_pooler_setting_says_which_setting_to_change(pgbouncer, caplog):
    # PgBouncer refuses the startup option that sets the statement timeout: every
    # connection fails until DATABASE_POOLER=pgbouncer is set, and the logs say so.
    app = make_app(normalize_database_url(pgbouncer.url), TEST_API_KEY="reg_00000000_" + "x" * 43)
    client = app.test_client()
    caplog.set_level(logging.WARNING)

    refused = [client.get("/students") for _ in range(2)]
    ready = client.get("/health/ready")

    assert [r.status_code for r in refused] == [503, 503]
    assert all(r.get_json()["type"].endswith("/database-unavailable") for r in refused)
    assert "DATABASE_POOLER" not in "".join(r.get_data(as_text=True) for r in refused)
    hints = [r for r in caplog.records if r.name == "registrar.database"]
    assert len(hints) == 1, hints
    assert "DATABASE_POOLER=pgbouncer" in hints[0].getMessage()
    assert ready.status_code == 503
    readiness = [r.getMessage() for r in caplog.records if "readiness" in r.getMessage()]
    assert readiness
    assert all("DATABASE_POOLER=pgbouncer" in m for m in readiness), readiness
