"""Operator commands: ``flask --app wsgi <command>``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import click
from flask import Flask
from flask.cli import with_appcontext

from src.extensions import db
from src.health import check_schema, code_head


class CheckFailed(click.ClickException):
    """A deployment check failed; click prints the message and exits with status 1."""


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
    help="Base URL of the deployed service, e.g. https://registrar.example.edu",
)
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait for each request.")
@with_appcontext
def deploy_check(url: str, timeout: float) -> None:
    """Check a deployment: the database is at this code's migration head, the service's
    readiness check passes, and a read request succeeds. Exits 1 with the reason if not."""
    base = url.rstrip("/")

    schema = check_schema(db.engine)
    if schema.status != "pass":
        raise CheckFailed(
            f"database: {schema.output or schema.status} (expected revision {code_head()})"
        )
    click.echo(f"ok   database is at {schema.revision} ({schema.response_time_ms} ms)")

    status, body = _get(f"{base}/health/ready", timeout)
    health = body.get("status") if isinstance(body, dict) else None
    if status != 200 or health != "pass":
        detail = body.get("output", "") if isinstance(body, dict) else ""
        raise CheckFailed(f"{base}/health/ready answered {status} {health!r} {detail}".strip())
    click.echo(f"ok   {base}/health/ready is pass")

    status, body = _get(f"{base}/courses?limit=1", timeout)
    if status != 200 or not isinstance(body, list):
        raise CheckFailed(f"{base}/courses answered {status}, expected 200 and a JSON list")
    click.echo(f"ok   {base}/courses answered 200")
    click.echo("deployment looks healthy")


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(deploy_check)
