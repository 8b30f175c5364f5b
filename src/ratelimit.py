"""Rate limits: each caller's requests counted in fixed windows, shared through Redis.

The ``limits`` library's storage does the counting; what is ours is when to count
(every request to a non-public view, by API key or else by address), falling back to
each process's memory while Redis cannot be reached, finding Redis again by itself,
and telling the caller where it stands. Windows are aligned to the clock (a per-second
limit's window is each second; a per-minute one each minute), so the state every
limited response carries (``RateLimit-Limit``, ``RateLimit-Remaining``,
``RateLimit-Reset``, the IETF draft's fields) costs nothing beyond the one Redis round
trip of the count itself: the increment (a Lua script that also sets its expiry)
returns the count, and the window's end follows from the clock.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger("registrar.ratelimit")

#: How long to wait before trying a lost Redis again: doubling from the first, up to the last.
RETRY_BACKOFF = (1.0, 32.0)


class RateLimiter:
    """Applies ``RATE_LIMIT`` to every request not exempted by ``exempt_when``.

    ``storage_dead`` is true while Redis is unreachable and this process counts in its
    own memory (the metrics and the readiness check report it).
    """

    def __init__(
        self,
        app: Flask,
        *,
        key_func: Callable[[], str],
        exempt_when: Callable[[], bool],
        storage_options: dict[str, Any],
    ) -> None:
        self.key_func = key_func
        self.exempt_when = exempt_when
        self.enabled = app.config.get("RATELIMIT_ENABLED", True)
        self.limits: list[RateLimitItem] = list(parse_many(app.config["RATE_LIMIT"]))
        self.storage: Storage = storage_from_string(
            app.config["RATELIMIT_STORAGE_URI"], **storage_options
        )
        self._memory: Storage = MemoryStorage()
        self.storage_dead = False
        self._retry_at = 0.0
        self._backoff = RETRY_BACKOFF[0]
        app.before_request(self.check)
        app.after_request(self.tell)

    def check(self) -> None:
        """Count this request; refuse it (429) over any limit."""
        g.rate_limit = None
        if not self.enabled or self.exempt_when():
            return
        key = self.key_func()
        now = time.time()
        tightest: State | None = None
        for limit in self.limits:
            window = limit.get_expiry()
            start = int(now // window) * window
            counter = limit.key_for(key, str(start))
            storage = self._storage()
            try:
                count = storage.incr(counter, window)
            except Exception:
                self._lost()
                count = self._memory.incr(counter, window)
            state = State(limit.amount, max(limit.amount - count, 0), start + window - now)
            if tightest is None or state.remaining < tightest.remaining:
                tightest = state
            if count > limit.amount:
                g.rate_limit = state
                raise TooManyRequests(f"Rate limit exceeded: {limit}.")
        g.rate_limit = tightest

    @staticmethod
    def tell(response: Response) -> Response:
        """Say where the caller stands on the limit nearest to refusing them."""
        state: State | None = g.get("rate_limit")
        if state is not None:
            response.headers["RateLimit-Limit"] = str(state.limit)
            response.headers["RateLimit-Remaining"] = str(state.remaining)
            response.headers["RateLimit-Reset"] = str(state.reset_seconds)
        return response

    def _storage(self) -> Storage:
        if not self.storage_dead:
            return self.storage
        if time.monotonic() < self._retry_at:
            return self._memory
        try:
            back = self.storage.check()
        except Exception:
            back = False
        if not back:
            self._backoff = min(self._backoff * 2, RETRY_BACKOFF[1])
            self._retry_at = time.monotonic() + self._backoff
            return self._memory
        log.info("Rate limit storage reachable again: counting in it again")
        self.storage_dead = False
        self._backoff = RETRY_BACKOFF[0]
        return self.storage

    def _lost(self) -> None:
        if not self.storage_dead:
            log.warning("Rate limit storage unreachable: falling back to in-memory storage")
        self.storage_dead = True
        self._retry_at = time.monotonic() + self._backoff


@dataclass(frozen=True)
class State:
    """Where a caller stands on one limit: its size, what is left, and when it resets."""

    limit: int
    remaining: int
    reset_in: float

    @property
    def reset_seconds(self) -> int:
        """Whole seconds until the window ends, rounded up (at least 1)."""
        return max(math.ceil(self.reset_in), 1)


def seconds_until_reset() -> int:
    """For a 429's ``Retry-After``: whole seconds until the exceeded window ends."""
    state: State | None = g.get("rate_limit")
    return 1 if state is None else state.reset_seconds
