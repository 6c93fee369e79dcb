"""Lock-out after repeated failed sign-ins, counted per login (not per IP).

``LoginLimiter`` is the interface. ``MemoryLoginLimiter`` keeps the counts in
this process, which is right for one worker; ``RedisLoginLimiter`` keeps them
in Redis, shared by every worker and server (used when ``REDIS_URL`` is set).

An attempt is counted *before* the secret is checked (``acquire``) and
forgotten on success (``reset``). So a burst of a thousand concurrent guesses
gets at most ``MAX_FAILURES`` secret checks: the others find the login locked
without anyone hashing anything. Keys are opaque: callers pass a keyed hash of
the login, so no phone number sits in the limiter's store.
"""

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from market.errors import Unavailable

log = logging.getLogger(__name__)

#: Five wrong secrets in a row lock the login; each further lock lasts longer.
MAX_FAILURES = 5
LOCKOUT_SECONDS: tuple[int, ...] = (60, 300, 900, 3600)
#: How long a login's history of lock-outs is remembered after its last attempt.
FORGET_AFTER_SECONDS = 24 * 3600


@runtime_checkable
class LoginLimiter(Protocol):
    async def acquire(self, key: str) -> int | None:
        """Count one attempt on ``key`` before its secret is checked.

        Returns None when the attempt may go ahead (it counts as a failure until
        ``reset``), or the seconds to wait when ``key`` is locked (not counted).
        """
        ...

    async def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or None when it may try now."""
        ...

    async def record_failure(self, key: str) -> None:
        """Count a failure that was not ``acquire``d first."""
        ...

    async def reset(self, key: str) -> None:
        """Forget the failures after a successful sign-in (or an unlock)."""
        ...


@dataclass(slots=True)
class _Record:
    failures: int = 0
    lockouts: int = 0
    locked_until: float = 0.0
    last_seen: float = 0.0


class MemoryLoginLimiter:
    """The in-process limiter: a dict of per-key counters, pruned as it grows.

    Every method runs without awaiting, so on one event loop each is atomic.
    """

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        lockout_seconds: tuple[int, ...] = LOCKOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
        forget_after: int = FORGET_AFTER_SECONDS,
    ) -> None:
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self.clock = clock
        self.max_keys = max_keys
        self.forget_after = forget_after
        self._records: dict[str, _Record] = {}

    async def acquire(self, key: str) -> int | None:
        now = self.clock()
        record = self._record(key, now)
        if record.locked_until > now:
            return math.ceil(record.locked_until - now)
        self._count(record, now)
        return None

    async def retry_after(self, key: str) -> int | None:
        record = self._records.get(key)
        if record is None:
            return None
        remaining = record.locked_until - self.clock()
        return math.ceil(remaining) if remaining > 0 else None

    async def record_failure(self, key: str) -> None:
        now = self.clock()
        self._count(self._record(key, now), now)

    async def reset(self, key: str) -> None:
        self._records.pop(key, None)

    def _record(self, key: str, now: float) -> _Record:
        record = self._records.get(key)
        if record is not None and now - record.last_seen > self.forget_after \
                and record.locked_until <= now:
            record = None
        if record is None:
            if len(self._records) >= self.max_keys:
                self._prune(now)
            record = self._records[key] = _Record()
        return record

    def _count(self, record: _Record, now: float) -> None:
        record.failures += 1
        record.last_seen = now
        if record.failures >= self.max_failures:
            step = min(record.lockouts, len(self.lockout_seconds) - 1)
            record.locked_until = now + self.lockout_seconds[step]
            record.lockouts += 1
            record.failures = 0

    def _prune(self, now: float) -> None:
        """Make room: drop keys quiet for the longest lock-out, then, if that was not
        enough, the oldest unlocked keys until a tenth of the room is free.

        Bounds memory when someone sprays many different logins. A key dropped
        early only loses failures short of a lock (locked keys are kept).
        """
        quiet = self.lockout_seconds[-1]
        for key, record in list(self._records.items()):
            if record.locked_until <= now and now - record.last_seen > quiet:
                del self._records[key]
        excess = len(self._records) - int(self.max_keys * 0.9)
        if excess <= 0:
            return
        unlocked = sorted(
            (record.last_seen, key) for key, record in self._records.items()
            if record.locked_until <= now
        )
        for _, key in unlocked[:excess]:
            del self._records[key]


# One round trip, atomic in Redis: read the lock, count the attempt, maybe lock.
# KEYS[1] the login's hash; ARGV: now (whole ms, so no float rounding), max failures,
# forget-after (s), check the lock (1/0), lock steps (s)... Returns 0 when the attempt
# may go ahead, else the whole seconds left to wait.
_ACQUIRE = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local max_failures = tonumber(ARGV[2])
local forget_after = tonumber(ARGV[3])
local check_lock = ARGV[4] == '1'
local locked_until = tonumber(redis.call('HGET', key, 'locked_until') or '0')
if check_lock and locked_until > now then
  return math.ceil((locked_until - now) / 1000)
end
local failures = redis.call('HINCRBY', key, 'failures', 1)
if failures >= max_failures then
  local lockouts = tonumber(redis.call('HGET', key, 'lockouts') or '0')
  local steps = #ARGV - 4
  local step = math.min(lockouts, steps - 1)
  locked_until = now + 1000 * tonumber(ARGV[5 + step])
  redis.call('HSET', key, 'failures', 0, 'lockouts', lockouts + 1,
             'locked_until', string.format('%d', locked_until))
end
local ttl = forget_after
if locked_until > now then
  ttl = ttl + math.ceil((locked_until - now) / 1000)
end
redis.call('EXPIRE', key, ttl)
return 0
"""


