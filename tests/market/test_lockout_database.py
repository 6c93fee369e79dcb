"""The lock-out kept in the database (the default without ``REDIS_URL``): the same rules as the
other limiters, and a count that holds when many attempts arrive at once through several
connections, as they do from several workers and hosts."""

import asyncio
import secrets
from collections.abc import Callable

import pytest
from litestar import Litestar

from market.auth.limiter import DatabaseLoginLimiter, LoginLimiter, MemoryLoginLimiter, TotalFailures
from market.db import fetch
from tests.market.connections import separate_connections

pytestmark = pytest.mark.usefixtures("app")  # the app's start-up migrated the database


def a_key() -> str:
    return secrets.token_hex(32)  # what the callers pass: a keyed hash, 64 hex digits


def both(clock: Callable[[], float], **options: int) -> list[LoginLimiter]:
    """The limiter under test and the in-process one, which states the rules."""
    return [DatabaseLoginLimiter(clock=clock, **options), MemoryLoginLimiter(clock=clock, **options)]


async def test_the_rules_are_those_of_the_in_process_limiter() -> None:
    now = [1_800_000_000.0]
    for limiter in both(lambda: now[0]):
        key, waits = a_key(), []
        for _ in range(6):
            for _ in range(5):
                assert await limiter.acquire(key) is None
            waits.append(await limiter.acquire(key))
            assert await limiter.retry_after(key) == waits[-1]
            now[0] += waits[-1] + 1  # wait out the lock, then guess again
        assert waits == [60, 300, 900, 3600, 3600, 3600], type(limiter).__name__
        await limiter.reset(key)  # a success forgets everything
        assert await limiter.retry_after(key) is None
        for _ in range(5):
            assert await limiter.acquire(key) is None
        assert await limiter.acquire(key) == 60


async def test_a_long_quiet_spell_forgets_the_lock_history() -> None:
    now = [1_800_000_000.0]
    for limiter in both(lambda: now[0], forget_after=3600):
        key = a_key()
        for _ in range(5):
            await limiter.acquire(key)
        assert await limiter.acquire(key) == 60
        now[0] += 60 + 3601
        for _ in range(5):
            assert await limiter.acquire(key) is None
        assert await limiter.acquire(key) == 60  # the first step again, not the second


async def test_failures_recorded_without_acquire_count_too() -> None:
    """A PIN checked outside sign-in: ``retry_after`` first, ``record_failure`` when wrong."""
    now = [1_800_000_000.0]
    for limiter in both(lambda: now[0]):
        key = a_key()
        for _ in range(4):
            await limiter.record_failure(key)
        assert await limiter.retry_after(key) is None
        await limiter.record_failure(key)
        assert await limiter.retry_after(key) == 60
        await limiter.record_failure(key)  # counted even while locked, as before
        assert await limiter.acquire(key) == 60


async def test_the_row_holds_the_opaque_key_only() -> None:
    limiter, key = DatabaseLoginLimiter(), a_key()
    await limiter.acquire(key)
    rows = await fetch("SELECT * FROM login_limit WHERE login_key = {}", key)
    assert len(rows) == 1 and set(dict(rows[0])) == {
        "login_key", "failures", "lockouts", "locked_until_ms", "last_seen_ms", "admitted"}
    await limiter.reset(key)
    assert await fetch("SELECT * FROM login_limit WHERE login_key = {}", key) == []


async def test_quiet_keys_are_pruned_but_locks_are_kept() -> None:
    now = [1_900_000_000.0]
    limiter = DatabaseLoginLimiter(clock=lambda: now[0], forget_after=3600)
    quiet, locked = a_key(), a_key()
    await limiter.acquire(quiet)
    for _ in range(5):
        await limiter.acquire(locked)
    now[0] += 3601  # the quiet key is forgotten; the lock (60 s) is long over too ...
    await limiter.acquire(locked)  # ... but this key guesses again, so it is not quiet
    assert await limiter.prune() >= 1
    assert await fetch("SELECT 1 FROM login_limit WHERE login_key = {}", quiet) == []
    assert len(await fetch("SELECT 1 FROM login_limit WHERE login_key = {}", locked)) == 1


