"""Serving: gunicorn.conf.py, a real gunicorn with several workers, and deploy-check."""

from __future__ import annotations

import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command

from src.database import db
from tests.conftest import alembic_config, make_app, new_key

ROOT = Path(__file__).resolve().parent.parent


def load_gunicorn_conf(monkeypatch, **env: str) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_workers_follow_the_cpu_count_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)

    assert load_gunicorn_conf(monkeypatch)["workers"] == os.cpu_count() * 2 + 1
    assert load_gunicorn_conf(monkeypatch, WEB_CONCURRENCY="3")["workers"] == 3


def test_timeouts_follow_the_environment_and_access_logs_leave_out_queries(monkeypatch, tmp_path):
    conf = load_gunicorn_conf(
        monkeypatch,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
        GUNICORN_TIMEOUT="12",
        GUNICORN_GRACEFUL_TIMEOUT="7",
    )

    assert (conf["timeout"], conf["graceful_timeout"]) == (12, 7)
    # Each worker builds its own engine and pool: no connection crosses a fork.
    assert conf["preload_app"] is False
    assert "%(q)s" not in conf["access_log_format"]  # no query strings: they hold emails


def test_start_up_clears_only_its_own_metric_files(monkeypatch, tmp_path):
    for name in ("counter_12.db", "gauge_livesum_12.db", "histogram_7.db", "notes.txt", "x.db"):
        (tmp_path / name).write_text("")
    conf = load_gunicorn_conf(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))

    conf["on_starting"](None)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "x.db"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, key: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_until_live(base: str, tries: int = 100) -> None:
    """Wait (up to ``tries`` tenths of a second) until a server at ``base`` answers."""
    for _ in range(tries):
        try:
            if _get(f"{base}/health/live")[0] == 200:
                return
        except OSError:
            time.sleep(0.1)


@contextmanager
def serving(database_url: str, metrics_dir: Path, workers: int) -> Iterator[str]:
    """gunicorn with this repository's configuration and ``workers`` workers, on a
    free port, until the block ends; then a graceful shutdown."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WEB_CONCURRENCY": str(workers),
        "PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_live(base)
    yield base
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0  # graceful shutdown


@pytest.fixture
def gunicorn(database_url, tmp_path):
    """gunicorn with this repository's configuration and two workers, on a free port."""
    with serving(database_url, tmp_path, workers=2) as base:
        yield base


def test_a_revoked_key_is_refused_by_every_worker_within_two_seconds(app, database_url, tmp_path):
    key = new_key(app, "reader")
    with serving(database_url, tmp_path, workers=3) as base:
        # Each request on a new connection, taken by whichever worker accepts it first:
        # after thirty, every worker has verified the key and keeps it in its cache.
        assert [_get(f"{base}/courses?limit=1", key)[0] for _ in range(30)] == [200] * 30

        db.session.remove()  # SQLite: the command writes; no session of ours holds a lock
        result = app.test_cli_runner().invoke(args=["api-key", "revoke", key.split("_")[1]])
        revoked = time.monotonic()
        assert result.exit_code == 0, result.output
        seen = []
        while time.monotonic() - revoked < 3.0:
            seen.append((time.monotonic() - revoked, _get(f"{base}/courses?limit=1", key)[0]))

            time.sleep(0.02)

    late = [status for at, status in seen if at >= 2.0]
    assert len(late) >= 10, seen
    # Refused: 401, or 429 once this address has sent too many bad keys (test_abuse).
    assert set(late) <= {401, 429}, seen
    assert 401 in late, seen


def test_gunicorn_serves_and_sums_metrics_across_workers(app, gunicorn):
    key = app.config["TEST_API_KEY"]
    statuses = [_get(f"{gunicorn}/courses", key)[0] for _ in range(20)]

    assert statuses == [200] * 20
    assert _get(f"{gunicorn}/health/ready")[0] == 200
    status, metrics = _get(f"{gunicorn}/metrics", key)
    assert status == 200
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("flask_http_request_total") and 'status="200"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) >= 21  # every worker's requests, not one's


