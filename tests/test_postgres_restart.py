"""PostgreSQL restarts under load: a cluster of the test's own (never the shared one) is
stopped and started while threads keep enrolling and unenrolling through gunicorn."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from tests.conftest import ROOT, alembic_config, make_app, new_key
from tests.test_serving import _free_port, wait_until_live

pytestmark = pytest.mark.postgresql

CAPACITY = 4
CONNECT_TIMEOUT = 2


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    assert found[-1], f"{name} is missing (Debian's postgresql package has it)"
    return str(found[-1])


class Cluster:
    """A throwaway PostgreSQL cluster in a temporary folder, on a free port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"
        # initdb and postgres refuse to run as root.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *argv: str) -> None:
        subprocess.run(  # noqa: S603 - PostgreSQL's own tools, on loopback
            [*self.as_owner, *argv],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def init(self) -> None:
        self.folder.chmod(0o755)
        if self.as_owner:
            shutil.chown(self.folder, "postgres")
        self._run(
            _pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # Not under pytest's temporary folder: that one is private to root, and the
    # cluster runs as postgres.
    own = Cluster(Path(tempfile.mkdtemp(prefix="registrar-pg-")))
    try:
        own.init()
        own.start()
        yield own
        with contextlib.suppress(subprocess.CalledProcessError):  # a failed test stopped it
            own.stop()
    finally:
        shutil.rmtree(own.folder, ignore_errors=True)


def _request(
    base: str, method: str, path: str, key: str, body: dict | None = None
) -> tuple[int, dict | None, float]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=headers)  # noqa: S310
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, None, time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), time.monotonic() - started


def test_clients_get_503_during_a_restart_and_nothing_is_lost(cluster, tmp_path):
    command.upgrade(alembic_config(cluster.url), "head")
    setup = make_app(cluster.url)
    key = new_key(setup)
    client = setup.test_client(api_key=key)
    courses = [
        client.post(
            "/courses", json={"code": f"R{n}", "title": "R", "capacity": CAPACITY}
        ).get_json()["id"]
        for n in range(3)
    ]
    students = [
        client.post(
            "/students", json={"first_name": "R", "last_name": "S", "email": f"r{n}@x.edu"}
        ).get_json()["id"]
        for n in range(24)
    ]
    port = _free_port()
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url,
        "DATABASE_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "RATE_LIMIT": "100000/second",
        "WEB_CONCURRENCY": "2",
        "PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }
    log = tmp_path / "gunicorn.log"
    log_file = log.open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "wsgi:app"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=log_file,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_until_live(base)

    stop = threading.Event()
    outcomes: list[tuple[float, str, int, dict | None, float]] = []
    expected: dict[tuple[int, int], bool] = {}
    lock = threading.Lock()

    def work(seed: int) -> None:
        # Each thread owns its students, so each pair's requests are sequential and
        # its state after every answer is known.
        rng = random.Random(seed)
        mine = students[seed::4]
        while not stop.is_set():
            pair = (rng.choice(mine), rng.choice(courses))
            enrolled = expected.get(pair, False)
            if enrolled:
                status, body, took = _request(
                    base, "DELETE", f"/students/{pair[0]}/courses/{pair[1]}", key
                )
                if status == 204:
                    expected[pair] = False
            else:
                status, body, took = _request(
                    base, "POST", f"/students/{pair[0]}/courses", key, {"course_id": pair[1]}
                )
                if status == 201:
                    expected[pair] = True
            with lock:
                outcomes.append((time.monotonic(), "x", status, body, took))

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(2)
        cluster.stop()
        down_at = time.monotonic()
        time.sleep(2)
        cluster.start()
        up_at = time.monotonic()
        time.sleep(5)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        stop.set()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log_file.close()

    statuses = [status for _, _, status, _, _ in outcomes]
    errors = [line for line in log.read_text().splitlines() if '"level": "ERROR"' in line]
    assert set(statuses) <= {201, 204, 409, 503}, (set(statuses), [e[-1500:] for e in errors[:2]])
    unavailable = [body for _, _, status, body, _ in outcomes if status == 503]
    assert unavailable, "the outage was not seen"
    assert {body["type"] for body in unavailable} == {"/problems/database-unavailable"}
    # Nothing hangs past the connect timeout (plus the pool's wait for a connection).
    assert max(took for *_, took in outcomes) < CONNECT_TIMEOUT + 5
    # Within a few seconds of the restart, every request succeeds again.
    settled = [status for at, _, status, _, _ in outcomes if at > up_at + 3]
    assert settled
    assert 503 not in settled
    assert down_at < up_at

    engine = create_engine(cluster.url)
    with engine.connect() as connection:
        rows = {
            tuple(r)
            for r in connection.execute(text("SELECT student_id, course_id FROM student_courses"))
        }
        seats = connection.execute(
            text("SELECT max(n) FROM (SELECT count(*) n FROM student_courses GROUP BY course_id) c")
        ).scalar()
    engine.dispose()
    assert rows == {pair for pair, enrolled in expected.items() if enrolled}
    assert (seats or 0) <= CAPACITY
