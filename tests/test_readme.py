"""Every curl example in the README works as written, in order, against a running server."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
README_ORIGIN = "http://127.0.0.1:5000"

#: The status each example answers with, in README order, against an empty database.
EXPECTED = [
    201, 200, 200, 200, 200,  # students: create, list, filter, read, patch
    201, 200, 200, 200,  # courses: create, filter, read, patch
    201, 204, 201, 204,  # delete a course and a student
    201, 200, 200, 200, 409, 200, 204, 404,  # enrollment walk-through
    200, 200,  # history, change feed
    201, 201, 201, 409, 202, 200, 204, 200, 200,  # waitlist walk-through
    200, 404,  # bulk enrollment
    200, 412,  # ETag
    200, 200, 200,  # health: live, ready; metrics
    422,  # error example
]  # fmt: skip


def readme_curls() -> list[str]:
    """The curl commands of the README's ``sh`` blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            command = line.split("  #")[0].strip()
            if command.startswith("curl "):
                commands.append(command)
    return commands


def test_readme_curl_examples(app, live_server):
    origin = live_server.url().rstrip("/")
    key = app.config["TEST_API_KEY"]
    statuses = []
    for command in readme_curls():
        command = command.replace(README_ORIGIN, origin).replace("$API_KEY", key)
        argv = shlex.split(command)
        result = subprocess.run(  # noqa: S603 - the README's own commands, on loopback
            [*argv, "--silent", "--output", "/dev/null", "--write-out", "%{http_code}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        statuses.append(int(result.stdout or 0))

    assert statuses == EXPECTED