def test_the_real_server_names_no_software_or_version(app, gunicorn):
    # Flask's test client never adds a Server header; gunicorn does.
    request = urllib.request.Request(f"{gunicorn}/health/live")  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        server = response.headers["Server"]

    assert server == "registrar"


@pytest.mark.parametrize("length", [5000, 8000])
def test_a_long_url_is_a_414_problem_from_the_app_not_gunicorn(app, gunicorn, length):
    key = app.config["TEST_API_KEY"]
    path = "/students?email=" + "a" * (length - len("/students?email="))

    status, body = _get(f"{gunicorn}{path}", key)

    assert status == 414
    assert json.loads(body)["type"] == "/problems/request-uri-too-long"


def test_deploy_check_passes_against_a_healthy_deployment(app, gunicorn):
    key = app.config["TEST_API_KEY"]
    result = app.test_cli_runner().invoke(
        args=["deploy-check", "--url", gunicorn, "--api-key", key]
    )

    assert result.exit_code == 0, result.output
    assert "deployment looks healthy" in result.output


def test_deploy_check_fails_when_the_service_is_down(app):
    url = f"http://127.0.0.1:{_free_port()}"

    result = app.test_cli_runner().invoke(args=["deploy-check", "--url", url, "--api-key", "k"])

    assert result.exit_code == 1
    assert "did not answer" in result.output


def test_deploy_check_fails_when_the_database_is_behind(empty_database_url):
    command.upgrade(alembic_config(empty_database_url), "20230901_baseline")
    app = make_app(empty_database_url)

    result = app.test_cli_runner().invoke(
        args=["deploy-check", "--url", "http://127.0.0.1:1", "--api-key", "k"]
    )

    assert result.exit_code == 1
    assert "behind" in result.output
    with app.app_context():
        db.engine.dispose()


def _send(base: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw HTTP bytes to the server; return its status, headers and body."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def test_a_chunked_body_over_one_mebibyte_is_413_like_one_with_a_length(app, gunicorn):
    key = app.config["TEST_API_KEY"]
    document = b'{"first_name": "' + b"a" * (1100 * 1024) + b'", "last_name": "L"}'
    chunks = b"".join(
        f"{len(part):x}\r\n".encode() + part + b"\r\n"
        for part in (document[i : i + 65536] for i in range(0, len(document), 65536))
    )
    head = (
        f"POST /students HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n"
    )

    chunked = _send(
        gunicorn, f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + chunks + b"0\r\n\r\n"
    )
    sized = _send(gunicorn, f"{head}Content-Length: {len(document)}\r\n\r\n".encode() + document)

    for status, headers, body in (chunked, sized):
        assert status == 413, body[:300]
        assert headers["Content-Type"] == "application/problem+json"
        assert json.loads(body)["type"] == "/problems/request-entity-too-large"


@pytest.mark.parametrize(
    "extra",
    [
        {f"X-Extra-{n}": "x" for n in range(150)},  # over 100 header fields
        {"X-Long": "x" * 9 * 1024},  # a 9 KiB header
    ],
)
def test_headers_past_the_limits_are_a_431_problem_from_the_app(app, gunicorn, extra):
    lines = "".join(f"{name}: {value}\r\n" for name, value in extra.items())
    request = f"GET /courses HTTP/1.1\r\nHost: x\r\n{lines}Connection: close\r\n\r\n"

    status, headers, body = _send(gunicorn, request.encode())

    assert status == 431
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["type"] == "/problems/request-header-fields-too-large"


def test_deploy_check_says_what_a_wrong_url_answered_once(app, gunicorn):
    result = app.test_cli_runner().invoke(
        args=["deploy-check", "--url", f"{gunicorn}/students", "--api-key", "k"]
    )

    assert result.exit_code == 1
    assert "answered 401 " in result.output
    assert "401 401" not in result.output
