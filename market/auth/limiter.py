"""Lock-out after repeated failed sign-ins, counted per login (not per IP).

``LoginLimiter`` is the interface; ``MemoryLoginLimiter`` keeps the counts in
this process, which is right for one worker. Several workers need a shared
store (Redis, issue 3) behind the same three methods. Keys are opaque: callers
pass a keyed hash of the login, so no phone number sits in the limiter's store.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: Five wrong secrets in a row lock the login; each further lock lasts longer.
MAX_FAILURES = 5
LOCKOUT_SECONDS: tuple[int, ...] = (60, 300, 900, 3600)


@runtime_checkable
class LoginLimiter(Protocol):
    async def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or None when it may try now."""
        ...

    async def record_failure(self, key: str) -> None: ...

    async def reset(self, key: str) -> None:
        """Forget the failures after a successful sign-in."""
        ...


@dataclass(slots=True)
class _Record:
    failures: int = 0
    lockouts: int = 0
    locked_until: float = 0.0
    last_seen: float = 0.0


class MemoryLoginLimiter:
    """The in-process limiter: a dict of per-key counters, pruned as it grows."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        lockout_seconds: tuple[int, ...] = LOCKOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self.clock = clock
        self.max_keys = max_keys
        self._records: dict[str, _Record] = {}

    async def retry_after(self, key: str) -> int | None:
        record = self._records.get(key)
        if record is None:
            return None
        remaining = record.locked_until - self.clock()
        return math.ceil(remaining) if remaining > 0 else None

    async def record_failure(self, key: str) -> None:
        now = self.clock()
        record = self._records.get(key)
        if record is None:
            if len(self._records) >= self.max_keys:
                self._prune(now)
            record = self._records[key] = _Record()
        record.failures += 1
        record.last_seen = now
        if record.failures >= self.max_failures:
            step = min(record.lockouts, len(self.lockout_seconds) - 1)
            record.locked_until = now + self.lockout_seconds[step]
            record.lockouts += 1
            record.failures = 0

    async def reset(self, key: str) -> None:
        self._records.pop(key, None)

    def _prune(self, now: float) -> None:
        """Drop keys that are not locked and were quiet for the longest lock-out.

        Bounds memory when someone tries many different logins; a key dropped
        this way only loses failures older than an hour.
        """
        quiet = self.lockout_seconds[-1]
        for key, record in list(self._records.items()):
            if record.locked_until <= now and now - record.last_seen > quiet:
                del self._records[key]