class RedisLoginLimiter:
    """The shared limiter: one Redis hash per login key, changed only by a Lua script.

    Times are the clients' wall clocks (the servers of one deployment keep
    them in step); each key expires a day after its last attempt or lock.
    If Redis cannot be reached, sign-in is refused (503) rather than unguarded.
    """

    def __init__(
        self,
        redis,  # redis.asyncio.Redis
        *,
        prefix: str = "market:login:",
        max_failures: int = MAX_FAILURES,
        lockout_seconds: tuple[int, ...] = LOCKOUT_SECONDS,
        clock: Callable[[], float] = time.time,
        forget_after: int = FORGET_AFTER_SECONDS,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self.clock = clock
        self.forget_after = forget_after
        self._script = redis.register_script(_ACQUIRE)

    @classmethod
    def from_url(cls, url: str, **options) -> "RedisLoginLimiter":
        from redis.asyncio import BlockingConnectionPool, Redis

        # A burst of sign-ins waits for one of 50 connections (up to 5 s)
        # instead of failing when the pool is exhausted.
        pool = BlockingConnectionPool.from_url(
            url, max_connections=50, timeout=5, socket_timeout=5, socket_connect_timeout=5
        )
        return cls(Redis(connection_pool=pool), **options)

    async def close(self) -> None:
        await self.redis.aclose()

    async def _run(self, key: str, check_lock: bool) -> int:
        args = [int(self.clock() * 1000), self.max_failures, self.forget_after, "1" if check_lock else "0",
                *self.lockout_seconds]
        try:
            return int(await self._script(keys=[self.prefix + key], args=args))
        except Exception as error:
            from redis.exceptions import RedisError

            if isinstance(error, (RedisError, OSError)):
                log.error("login limiter: Redis unavailable (%s)", type(error).__name__)
                raise Unavailable() from error
            raise

    async def acquire(self, key: str) -> int | None:
        wait = await self._run(key, check_lock=True)
        return wait or None

    async def record_failure(self, key: str) -> None:
        await self._run(key, check_lock=False)

    async def retry_after(self, key: str) -> int | None:
        try:
            locked_until = await self.redis.hget(self.prefix + key, "locked_until")
        except Exception as error:
            raise Unavailable() from error
        remaining = int(locked_until or 0) - int(self.clock() * 1000)
        return math.ceil(remaining / 1000) if remaining > 0 else None

    async def reset(self, key: str) -> None:
        try:
            await self.redis.delete(self.prefix + key)
        except Exception as error:
            raise Unavailable() from error


def limiter_from_url(redis_url: str | None) -> LoginLimiter:
    """Redis when a URL is configured (several workers), else this process's memory."""
    if redis_url:
        return RedisLoginLimiter.from_url(redis_url)
    return MemoryLoginLimiter()
