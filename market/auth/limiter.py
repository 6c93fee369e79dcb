"""Sign-in limits: failures counted per person, per source address and network, and in total.

The policy follows OWASP's Authentication Cheat Sheet ("Account Lockout", "Protect Against
Automated Attacks": https://cheatsheetseries.owasp.org/cheatsheets/Authentication_Cheat_Sheet.html):
each way of guessing meets a counter of its own, because each attack spreads its guesses
differently (issue 14).

- **Per person** (``MAX_FAILURES``): one person's PIN guessed at. Every login that names the
  person counts on one key (phone or card number alike; ``market.auth.sessions.person_limiter_key``),
  and so do the counter's card + PIN and a PIN change; a login naming nobody counts on itself, so
  guessing looks the same whether the login exists or not.
- **Per source** (``SOURCE_MAX_FAILURES``): one common PIN sprayed over many logins from one
  address (an IPv4 address, an IPv6 /64: one subscriber), whoever the logins name.
- **Per network** (``NETWORK_MAX_FAILURES``): the same spraying spread over the addresses of one
  network (an IPv4 /24, an IPv6 /48), where a new address is cheap.
- **In total** (``TOTAL_FAILURES_PER_MINUTE``, ``TotalFailures``): failed sign-ins of the whole
  installation in each clock minute, whatever their source: a botnet's spraying from everywhere.

Locks slow guessing down rather than shut people out: a person, source or network is locked for
60 s at first, each further lock lasting longer up to an hour (``LOCKOUT_SECONDS``), after which it
may try again; the total refuses for the rest of its minute only. A success forgives the failures
of its person, source and network, never the total's. The office's way back in for a locked-out
resident is setting a new PIN (``market.cards.service.set_pin``): that lifts the person's lock.

An attempt is counted *before* the secret is checked (``acquire``) and forgotten on success
(``reset``). So a burst of a thousand concurrent guesses gets at most ``MAX_FAILURES`` secret
checks: the others find the login locked without anyone hashing anything. The total, which a
success must not fill, is looked at before and counted after a failed check (``TotalFailures``).
Keys are opaque: callers pass a keyed hash of the login or address, so no phone number or address
sits in the limiter's store.

``LoginLimiter`` is the interface; each instance has one ``max_failures``, so each limit above is
an instance of its own (``limiter_from_url``). ``DatabaseLoginLimiter`` keeps the counts in the
market's database, shared by every worker and host: the default. With ``REDIS_URL`` set,
``RedisLoginLimiter`` keeps them in Redis instead (one round trip to Redis instead of a database
write per attempt). ``MemoryLoginLimiter`` keeps them in this process only, for unit tests: with
several workers each would count on its own (2 workers allowed 10 wrong PINs instead of 5).
"""

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from market.errors import Unavailable
from market.writes import statement

log = logging.getLogger(__name__)

#: Five wrong secrets in a row lock the login; each further lock lasts longer.
MAX_FAILURES = 5
LOCKOUT_SECONDS: tuple[int, ...] = (60, 300, 900, 3600)
#: Failures from one source (an IPv4 address, an IPv6 /64) before it is locked, whoever it
#: names: above what a community office's shared connection sees from residents' typos, far
#: below what spraying one common PIN over many logins needs (issue 14: 40 logins × 123456).
SOURCE_MAX_FAILURES = 20
#: Failures from one network (an IPv4 /24, an IPv6 /48) before it is locked. Higher than a
#: source's: a campus's or office's NAT, or a mobile carrier's carrier-grade NAT, puts many
#: residents behind the addresses of one /24, and each of their typos counts here; 100 is five
#: sources' worth, still far below spraying from a rented /24 (254 addresses × 20 guesses).
NETWORK_MAX_FAILURES = 100
#: Failed sign-ins of the whole installation in one clock minute before sign-in is refused for
#: the rest of the minute. Far above the typos of a town's residents, even all signing in at once
#: on a busy morning; and it caps at 300 guesses a minute a botnet's spraying from everywhere,
#: whose every source and network stays under its own limit.
TOTAL_FAILURES_PER_MINUTE = 300
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


#: Runs hand-written SQL (``{}`` marks each argument) and returns its rows: ``market.db.fetch``.
Fetch = Callable[..., Awaitable[list[dict]]]


