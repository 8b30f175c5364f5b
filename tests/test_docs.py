"""Every curl example in the docs works as written, in order, against a running server,
and answers what the docs show: its status, and the JSON body printed after it."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from src.auth import oauth

ROOT = Path(__file__).resolve().parent.parent
#: The docs whose examples run, in this order (the API reference holds them all today).
DOCS = [ROOT / "README.md", *(ROOT / "docs" / name for name in ("api.md", "operations.md"))]
DOCS_ORIGIN = "http://127.0.0.1:5000"

#: The status each example answers with, in the docs' order, against an empty database.
EXPECTED = [
    201, 200, 200, 200, 200,  # students: create, list, filter, read, patch
    201, 200, 200, 200,  # courses: create, filter, read, patch
    201, 204, 201, 204,  # delete a course and a student
    201, 200, 200, 200, 409, 200, 204, 404,  # enrollment walk-through
    200, 200,  # history, change feed
    201, 201, 201, 409, 202, 200, 204, 200, 200,  # waitlist walk-through
    200, 404,  # bulk enrollment
    200, 412,  # ETag
    201, 200, 201, 200, 200, 200, 409,  # terms and offerings, search and sort
    201, 201, 200, 200, 200,  # instructors, schedules
    201, 201, 201, 409, 200, 201, 204, 201,  # registration rules: refused, checked, overridden
    201, 201, 201, 204, 200,  # a withdrawal after the drop deadline
    200, 200, 200,  # health: live, ready; metrics
    200, 200, 200, 200,  # a learning platform: its token, the school, the terms, the classes
    422,  # error example
]  # fmt: skip

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
#: Values that differ on every run: the docs show an example of each.
VARYING = {"cursor", "key_prefix", "access_token"}


def doc_examples() -> list[tuple[str, Any]]:
    """The curl commands of the docs' ``sh`` blocks, continuation lines joined, each
    with the JSON body shown right after its block (for the block's last command)."""
    examples: list[list[Any]] = []
    text = "\n".join(doc.read_text() for doc in DOCS)
    for kind, body in re.findall(r"```(sh|json)\n(.*?)```", text, re.S):
        if kind == "json":
            if examples:
                examples[-1][1] = json.loads(body)
            continue
        for line in re.sub(r"\\\n\s*", " ", body).splitlines():
            command = line.split("  #")[0].strip()
            if command.startswith("curl "):
                examples.append([command, None])
    return [(command, shown) for command, shown in examples]


def matches(shown: Any, actual: Any, key: str = "") -> bool:
    """Whether ``actual`` is what the docs show: timestamps and per-run values are
    masked, and an object with a ``"...": "..."`` entry may have more fields."""
    if key in VARYING or (key == "observedValue" and isinstance(shown, float)):
        return type(actual) is type(shown)
    if isinstance(shown, str) and TIMESTAMP.match(shown):
        return isinstance(actual, str) and bool(TIMESTAMP.match(actual))
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return False
        fields = set(shown) - {"..."}
        if "..." not in shown and fields != set(actual):
            return False
        return all(name in actual and matches(shown[name], actual[name], name) for name in fields)
    if isinstance(shown, list):
        return (
            isinstance(actual, list)
            and len(shown) == len(actual)
            and all(matches(s, a) for s, a in zip(shown, actual, strict=True))
        )
    return shown == actual


def test_the_docs_curl_examples(app, live_server, tmp_path):
    origin = live_server.url().rstrip("/")
    key = app.config["TEST_API_KEY"]
    with app.app_context():  # the client the docs' token call authenticates as
        client = oauth.create_client("Docs")
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.secret,
        }
    ).encode()
    with urllib.request.urlopen(f"{origin}/oauth/token", form, timeout=10) as answer:  # noqa: S310 - the live server on loopback
        token = json.load(answer)["access_token"]
    statuses, mismatches = [], []
    body_file = tmp_path / "body"
    for command, shown in doc_examples():
        runnable = (
            command.replace(DOCS_ORIGIN, origin)
            .replace("$API_KEY", key)
            .replace("$CLIENT_ID", client.client_id)
            .replace("$CLIENT_SECRET", client.secret)
            .replace("$TOKEN", token)
        )
        argv = [arg for arg in shlex.split(runnable) if arg != "-i"]  # the body alone
        result = subprocess.run(  # noqa: S603 - the docs' own commands, on loopback
            [*argv, "--silent", "--output", str(body_file), "--write-out", "%{http_code}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        statuses.append(int(result.stdout or 0))
        if shown is not None:
            actual = json.loads(body_file.read_text() or "null")
            if not matches(shown, actual):
                mismatches.append((command, shown, actual))

    assert statuses == EXPECTED
    assert mismatches == []
