"""What each process remembers of the keys it checked, to spare the database.

Per process and in memory, on purpose: they must hold when Redis does not, and they
bound their own size.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from src.auth.keys import Principal

#: How long a process trusts a key it verified without asking the database again
#: (seconds): a revoked key, or a deleted student's, is refused by every worker of every
#: instance at most this long after the change commits.
KEY_CACHE_SECONDS = 1.0


class VerifiedKeys:
    """The keys this process verified in the last :data:`KEY_CACHE_SECONDS`, by hash.

    A key lookup is a statement per request; a client sends many requests a second
    with one key. Entries expire instead of being told of revocations: that bounds how
    long a revoked key works with no channel from the database to every worker.
    """

    def __init__(self, ttl: float = KEY_CACHE_SECONDS, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, digest: str) -> Principal | None:
        """The principal of a key verified lately, or ``None``."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(digest, None)
            return None
        return entry[1]

    def put(self, digest: str, principal: Principal) -> None:
        """Remember a key just verified."""
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self.ttl, principal)

    def forget_student(self, student_id: int) -> None:
        """Drop a deleted student's keys: this process refuses them at once."""
        self._forget(lambda principal: principal.student_id == student_id)

    def forget_instructor(self, instructor_id: int) -> None:
        """Drop a deleted instructor's keys: this process refuses them at once."""
        self._forget(lambda principal: principal.instructor_id == instructor_id)

    def _forget(self, whose: Callable[[Principal], bool]) -> None:
        for digest, (_, principal) in list(self._entries.items()):
            if whose(principal):
                self._entries.pop(digest, None)


#: How long a key seen valid keeps being looked up whatever its address did (seconds).
VALID_KEY_MEMORY = 60.0


class FailedLookups:
    """What a process remembers of keys that failed, to bound the database work that
    callers without a valid key can cause (the rate limit counts them by address, but
    only after their key was looked up).

    - A key that failed is not looked up again for ``ttl`` seconds (by its hash).
    - An address whose lookups failed ``per_address`` times within ``ttl`` seconds gets
      no lookup of a key this process has not seen valid lately, until the window
      passes: such keys count as invalid (401, then 429 from the limiter by address)
      without touching the database. Keys seen valid in the last minute still work.

    Per app and in memory, on purpose: it must hold when Redis does not.
    """

    def __init__(self, ttl: float = 10.0, per_address: int = 10, size: int = 10_000) -> None:
        self.ttl = ttl
        self.per_address = per_address
        self.size = size
        self._failed: dict[str, float] = {}
        self._valid: dict[str, float] = {}
        self._addresses: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def should_skip(self, digest: str, address: str | None) -> bool:
        """Whether to treat the key with this hash as invalid without looking it up."""
        now = time.monotonic()
        with self._lock:
            if self._failed.get(digest, 0) > now:
                return True
            if self._valid.get(digest, 0) > now:
                return False
            recent = [t for t in self._addresses.get(address or "", ()) if t > now]
            return len(recent) >= self.per_address

    def record(self, digest: str, address: str | None, *, valid: bool) -> None:
        """Remember the outcome of a lookup of the key with this hash."""
        now = time.monotonic()
        with self._lock:
            if len(self._failed) + len(self._valid) + len(self._addresses) > self.size:
                self._failed, self._valid, self._addresses = {}, {}, {}
            if valid:
                self._valid[digest] = now + VALID_KEY_MEMORY
                return
            self._failed[digest] = now + self.ttl
            recent = [t for t in self._addresses.get(address or "", ()) if t > now]
            self._addresses[address or ""] = [*recent, now + self.ttl]
