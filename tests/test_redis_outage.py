"""Redis is a helper, not a single point of failure: a Redis of its own is stopped in
the middle of a stream of requests and started again."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from tests.conftest import in_a_fresh_window, make_app, new_key, program

pytestmark = pytest.mark.postgresql

LIMIT = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server on a free loopback port, keeping nothing on disk."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = program("redis-server", "redis-server")
        self.process = subprocess.Popen(  # noqa: S603 - a fixed local binary on loopback
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.stop()


def test_requests_keep_being_served_while_redis_is_down(app, database_url, own_redis, caplog):
    config = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": own_redis.url,
        "RATE_LIMIT": f"{LIMIT}/minute",
    }
    first, second = make_app(database_url, **config), make_app(database_url, **config)
    keys = [new_key(app) for _ in range(8)]
    reader = new_key(app, "reader")
    statuses: list[int] = []
    readiness: list[str] = []

    def stream(n: int) -> None:
        for i in range(n):
            response = first.test_client(api_key=keys[i % len(keys)]).get("/courses")
            statuses.append(response.status_code)

    def ready() -> str:
        response = first.test_client(api_key=None).get("/health/ready")
        assert response.status_code == 200
        body = response.get_json()
        readiness.append(body["status"])
        return body["checks"]["redis:connection"][0]["status"]

    def storage_up() -> bool:
        metrics = first.test_client(api_key=reader).get("/metrics").get_data(as_text=True)
        return "registrar_rate_limit_storage_up 1.0" in metrics

    stream(8)
    assert ready() == "pass"
    own_redis.stop()
    with caplog.at_level(logging.WARNING):
        stream(40)
    assert ready() == "warn"
    assert not storage_up()
    own_redis.start()
    deadline = time.monotonic() + 45  # the limiter retries Redis with a backoff (1 to 32 s)
    while not storage_up() and time.monotonic() < deadline:
        stream(1)
        time.sleep(0.5)
    assert storage_up(), "rate limits did not go back to Redis by themselves"
    assert ready() == "pass"

    assert statuses, statuses
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) <= {200, 429}
    fallbacks = [r for r in caplog.records if "falling back to in-memory" in r.getMessage()]
    assert len(fallbacks) == 1, "one warning per outage, not one per request"
    assert readiness == ["pass", "warn", "pass"]

    # Shared again: one key's requests split over both apps count together.
    shared = new_key(app)
    in_a_fresh_window(60)
    answers = [
        (first if n % 2 else second).test_client(api_key=shared).get("/courses").status_code
        for n in range(LIMIT + 4)
    ]
    assert answers.count(200) == LIMIT, answers
    assert answers.count(429) == 4, answers
    assert "registrar_rate_limit_storage_fallbacks_total 1.0" in first.test_client(
        api_key=reader
    ).get("/metrics").get_data(as_text=True)
