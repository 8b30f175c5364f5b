"""Rate limits: each caller's requests counted in fixed windows, shared through Redis.

The ``limits`` library does the counting; what is ours is when to count (every
request to a non-public view, by API key or else by address), falling back to each
process's memory while Redis cannot be reached, and finding Redis again by itself.
One Redis round trip per request: the counter's increment (a Lua script that also
sets its expiry). A refused request costs one more, to say when the window ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, g
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
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
        self._shared = FixedWindowRateLimiter(self.storage)
        self._memory = FixedWindowRateLimiter(MemoryStorage())
        self.storage_dead = False
        self._retry_at = 0.0
        self._backoff = RETRY_BACKOFF[0]
        app.before_request(self.check)

    def check(self) -> None:
        """Count this request; refuse it (429) over any limit."""
        if not self.enabled or self.exempt_when():
            return
        key = self.key_func()
        for limit in self.limits:
            strategy = self._strategy()
            try:
                allowed = strategy.hit(limit, key)
            except Exception:
                self._lost()
                strategy = self._memory
                allowed = strategy.hit(limit, key)
            if not allowed:
                g.rate_limit_reset = self._reset_at(strategy, limit, key)
                raise TooManyRequests(f"Rate limit exceeded: {limit}.")

    def _strategy(self) -> FixedWindowRateLimiter:
        if not self.storage_dead:
            return self._shared
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
        return self._shared

    def _lost(self) -> None:
        if not self.storage_dead:
            log.warning("Rate limit storage unreachable: falling back to in-memory storage")
        self.storage_dead = True
        self._retry_at = time.monotonic() + self._backoff

    @staticmethod
    def _reset_at(strategy: FixedWindowRateLimiter, limit: RateLimitItem, key: str) -> float:
        try:
            return strategy.get_window_stats(limit, key).reset_time
        except Exception:
            return time.time() + limit.get_expiry()


def seconds_until_reset() -> int:
    """For a 429's ``Retry-After``: whole seconds until the exceeded window ends."""
    reset = g.get("rate_limit_reset")
    if reset is None:
        return 1
    return max(int(reset - time.time()), 1)
