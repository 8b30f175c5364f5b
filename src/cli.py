"""Operator commands: ``flask --app wsgi <command>``."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, BinaryIO

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from src.auth import keys, oauth
from src.database import current_connection, transaction
from src.database.connections import pooler_hint
from src.exceptions import InstructorNotFound, StudentNotFound
from src.health import check_schema, code_head
from src.models.api_key import ROLES
from src.models.oauth_client import SCOPES
from src.models.student import fill_email_keys
from src.seed import seed
from src.services import events, imports

log = logging.getLogger("registrar.cli")


def with_database(command: Callable[..., Any]) -> Callable[..., Any]:
    """``with_appcontext``, and any failure as one line on standard error (exit 1), never
    a traceback with SQL and parameters in it: a database error with what to do about
    it, anything else with what it was (the traceback goes to the log, at debug level)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except SQLAlchemyError as error:
            reason = next(iter(str(getattr(error, "orig", None) or error).splitlines()), "")
            hint = ""
            if "no such table" in reason or "does not exist" in reason:
                hint = " (has the database been migrated? `make migrate`)"
            raise click.ClickException(f"database error: {pooler_hint(reason)}{hint}") from None
        except Exception as error:
            log.debug("the command failed", exc_info=error)
            raise click.ClickException(f"{type(error).__name__}: {error}") from None

    return with_appcontext(run)


class CheckFailed(click.ClickException):
    """A deployment check failed; click prints the message and exits with status 1."""


def _base_url(_ctx: Any, _param: Any, value: str) -> str:
    """``--url``: an http(s) URL with a host, else a usage error (exit 2)."""
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError as error:
        raise click.BadParameter(f"{value!r} is not a URL: {error}.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(
            f"{value!r} is not an http:// or https:// URL with a host, "
            "e.g. https://registrar.example.edu."
        )
    return value.rstrip("/")


