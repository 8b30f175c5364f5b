"""The commands, run for real (``flask --app wsgi …`` in a subprocess): whatever the
argument or the setting, a failure is one line on standard error and exit status 1 or
2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command

from tests.conftest import ROOT, alembic_config

FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file of the commands' own."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'cli.sqlite3'}"
    command.upgrade(alembic_config(url), "head")
    return url


def flask(*args: str, database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "APP_"))}
    return subprocess.run(  # noqa: S603 - our own command
        [*FLASK, *args],
        cwd=ROOT,
        env=environ | {"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], status: int, *words: str):
    assert result.returncode == status, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, result.stderr
    message = lines[-1]
    for word in words:
        assert word in message, lines


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("garbage", ["DATABASE_URL is not a database URL"]),
        ("mysql://root@127.0.0.1/registrar", ["mysql", "PostgreSQL", "SQLite"]),
        ("postgresql+asyncpg://u@h/db", ["postgresql+asyncpg"]),
    ],
)
def test_a_database_url_the_service_cannot_use_is_one_line(url, words):
    result = flask("api-key", "list", database_url=url)

    assert_one_line_error(result, 1, "configuration error", *words)


@pytest.mark.parametrize(
    "url", ["not-a-url", "http://[::1", "ftp://registrar.example.edu", "http://"]
)
def test_deploy_check_refuses_a_url_that_is_not_one(database, url):
    result = flask("deploy-check", "--url", url, "--api-key", "k", database_url=database)

    assert_one_line_error(result, 2, "--url")


def test_a_file_that_is_not_utf8_is_named_with_its_line(database, tmp_path: Path):
    path = tmp_path / "excel.csv"
    path.write_bytes("student_email,course_code\nJosé@example.edu,CS101\n".encode("cp1252"))

    result = flask("enrollments", "import", str(path), database_url=database)

    assert result.returncode == 1
    assert "line 2: not UTF-8 (byte 0xe9)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_database_that_is_not_migrated_is_one_line_with_what_to_do(tmp_path: Path):
    result = flask("api-key", "list", database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}")

    assert_one_line_error(result, 1, "database error", "make migrate")


def test_production_without_its_settings_is_one_line(database):
    result = flask("api-key", "list", database_url=database, APP_ENV="production")

    assert_one_line_error(result, 1, "configuration error", "REDIS_URL")