async def test_the_total_is_a_window_of_a_clock_minute() -> None:
    """Failures of the whole installation: refused once a minute's are at the limit, until the
    next minute, which starts from nothing; ``retry_after`` counts nothing."""
    now = [0.0]

    def clock() -> float:
        return now[0]

    for limiter in (DatabaseLoginLimiter(max_failures=3, lockout_seconds=(60,), clock=clock),
                    MemoryLoginLimiter(max_failures=3, lockout_seconds=(60,), clock=clock)):
        minute = 60 * (31_000_000 + secrets.randbelow(10**6))  # a minute no other test counts in
        total = TotalFailures(limiter, clock=clock)
        now[0] = minute + 0.5
        for _ in range(3):
            assert await total.retry_after() is None
            await total.record_failure()
        assert await total.retry_after() == 60  # the seconds to the next minute, rounded up
        now[0] = minute + 59.5
        assert await total.retry_after() == 1
        now[0] = minute + 60
        assert await total.retry_after() is None
        for _ in range(2):
            await total.record_failure()
        assert await total.retry_after() is None
        now[0] = minute + 119
        await total.record_failure()
        assert await total.retry_after() == 1, type(limiter).__name__


async def test_past_minutes_of_the_total_are_pruned() -> None:
    """Each minute with failures leaves a row; the hourly housekeeping's prune (the person
    limiter's, with its day) takes it with every other quiet key, so they do not pile up."""
    minute = 60 * (32_000_000 + secrets.randbelow(10**6))
    now = [minute + 1.0]
    total = TotalFailures(DatabaseLoginLimiter(max_failures=3, lockout_seconds=(60,),
                                               clock=lambda: now[0]), clock=lambda: now[0])
    for _ in range(3):
        await total.record_failure()
    key = f"total:{minute // 60}"
    assert len(await fetch("SELECT 1 FROM login_limit WHERE login_key = {}", key)) == 1
    now[0] += 24 * 3600 + 61
    assert await DatabaseLoginLimiter(clock=lambda: now[0]).prune() >= 1
    assert await fetch("SELECT 1 FROM login_limit WHERE login_key = {}", key) == []


async def attempts_at_once(count: int, connections: int, key: str, now: Callable[[], float]) -> list:
    """``count`` concurrent attempts on ``key``, spread over limiters on their own connections."""
    async with separate_connections(connections) as fetches:
        limiters = [DatabaseLoginLimiter(clock=now, fetch=f) for f in fetches]
        return await asyncio.gather(*(
            limiters[n % connections].acquire(key) for n in range(count)
        ))


async def test_the_race_is_real_for_a_count_read_then_written() -> None:
    """The control: counting by a read and then a write, the same burst lets far more than
    five guesses through. So the harness does run attempts side by side, and it is the one
    guarded statement that holds the line in the test below."""
    key, admitted = a_key(), []
    async with separate_connections(8) as fetches:
        async def read_then_write(f: Callable) -> None:
            rows = await f("SELECT failures, locked_until_ms FROM login_limit WHERE login_key = {}", key)
            if rows and rows[0]["locked_until_ms"] > 0:
                return
            failures = (rows[0]["failures"] if rows else 0) + 1
            await f("INSERT INTO login_limit (login_key, failures, locked_until_ms, last_seen_ms)"
                    " VALUES ({}, {}, {}, 0) ON CONFLICT (login_key) DO UPDATE SET"
                    " failures = excluded.failures, locked_until_ms = excluded.locked_until_ms",
                    key, failures, 1 if failures >= 5 else 0)
            admitted.append(key)

        await asyncio.gather(*(read_then_write(fetches[n % 8]) for n in range(300)))
    assert len(admitted) > 5


async def test_concurrent_attempts_from_many_connections_never_exceed_the_limit() -> None:
    now = [1_900_000_000.0]
    key = a_key()
    for burst in range(3):
        answers = await attempts_at_once(300, 8, key, lambda: now[0])
        admitted = [a for a in answers if a is None]
        assert len(admitted) == 5, (burst, len(admitted))
        # Everyone else was told to wait for this burst's lock: 60 s, then 300 s, then 900 s.
        assert {a for a in answers if a is not None} == {(60, 300, 900)[burst]}
        now[0] += (60, 300, 900)[burst] + 1


async def test_concurrent_first_attempts_on_new_keys_count_each_once() -> None:
    """Many workers inserting the same new key at once: one insert, the rest update it."""
    keys = [a_key() for _ in range(20)]
    async with separate_connections(6) as fetches:
        limiters = [DatabaseLoginLimiter(fetch=f) for f in fetches]
        answers = await asyncio.gather(*(
            limiters[n % 6].acquire(keys[n % 20]) for n in range(20 * 6)
        ))
    assert answers.count(None) == 20 * 5
    rows = await fetch("SELECT login_key, lockouts FROM login_limit WHERE login_key IN ("
                       + ", ".join("{}" for _ in keys) + ")", *keys)
    assert {row["login_key"]: row["lockouts"] for row in rows} == dict.fromkeys(keys, 1)


async def test_without_redis_the_app_counts_in_the_database(app: Litestar) -> None:
    assert isinstance(app.state.limiter, DatabaseLoginLimiter)