class DatabaseLoginLimiter:
    """The shared limiter without Redis: a row per login key in the market's database.

    Each attempt is one statement, an upsert whose update decides everything from the row
    as it was (in an UPDATE every expression reads the old row): refuse while locked, else
    count the failure and lock at ``max_failures``, a longer lock each time. The database
    applies it atomically whatever the number of workers and hosts (PostgreSQL locks the
    row, SQLite the file), so concurrent guesses cannot overshoot the limit; ``admitted``
    says which way this attempt went. Times are the clients' wall clocks in whole ms, as
    for Redis. The database being down makes sign-in fail (closed), as any query would.
    """

    def __init__(
        self,
        *,
        max_failures: int = MAX_FAILURES,
        lockout_seconds: tuple[int, ...] = LOCKOUT_SECONDS,
        clock: Callable[[], float] = time.time,
        forget_after: int = FORGET_AFTER_SECONDS,
        fetch: Fetch | None = None,
    ) -> None:
        if max_failures < 1 or not lockout_seconds:
            raise ValueError("a limiter needs max_failures >= 1 and at least one lock-out step")
        self.max_failures = max_failures
        self.lockout_seconds = tuple(int(s) for s in lockout_seconds)
        self.clock = clock
        self.forget_after = forget_after
        self._fetch = fetch
        self._acquire = self._upsert(check_lock=True)
        self._failure = self._upsert(check_lock=False)

    def _upsert(self, *, check_lock: bool) -> str:
        """The one statement of an attempt. The limits are integers of this limiter written
        into the text (one prepared statement per limiter); the key and the time are bound."""
        row, now = "login_limit", "excluded.last_seen_ms"
        refuse = f"{row}.locked_until_ms > {now}" if check_lock else "1 = 0"
        # A key quiet for ``forget_after`` (and not locked) starts again from nothing.
        fresh = (f"({row}.last_seen_ms < {now} - {int(self.forget_after) * 1000}"
                 f" AND {row}.locked_until_ms <= {now})")
        failures = f"(CASE WHEN {fresh} THEN 0 ELSE {row}.failures END)"
        lockouts = f"(CASE WHEN {fresh} THEN 0 ELSE {row}.lockouts END)"
        hit = f"{failures} + 1 >= {int(self.max_failures)}"
        steps = " ".join(f"WHEN {n} THEN {seconds * 1000}"
                         for n, seconds in enumerate(self.lockout_seconds[:-1]))
        last_ms = self.lockout_seconds[-1] * 1000
        # One step (the total's minute) is a constant: SQL has no CASE without a WHEN.
        lock_ms = f"(CASE {lockouts} {steps} ELSE {last_ms} END)" if steps else str(last_ms)
        return (
            "INSERT INTO login_limit (login_key, failures, lockouts, locked_until_ms, last_seen_ms,"
            " admitted) VALUES ({}, {}, {}, {}, {}, 1)"
            " ON CONFLICT (login_key) DO UPDATE SET"
            f" failures = CASE WHEN {refuse} THEN {row}.failures WHEN {hit} THEN 0"
            f" ELSE {failures} + 1 END,"
            f" lockouts = CASE WHEN {refuse} THEN {row}.lockouts WHEN {hit} THEN {lockouts} + 1"
            f" ELSE {lockouts} END,"
            f" locked_until_ms = CASE WHEN {refuse} THEN {row}.locked_until_ms"
            f" WHEN {hit} THEN {now} + {lock_ms} ELSE {row}.locked_until_ms END,"
            f" last_seen_ms = CASE WHEN {refuse} THEN {row}.last_seen_ms ELSE {now} END,"
            f" admitted = CASE WHEN {refuse} THEN 0 ELSE 1 END"
            " RETURNING admitted, locked_until_ms, last_seen_ms"
        )

    async def _run(self, sql: str, *args: object) -> list[dict]:
        # On SQLite on the writer, like every write (``market.writes.statement``).
        return await (self._fetch or statement)(sql, *args)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def _attempt(self, sql: str, key: str) -> int | None:
        now = self._now_ms()
        # The first attempt on a key inserts its row: one failure, or a lock at once
        # when a single failure is the limit.
        first_locks = self.max_failures <= 1
        rows = await self._run(
            sql, key, 0 if first_locks else 1, 1 if first_locks else 0,
            now + self.lockout_seconds[0] * 1000 if first_locks else 0, now,
        )
        row = rows[0]
        if row["admitted"]:
            return None
        # Counted from the locking attempt's time if that is later than ours (it read the
        # clock after us but reached the row first), so a lock of 60 s never says 61.
        since = max(now, row["last_seen_ms"])
        return max(1, math.ceil((row["locked_until_ms"] - since) / 1000))

    async def acquire(self, key: str) -> int | None:
        return await self._attempt(self._acquire, key)

    async def record_failure(self, key: str) -> None:
        await self._attempt(self._failure, key)

    async def retry_after(self, key: str) -> int | None:
        rows = await self._run("SELECT locked_until_ms FROM login_limit WHERE login_key = {}", key)
        if not rows:
            return None
        remaining = rows[0]["locked_until_ms"] - self._now_ms()
        return math.ceil(remaining / 1000) if remaining > 0 else None

    async def reset(self, key: str) -> None:
        await self._run("DELETE FROM login_limit WHERE login_key = {}", key)

    async def prune(self) -> int:
        """Forget keys quiet for ``forget_after`` and not locked (they would start afresh
        anyway); returns how many. The background housekeeping calls it."""
        now = self._now_ms()
        gone = await self._run(
            "DELETE FROM login_limit WHERE last_seen_ms < {} AND locked_until_ms <= {}"
            " RETURNING login_key", now - self.forget_after * 1000, now,
        )
        return len(gone)