def _get(url: str, timeout: float, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - operator-given URL
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            body = json.loads(error.read() or b"null")
        except ValueError:
            body = None
        return error.code, body
    except (urllib.error.URLError, TimeoutError, ValueError) as error:
        raise CheckFailed(f"{url} did not answer: {error}") from error


@click.command("deploy-check")
@click.option(
    "--url",
    required=True,
    callback=_base_url,
    help="Base URL of the deployed service, e.g. https://registrar.example.edu",
)
@click.option(
    "--api-key", envvar="API_KEY", required=True, help="A reader (or admin) key. Env: API_KEY."
)
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait for each request.")
@with_database
def deploy_check(url: str, api_key: str, timeout: float) -> None:
    """Check a deployment: the database is at this code's migration head, the service's
    readiness check passes, and a read request succeeds. Exits 1 with the reason if not."""
    base = url

    schema = check_schema()
    if schema.status != "pass":
        raise CheckFailed(
            f"database: {schema.output or schema.status}"
            + (f" ({schema.detail})" if schema.detail else "")
            + f" (expected revision {code_head()})"
        )
    click.echo(f"ok   database is at {schema.revision} ({schema.response_time_ms} ms)")

    status, body = _get(f"{base}/health/ready", timeout)
    answer = body if isinstance(body, dict) else {}
    if status != 200 or answer.get("status") != "pass":
        # A health body says status "fail" and why; a problem (a wrong URL) its detail.
        said = answer.get("output") or answer.get("detail") or ""
        health = answer.get("status") if isinstance(answer.get("status"), str) else None
        words = " ".join(str(part) for part in (status, health, said) if part)
        raise CheckFailed(f"{base}/health/ready answered {words}")
    click.echo(f"ok   {base}/health/ready is pass")

    status, body = _get(f"{base}/courses?limit=1", timeout, {"Authorization": f"Bearer {api_key}"})
    if status != 200 or not isinstance(body, list):
        raise CheckFailed(f"{base}/courses answered {status}, expected 200 and a JSON list")
    click.echo(f"ok   {base}/courses answered 200")
    click.echo("deployment looks healthy")


def _at_most(value: str | None, length: int, option: str) -> str | None:
    if value is not None and len(value) > length:
        raise click.BadParameter(f"at most {length} characters, not {len(value)}.")
    return value


@click.group("api-key")
def api_key() -> None:
    """Create, list and revoke API keys."""


@api_key.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the key may do.")
@click.option("--student-id", type=click.IntRange(min=1), help="The student a student key acts as.")
@click.option(
    "--instructor-id",
    type=click.IntRange(min=1),
    help="The instructor an instructor key acts as.",
)
@click.option(
    "--name",
    callback=lambda _ctx, _param, value: _at_most(value, 100, "--name"),
    help="A note on who holds the key (at most 100 characters).",
)
@with_database
def create_key(
    role: str, student_id: int | None, instructor_id: int | None, name: str | None
) -> None:
    """Create a key and print it, once, alone on the last line."""
    try:
        new = keys.create_api_key(
            role, student_id=student_id, instructor_id=instructor_id, name=name
        )
    except (ValueError, StudentNotFound, InstructorNotFound) as error:
        raise click.UsageError(str(error)) from error
    target = f" for student {student_id}" if student_id else ""
    target += f" for instructor {instructor_id}" if instructor_id else ""
    click.echo(f"Created {role} key {new.prefix}{target}. It is shown only now:")
    click.echo(new.key)


@api_key.command("list")
@with_database
def list_keys() -> None:
    """List keys by prefix (the keys themselves are never stored)."""
    rows = keys.list_keys()
    columns = ("prefix", "role", "student", "instructor", "created", "last used", "revoked")
    widths = (10, 10, 8, 10, 20, 20, 20)
    click.echo(" ".join(f"{c:<{w}}" for c, w in zip(columns, widths, strict=True)) + " name")
    for key in rows:
        click.echo(
            f"{key['prefix']:<10} {key['role']:<10} {key['student_id'] or '':<8} "
            f"{key['instructor_id'] or '':<10} "
            f"{_when(key['created_at']):<20} {_when(key['last_used_at']):<20} "
            f"{_when(key['revoked_at']):<20} {key['name'] or ''}"
        )


@api_key.command("revoke")
@click.argument("prefix")
@with_database
def revoke_key(prefix: str) -> None:
    """Revoke the key with PREFIX; it stops working at once."""
    if not keys.revoke_key(prefix):
        raise click.ClickException(f"no active key has the prefix {prefix!r}")
    click.echo(f"Revoked key {prefix}.")


@click.group("oauth-client")
def oauth_client() -> None:
    """Create, list and revoke the OAuth clients of the OneRoster service."""


@oauth_client.command("create")
@click.option(
    "--name",
    required=True,
    callback=lambda _ctx, _param, value: _at_most(value, 100, "--name"),
    help="Who the client is (a learning platform), at most 100 characters.",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help="A scope the client may be granted (repeat it); every scope without it.",
)
@with_database
def create_oauth_client(name: str, scopes: tuple[str, ...]) -> None:
    """Create a client; its id and secret are the last two lines, the secret shown only now."""
    try:
        new = oauth.create_client(name, scopes or SCOPES)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    click.echo(f"Created OAuth client {new.name!r} with the scopes {' '.join(new.scopes)}.")
    click.echo("The secret is shown only now:")
    click.echo(f"client_id: {new.client_id}")
    click.echo(f"client_secret: {new.secret}")


@oauth_client.command("list")
@with_database
def list_oauth_clients() -> None:
    """List clients (never their secrets)."""
    click.echo(f"{'client_id':<28} {'created':<20} {'revoked':<20} name; scopes")
    for client in oauth.list_clients():
        click.echo(
            f"{client['client_id']:<28} {_when(client['created_at']):<20} "
            f"{_when(client['revoked_at']):<20} {client['name']}; {client['scopes']}"
        )


@oauth_client.command("revoke")
@click.argument("client_id")
@with_database
def revoke_oauth_client(client_id: str) -> None:
    """Revoke the client CLIENT_ID; its tokens stop working at once."""
    if not oauth.revoke_client(client_id):
        raise click.ClickException(f"no active OAuth client has the id {client_id!r}")
    click.echo(f"Revoked OAuth client {client_id}.")


@api_key.command("bootstrap")
@click.option("--url", default="http://127.0.0.1:5000", show_default=True)
@with_database
def bootstrap_key(url: str) -> None:
    """Create a first admin key if the database has no working one (``make run`` does)."""
    if keys.has_admin_key():
        click.echo(
            "An admin API key already exists (see `flask --app wsgi api-key list`); "
            "make another with `flask --app wsgi api-key create --role admin`."
        )
        return
    new = keys.create_api_key("admin", name="created by make run")
    click.echo("Created an admin API key for this database. It is shown only now:")
    click.echo(f"  export API_KEY={new.key}")
    click.echo(f'  curl -H "Authorization: Bearer $API_KEY" {url}/students')


@click.command("seed")
@click.option("--students", type=click.IntRange(min=0), default=50, show_default=True)
@click.option("--courses", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--per-student", type=click.IntRange(min=0), default=3, show_default=True)
@click.option("--random-seed", type=int, help="Make the data reproducible.")
@with_database
def seed_command(students: int, courses: int, per_student: int, random_seed: int | None) -> None:
    """Fill the database with realistic students, courses and enrollments, in bulk."""
    started = time.perf_counter()
    try:
        result = seed(
            students,
            courses,
            per_student,
            rng=random.Random(random_seed),  # noqa: S311
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    elapsed = time.perf_counter() - started
    click.echo(
        f"Seeded {result.students} students, {result.courses} courses and "
        f"{result.enrollments} enrollments in {elapsed:.1f} s."
    )


@click.group("events")
def events_group() -> None:
    """Manage the enrollment history and change feed."""


@events_group.command("prune")
@click.option(
    "--before",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    required=True,
    help="Delete events that occurred before this UTC date (or date and time), not later than now.",
)
@click.option("--dry-run", is_flag=True, help="Say what would go and what would stay; delete none.")
@with_database
def prune_events(before: datetime, dry_run: bool) -> None:
    """Delete old events, to limit how long the history is kept.

    The events that explain what exists now stay (for every enrollment the event that
    made it, for every place in a line its ``waitlisted``): replaying the feed from the
    start still rebuilds every enrollment. A feed client that had not read past the
    deleted events gets 410 cursor-expired, and resyncs.
    """
    cut = before.replace(tzinfo=UTC)
    if cut > datetime.now(UTC):
        raise click.BadParameter(
            f"{before:%Y-%m-%d %H:%M:%S} UTC is in the future: it would delete events "
            "that have not happened yet.",
            param_hint="'--before'",
        )
    pruned = events.prune(cut, dry_run=dry_run)
    plural = "" if pruned.deleted == 1 else "s"
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(f"{verb} {pruned.deleted} event{plural} before {before:%Y-%m-%d %H:%M:%S} UTC.")
    click.echo(
        f"Kept {pruned.kept_for_enrollments + pruned.kept_for_waitlists} older events that "
        f"explain what exists now: {pruned.kept_for_enrollments} made current enrollments, "
        f"{pruned.kept_for_waitlists} current places in a line."
    )


@click.group("enrollments")
def enrollments_group() -> None:
    """Enrollments in bulk."""


class ImportFailed(click.ClickException):
    """An import found bad lines; nothing was written."""


@enrollments_group.command("import")
@click.argument("csv_file", type=click.File("rb"))
@click.option("--dry-run", is_flag=True, help="Check every line and write nothing.")
@with_database
def import_enrollments(csv_file: BinaryIO, dry_run: bool) -> None:
    """Enroll the pairs of a CSV file with the header ``student_email,course_code``.

    Emails and codes match without regard to case, as the API's do. All or nothing:
    any bad line (unknown student or course, a pair given twice, a course without
    room) is printed with its line number, and nothing is written. Pairs already
    enrolled are counted and left as they are, so running a file again is safe.
    """
    try:
        with events.acting_as(events.CLI):
            result = imports.import_csv(csv_file.read(), dry_run=dry_run, progress=_progress)
    except imports.ImportRejected as error:
        for line, reason in error.problems:
            click.echo(f"line {line}: {reason}" if line else reason, err=True)
        raise ImportFailed(
            f"{len(error.problems)} bad line{'s' if len(error.problems) != 1 else ''}; "
            "nothing was written."
        ) from error
    verb = "Would enroll" if dry_run else "Enrolled"
    click.echo(
        f"{verb} {result.created} new pair{'s' if result.created != 1 else ''}; "
        f"{result.existing} already enrolled."
    )


def _progress(total: int) -> Any:
    """A progress bar on a terminal; nothing elsewhere (click would print its label)."""
    if not sys.stdout.isatty():
        return contextlib.nullcontext()
    return click.progressbar(length=total, label="Enrolling")


@click.group("students")
def students_group() -> None:
    """Maintenance of students."""


@students_group.command("fill-email-keys")
@with_database
def fill_email_keys_command() -> None:
    """Give the students created by the previous version during a rolling deploy their
    email key (see the 20260301 migration). Safe to run any time; a batch at a time."""
    with transaction():
        filled = fill_email_keys(current_connection())
    click.echo(f"Filled the email key of {filled} student{'' if filled == 1 else 's'}.")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(deploy_check)
    app.cli.add_command(api_key)
    app.cli.add_command(oauth_client)
    app.cli.add_command(seed_command)
    app.cli.add_command(events_group)
    app.cli.add_command(enrollments_group)
    app.cli.add_command(students_group)
