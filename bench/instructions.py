"""CPU instructions per request, counted by valgrind's callgrind.

``python -m bench.instructions DATABASE_URL`` (a database ``make bench`` seeded) prints,
for the benchmark's three requests, the instructions the service's Python spends per
request in process, with the production settings ``bench.inprocess`` uses. Unlike
seconds, the count is the same for the same code and data however busy the machine
is, so it can tell apart changes of a few per cent where wall-clock runs on a shared
machine cannot. Each request is counted as the difference of two runs, of
``SMALL`` and ``LARGE`` requests after the same start, so start-up cancels out.
PostgreSQL's and Redis's own work is not counted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SMALL, LARGE = 50, 250
REQUESTS = ("read", "cycle", "courses")


def _child(database_url: str, request: str, count: int) -> None:
    from bench import inprocess

    app, key, students, cycle = inprocess.setup(database_url, "instructions")
    # Counts must not depend on how fast the run goes: the key stays verified (as under
    # load, where a worker sees it many times a second), whatever valgrind's slowness.
    app.extensions["registrar.verified_keys"].ttl = 24 * 3600
    steps = inprocess.steps(app, key, students, cycle)
    step = steps[request]
    for n in range(100):  # warm the caches and the pool, as in every run
        step(n)
    for n in range(count):
        step(n)


def _instructions(database_url: str, request: str, count: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            sys.executable, "-m", "bench.instructions", "--child",
            database_url, request, str(count),
        ]  # fmt: skip
        subprocess.run(
            command,
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        summary = re.search(r"^summary: (\d+)", out.read_text(), re.M)
        assert summary is not None  # noqa: S101 - callgrind always writes one
        return int(summary[1])


def main() -> None:
    """Print instructions per request as JSON."""
    if sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    database_url = sys.argv[1]
    results = {}
    for request in REQUESTS:
        small = _instructions(database_url, request, SMALL)
        large = _instructions(database_url, request, LARGE)
        results[request] = round((large - small) / (LARGE - SMALL))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
