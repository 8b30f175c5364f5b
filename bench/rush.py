"""The registration rush: many students racing for a few courses' seats at once.

Each of ``connections`` clients takes the next student from a shared queue and tries
the courses in a random order (``waitlist: true``) until one enrolls the student
(201, or 202 for a place in line) or every course has refused them (409); then it
takes the next student. Kept-alive HTTP/1.1 on asyncio streams: a client this light
leaves the cores to the servers.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections import Counter
from typing import Any


async def _send(
    port: int, stream: list[Any], method: str, path: str, body: bytes, headers: str
) -> int:
    """One request on the client's connection (reopened when the server closed it)."""
    if stream[0] is None:
        stream[0] = await asyncio.open_connection("127.0.0.1", port)
    reader, writer = stream[0]
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    status_line = await reader.readline()
    length, close = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            close = True
    await reader.readexactly(length)
    if close:
        writer.close()
        stream[0] = None
    return int(status_line.split()[1])


async def _rush(
    port: int, key: str, students: list[int], courses: list[int], connections: int, seed: int
) -> dict[str, Any]:
    queue = list(reversed(students))
    rng = random.Random(seed)  # noqa: S311 - the order of tries, not a secret
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    enrolled_at: list[float] = []
    auth = f"Authorization: Bearer {key}\r\n" if key else ""

    async def client() -> None:
        stream: list[Any] = [None]
        while queue:
            student = queue.pop()
            for course in rng.sample(courses, len(courses)):
                body = json.dumps({"course_id": course, "waitlist": True}).encode()
                sent = time.perf_counter()
                status = await _send(
                    port, stream, "POST", f"/students/{student}/courses", body, auth
                )
                latencies.append(time.perf_counter() - sent)
                statuses[status] += 1
                if status in (201, 202):
                    enrolled_at.append(time.perf_counter())
                    break
                if status != 409:
                    raise RuntimeError(f"unexpected {status} for student {student}")
        if stream[0] is not None:
            stream[0][1].close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    seconds = time.perf_counter() - started
    latencies.sort()
    requests = len(latencies)
    return {
        "seconds": round(seconds, 2),
        "requests": requests,
        "enrolled": statuses[201],
        "waitlisted": statuses[202],
        # Until the last seat went: after that every request is a quick 409.
        "enrollments_per_s": round(statuses[201] / (max(enrolled_at) - started), 1),
        "requests_per_s": round(requests / seconds, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[int(0.99 * (requests - 1))], 1),
        "share_409": round(statuses[409] / requests, 3),
    }


def rush(
    port: int, key: str, students: list[int], courses: list[int], connections: int, seed: int
) -> dict[str, Any]:
    """Run one rush against the server on ``port``; return its figures."""
    return asyncio.run(_rush(port, key, students, courses, connections, seed))
