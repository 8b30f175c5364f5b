"""The api-key commands."""

from __future__ import annotations

import time

from alembic import command

from src.auth.caches import KEY_CACHE_SECONDS
from src.database import db
from tests.conftest import alembic_config, make_app
from tests.security.conftest import client_with


def run(app, *args):
    return app.test_cli_runner().invoke(args=["api-key", *args])


def test_create_prints_a_working_key_alone_on_the_last_line(app):
    result = run(app, "create", "--role", "reader", "--name", "reports")

    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("reg_")
    assert " " not in key
    assert len(key.split("_", 2)[2]) >= 43  # 32 random bytes, base64url
    assert client_with(app, key).get("/courses").status_code == 200
    assert (
        client_with(app, key).post("/courses", json={"code": "X", "title": "T"}).status_code == 403
    )


def test_student_keys_need_an_existing_student(app, client, world):
    assert run(app, "create", "--role", "student").exit_code == 2
    assert run(app, "create", "--role", "student", "--student-id", "9999").exit_code == 2
    assert (
        run(app, "create", "--role", "reader", "--student-id", str(world.student_a)).exit_code == 2
    )

    result = run(app, "create", "--role", "student", "--student-id", str(world.student_a))

    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert client_with(app, key).get(f"/students/{world.student_a}").status_code == 200
    assert client_with(app, key).get(f"/students/{world.student_b}").status_code == 403


def test_instructor_keys_need_an_existing_instructor(app, client, world):
    assert run(app, "create", "--role", "instructor").exit_code == 2
    assert run(app, "create", "--role", "instructor", "--instructor-id", "9999").exit_code == 2
    assert (
        run(app, "create", "--role", "student", "--instructor-id", str(world.instructor_i))
    ).exit_code == 2

    result = run(app, "create", "--role", "instructor", "--instructor-id", str(world.instructor_i))

    assert result.exit_code == 0, result.output
    assert f"for instructor {world.instructor_i}" in result.output
    key = result.output.strip().splitlines()[-1]
    assert client_with(app, key).get(f"/courses/{world.course_c}/students").status_code == 200
    assert client_with(app, key).get(f"/courses/{world.course_d}/students").status_code == 403
    listed = run(app, "list").output
    assert "instructor" in listed.splitlines()[0]


def test_list_never_shows_keys(app, world):
    result = run(app, "list")

    assert result.exit_code == 0
    for key in world.keys.values():
        if key is not None:
            assert key.split("_")[1] in result.output
            assert key not in result.output


def test_revoke_takes_effect_within_the_key_cache_time(app, world):
    key = world.keys["reader"]
    assert client_with(app, key).get("/courses").status_code == 200

    result = run(app, "revoke", key.split("_")[1])
    revoked_at = time.monotonic()

    assert result.exit_code == 0
    # The process still trusts the key it verified a moment ago, for at most
    # KEY_CACHE_SECONDS; then it asks the database again and refuses it.
    time.sleep(max(KEY_CACHE_SECONDS - (time.monotonic() - revoked_at), 0) + 0.05)
    assert client_with(app, key).get("/courses").status_code == 401
    assert run(app, "revoke", key.split("_")[1]).exit_code == 1
    assert run(app, "revoke", "nosuchkey").exit_code == 1


def test_deleting_a_student_refuses_their_cached_key_at_once(app, client, world):
    key = world.keys["student_a"]
    assert client_with(app, key).get("/courses").status_code == 200

    assert client.delete(f"/students/{world.student_a}").status_code == 204

    assert client_with(app, key).get("/courses").status_code == 401


def test_deleting_a_student_deletes_their_keys(app, client, world):
    key = world.keys["student_a"]

    assert client.delete(f"/students/{world.student_a}").status_code == 204

    assert client_with(app, key).get("/courses").status_code == 401


def test_bootstrap_creates_an_admin_key_once(empty_database_url):
    command.upgrade(alembic_config(empty_database_url), "head")
    fresh = make_app(empty_database_url)
    first = fresh.test_cli_runner().invoke(args=["api-key", "bootstrap"])

    assert first.exit_code == 0
    assert "export API_KEY=reg_" in first.output
    assert 'curl -H "Authorization: Bearer $API_KEY" http://127.0.0.1:5000/students' in first.output
    key = first.output.split("export API_KEY=")[1].split()[0]
    assert (
        client_with(fresh, key).post("/courses", json={"code": "B1", "title": "T"}).status_code
        == 201
    )
    second = fresh.test_cli_runner().invoke(args=["api-key", "bootstrap"])
    assert "already exists" in second.output
    assert "reg_" not in second.output
    with fresh.app_context():
        db.engine.dispose()


def test_a_name_over_100_characters_is_a_one_line_usage_error(app):
    result = app.test_cli_runner().invoke(
        args=["api-key", "create", "--role", "admin", "--name", "x" * 101]
    )

    assert result.exit_code == 2
    assert "at most 100 characters" in result.output
    assert "Traceback" not in result.output
    assert "key_hash" not in result.output


def test_a_database_error_is_one_line_without_sql(tmp_path):
    unmigrated = make_app(f"sqlite:///{tmp_path / 'empty.sqlite3'}")

    result = unmigrated.test_cli_runner().invoke(args=["api-key", "list"])

    assert result.exit_code == 1
    assert "database error: no such table: api_keys" in result.output
    assert "make migrate" in result.output
    assert "SELECT" not in result.output
    assert "Traceback" not in result.output
