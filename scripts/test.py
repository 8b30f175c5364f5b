"""``make test``: the whole test suite, on SQLite and, whenever it is reachable, on PostgreSQL.

1. The Debian packages some tests drive (Chromium and its driver, PgBouncer,
   redis-server, npm) are installed when missing, when this runs as root with
   apt-get; otherwise the tests that need them say so, with the command that installs
   them (``tests/conftest.py: needs``), and fail under ``CI=true``.
2. Redis: ``TEST_REDIS_URL``, else the local server (database 15) if it answers.
3. The suite on a temporary SQLite file: every test but the PostgreSQL-only ones,
   which run in the next pass.
4. The suite on PostgreSQL: ``TEST_DATABASE_URL`` when set, else libpq's usual
   defaults (``PGHOST``, ``PGPORT``, ``PGUSER``…, or the local server), in a database
   this script creates and drops. Unreachable, it is said so at the end, and under
   ``CI=true`` that is a failure.

It ends by saying which databases it ran on. Arguments are passed to pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest"]
#: Debian package of each program a test drives.
PACKAGES = {
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
    "pgbouncer": "pgbouncer",
    "redis-server": "redis-server",
    "npm": "npm",
}
LOCAL_REDIS = "redis://127.0.0.1:6379/15"


def say(message: str) -> None:
    print(f"== {message}", flush=True)


def missing_programs() -> list[str]:
    """The Debian packages of the programs not on this machine."""
    return [
        package
        for program, package in PACKAGES.items()
        if not (shutil.which(program) or Path("/usr/sbin", program).exists())
    ]


def install(packages: list[str]) -> list[str]:
    """Install ``packages`` with apt-get when we may; return those still missing."""
    if not packages:
        return []
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return packages
    say(f"installing {' '.join(packages)} from Debian")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)  # noqa: S607
    subprocess.run(  # noqa: S603
        ["apt-get", "install", "-y", "-qq", *packages],  # noqa: S607
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return missing_programs()


def redis_url() -> str | None:
    """``TEST_REDIS_URL``, else the local Redis if it answers."""
    import redis

    url = os.environ.get("TEST_REDIS_URL", "").strip() or LOCAL_REDIS
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return None
    return url


def postgresql_server() -> tuple[str, str] | None:
    """Where libpq's defaults lead: ``(URL of the server, what to call it)``, or None."""
    import psycopg2

    try:
        connection = psycopg2.connect(dbname="postgres", connect_timeout=3)
    except psycopg2.Error:
        return None
    host, port, user = connection.info.host, connection.info.port, connection.info.user
    if not host:  # libpq's default socket: the folder the server says it listens in
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('unix_socket_directories')")
            host = cursor.fetchone()[0].split(",")[0].strip()
    connection.close()
    where = f"{user}@{host}:{port}"
    if host.startswith("/"):  # a Unix socket's folder
        return f"postgresql://{quote(user)}@/?host={quote(host)}&port={port}", where
    return f"postgresql://{quote(user)}@{host}:{port}", where


def with_database(server_url: str, name: str) -> str:
    base, _, query = server_url.partition("?")
    return f"{base.rstrip('/')}/{name}" + (f"?{query}" if query else "")


def admin(sql: str) -> None:
    import psycopg2

    connection = psycopg2.connect(dbname="postgres", connect_timeout=3)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql)
    connection.close()


def pytest(args: list[str], env: dict[str, str]) -> int:
    return subprocess.run([*PYTEST, *args], cwd=ROOT, env=env, check=False).returncode  # noqa: S603


def main() -> int:
    """Run both passes; exit non-zero if either failed (or, under CI, could not run)."""
    args = sys.argv[1:]
    ci = os.environ.get("CI", "").lower() == "true"
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}

    still_missing = install(missing_programs())
    redis = redis_url()
    if redis:
        env["TEST_REDIS_URL"] = redis

    given = os.environ.get("TEST_DATABASE_URL", "").strip()
    server = None if given else postgresql_server()
    postgresql = bool(given or server)

    say("the suite on SQLite")
    sqlite_args = ["-m", "not postgresql"] if postgresql else []
    results = {"SQLite": pytest([*sqlite_args, *args], env)}

    if given:
        say("the suite on PostgreSQL (TEST_DATABASE_URL)")
        results["PostgreSQL (TEST_DATABASE_URL)"] = pytest(args, env | {"TEST_DATABASE_URL": given})
    elif server:
        server_url, where = server
        name = f"registrar_test_{uuid.uuid4().hex[:8]}"
        say(f"the suite on PostgreSQL ({where}, database {name}, dropped afterwards)")
        admin(f'CREATE DATABASE "{name}"')
        try:
            url = with_database(server_url, name)
            results[f"PostgreSQL ({where})"] = pytest(args, env | {"TEST_DATABASE_URL": url})
        finally:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    say("summary")
    for database, code in results.items():
        print(f"   {database}: {'passed' if code == 0 else 'FAILED'}")
    failed = any(code != 0 for code in results.values())
    if not postgresql:
        print(
            "   PostgreSQL: NOT RUN (unreachable with libpq's defaults): start it, or set "
            "TEST_DATABASE_URL=postgresql://user@host:5432/empty_database"
        )
        failed = failed or ci
    if not redis:
        print(f"   Redis: unreachable ({LOCAL_REDIS}); its tests did not run: set TEST_REDIS_URL")
    if still_missing:
        print(
            f"   not installed: {' '.join(still_missing)}; the tests that need them did not run: "
            f"sudo apt-get install {' '.join(still_missing)}"
        )
    ran = " and ".join(results)
    print(f"make test ran on {ran}: {'FAILED' if failed else 'passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