class TotalFailures:
    """Failed sign-ins of the whole installation per clock minute: a fixed window.

    The count of a minute is the key ``total:<minute>`` of ``limiter``, a limiter whose
    ``max_failures`` is the limit of a minute and whose lock lasts at least a minute
    (``limiter_from_url(..., kind="total")``): the lock then outlasts its minute, and the next
    minute is a new key, counted from nothing. Callers look at ``retry_after`` before any other
    counting and call ``record_failure`` only after a failed check: a success is not counted, and
    nothing resets the total. Concurrent failures in flight when the limit is reached may pass it
    by their number; that is the price of not counting successes.

    Keys of past minutes are left to expire: in Redis after ``forget_after``; in the database the
    hourly housekeeping prunes them with every other key quiet for a day
    (``DatabaseLoginLimiter.prune``), so at most about a day of minutes (some 1,500 rows) is kept.
    """

    WINDOW_SECONDS = 60

    def __init__(self, limiter: LoginLimiter, *, clock: Callable[[], float] = time.time) -> None:
        self.limiter = limiter
        self.clock = clock

    def _minute(self) -> tuple[str, float]:
        """The key of the current minute, and the seconds left in it."""
        now = self.clock()
        minute = math.floor(now / self.WINDOW_SECONDS)
        return f"total:{minute}", (minute + 1) * self.WINDOW_SECONDS - now

    async def retry_after(self) -> int | None:
        """None while the installation may check secrets; else the seconds to the next minute."""
        key, left = self._minute()
        if await self.limiter.retry_after(key) is None:
            return None
        return max(1, math.ceil(left))

    async def record_failure(self) -> None:
        await self.limiter.record_failure(self._minute()[0])


def limiter_from_url(
    redis_url: str | None, *, kind: Literal["person", "source", "network", "total"] = "person"
) -> LoginLimiter:
    """Redis when a URL is configured, else the database: either way every worker and host
    counts together. ``kind``: "person" (``MAX_FAILURES``), "source" (``SOURCE_MAX_FAILURES``),
    "network" (``NETWORK_MAX_FAILURES``) or "total" (the limiter of ``TotalFailures``)."""
    limits: dict = {
        "person": {},
        "source": {"max_failures": SOURCE_MAX_FAILURES},
        "network": {"max_failures": NETWORK_MAX_FAILURES},
        # One lock step of a whole minute, so a full minute stays locked to its end; a minute's
        # key is not used after its minute, so Redis may forget it two minutes on.
        "total": {"max_failures": TOTAL_FAILURES_PER_MINUTE,
                  "lockout_seconds": (TotalFailures.WINDOW_SECONDS,),
                  "forget_after": 2 * TotalFailures.WINDOW_SECONDS},
    }[kind]
    if redis_url:
        prefix = "market:login:" if kind == "person" else f"market:{kind}:"
        return RedisLoginLimiter.from_url(redis_url, prefix=prefix, **limits)
    return DatabaseLoginLimiter(**limits)
